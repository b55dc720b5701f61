package callengine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxcall/mxcall/callengine/calltest"
)

// lastMetadata returns the sdp_stream_metadata of the last m.call.negotiate
// that from sent.
func lastMetadata(t *testing.T, r *room, from string) map[string]StreamMetadata {
	t.Helper()
	evs := r.eventsOfType(EventNegotiate)
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Sender != from {
			continue
		}
		c, err := ParseContent(evs[i].Type, evs[i].Content)
		if err != nil {
			t.Fatal(err)
		}
		return c.(*Negotiate).StreamMetadata
	}
	t.Fatalf("%s sent no negotiate", from)
	return nil
}

// purposes lists a metadata map as sorted "stream=purpose" pairs joined by
// spaces.
func purposes(m map[string]StreamMetadata) string {
	var out []string
	for id, s := range m {
		out = append(out, id+"="+s.Purpose)
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

// quiet checks that get stops growing: after a settling pause, at most
// two more in the next 300 ms (packets in flight).
func quiet(t *testing.T, what string, get func() int64) {
	t.Helper()
	time.Sleep(200 * time.Millisecond)
	before := get()
	time.Sleep(300 * time.Millisecond)
	if n := get() - before; n > 2 {
		t.Errorf("%s: %d more packets", what, n)
	}
}

// TestScreenshareStartStopStart shares alice's screen to bob three times:
// bob gets a video track with purpose m.screenshare whose packets flow
// while the camera's keep flowing, sees the share end (RemoteScreenshare
// false, its track ended) with the call still up, and gets it again. The
// SDP does not grow with each share: a stopped share's transceiver is used
// again.
func TestScreenshareStartStopStart(t *testing.T) {
	guard(t)
	ctx := context.Background()
	r := newRoom("!r:test")
	alice, bob := r.join(t, "@alice:test"), r.join(t, "@bob:test")
	am, bm := newTestMedia(t, "a"), newTestMedia(t, "b")
	id := connect(t, r, alice, bob, am, bm)
	bob.waitVideo(id, 10)
	share := bob.purposeCount(id, PurposeScreenshare, "video")
	camera := bob.purposeCount(id, PurposeUserMedia, "video")

	for round := int64(1); round <= 3; round++ {
		stream := "a-screen"
		if round == 2 {
			stream = "a-screen-2" // a new capture, a new stream
		}
		screen := calltest.NewTracks(t, stream)
		mark := bob.mark()
		if err := alice.eng.StartScreenshare(ctx, id, screen.Video); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if got, _ := alice.eng.Call(id); !got.Screensharing {
			t.Errorf("round %d: alice's CallInfo does not say she shares", round)
		}
		bob.waitAfter(mark, "remote screenshare", func(ci CallInfo) bool { return ci.RemoteScreenshare })
		bob.waitCount("screenshare tracks", share.tracks.Load, round)
		bob.waitPurposePackets(id, PurposeScreenshare, "video", 30)
		bob.waitPurposePackets(id, PurposeUserMedia, "video", 30)
		want := purposes(map[string]StreamMetadata{"a": {Purpose: PurposeUserMedia}, stream: {Purpose: PurposeScreenshare}})
		if got := purposes(lastMetadata(t, r, alice.userID)); got != want {
			t.Errorf("round %d: alice's metadata %q, want %q", round, got, want)
		}
		if err := alice.eng.StartScreenshare(ctx, id, screen.Video); !errors.Is(err, ErrWrongState) {
			t.Errorf("round %d: second share: %v, want ErrWrongState", round, err)
		}

		mark = bob.mark()
		if err := alice.eng.StopScreenshare(ctx, id); err != nil {
			t.Fatalf("round %d: stop: %v", round, err)
		}
		bob.waitAfter(mark, "remote screenshare ended", func(ci CallInfo) bool { return !ci.RemoteScreenshare })
		bob.waitCount("ended screenshare tracks", share.ended.Load, round)
		if got := purposes(lastMetadata(t, r, alice.userID)); got != "a=m.usermedia" {
			t.Errorf("round %d: alice's metadata after stopping %q", round, got)
		}
		quiet(t, "share after stopping", share.packets.Load)
		bob.waitPurposePackets(id, PurposeUserMedia, "video", 30)
		for _, m := range []*member{alice, bob} {
			if inf, _ := m.eng.Call(id); inf.State != StateConnected || inf.Screensharing || inf.RemoteScreenshare {
				t.Fatalf("round %d: %s: %+v", round, m.userID, inf)
			}
		}
		screen.Close()
	}
	if err := alice.eng.StopScreenshare(ctx, id); err != nil {
		t.Errorf("stopping without a share: %v", err)
	}
	if n := camera.tracks.Load(); n != 1 {
		t.Errorf("bob got %d camera tracks, want 1 (the camera never stopped)", n)
	}
	if n := len(sdpDirections(lastOffer(t, r, alice.userID))); n > 3 {
		t.Errorf("alice's last offer has %d media sections, want at most 3 (audio, camera, share)", n)
	}
}

// lastOffer returns the SDP of the last negotiate offer that from sent.
func lastOffer(t *testing.T, r *room, from string) string {
	t.Helper()
	evs := r.eventsOfType(EventNegotiate)
	for i := len(evs) - 1; i >= 0; i-- {
		c, err := ParseContent(evs[i].Type, evs[i].Content)
		if err != nil {
			t.Fatal(err)
		}
		if d := c.(*Negotiate).Description; evs[i].Sender == from && d.Type == "offer" {
			return d.SDP
		}
	}
	t.Fatalf("%s sent no offer", from)
	return ""
}

// TestScreenshareByCallee: the callee (the polite side) shares too.
func TestScreenshareByCallee(t *testing.T) {
	guard(t)
	ctx := context.Background()
	r := newRoom("!r:test")
	alice, bob := r.join(t, "@alice:test"), r.join(t, "@bob:test")
	am, bm := newTestMedia(t, "a"), newTestMedia(t, "b")
	id := connect(t, r, alice, bob, am, bm)
	screen := calltest.NewTracks(t, "b-screen")
	if err := bob.eng.StartScreenshare(ctx, id, screen.Video); err != nil {
		t.Fatal(err)
	}
	alice.waitFor("remote screenshare", func(ci CallInfo) bool { return ci.RemoteScreenshare })
	alice.waitPurposePackets(id, PurposeScreenshare, "video", 30)
	alice.waitPurposePackets(id, PurposeUserMedia, "video", 30)
}

// TestScreenshareMuteCamera: muting the camera while sharing mutes the
// camera only, and unmuting it brings it back; the share keeps flowing.
func TestScreenshareMuteCamera(t *testing.T) {
	guard(t)
	ctx := context.Background()
	r := newRoom("!r:test")
	alice, bob := r.join(t, "@alice:test"), r.join(t, "@bob:test")
	am, bm := newTestMedia(t, "a"), newTestMedia(t, "b")
	id := connect(t, r, alice, bob, am, bm)
	screen := calltest.NewTracks(t, "a-screen")
	if err := alice.eng.StartScreenshare(ctx, id, screen.Video); err != nil {
		t.Fatal(err)
	}
	bob.waitPurposePackets(id, PurposeScreenshare, "video", 30)
	share := bob.purposeCount(id, PurposeScreenshare, "video")
	camera := bob.purposeCount(id, PurposeUserMedia, "video")

	if err := alice.eng.SetVideoMuted(ctx, id, true); err != nil {
		t.Fatal(err)
	}
	bob.waitFor("remote camera muted", func(ci CallInfo) bool { return ci.RemoteVideoMuted && ci.RemoteScreenshare })
	quiet(t, "camera while muted", camera.packets.Load)
	bob.waitPurposePackets(id, PurposeScreenshare, "video", 30)
	if meta := lastMetadataChanged(t, r, alice.userID); !meta["a"].VideoMuted || meta["a-screen"].Purpose != PurposeScreenshare || meta["a-screen"].VideoMuted {
		t.Errorf("metadata after muting the camera: %+v", meta)
	}

	mark := bob.mark()
	if err := alice.eng.SetVideoMuted(ctx, id, false); err != nil {
		t.Fatal(err)
	}
	bob.waitAfter(mark, "remote camera unmuted", func(ci CallInfo) bool { return !ci.RemoteVideoMuted && ci.RemoteScreenshare })
	bob.waitPurposePackets(id, PurposeUserMedia, "video", 30)
	bob.waitPurposePackets(id, PurposeScreenshare, "video", 30)
	if share.tracks.Load() != 1 || share.ended.Load() != 0 {
		t.Errorf("share tracks %d, ended %d; want 1, 0", share.tracks.Load(), share.ended.Load())
	}
}

// lastMetadataChanged returns the metadata of the last
// m.call.sdp_stream_metadata_changed that from sent.
func lastMetadataChanged(t *testing.T, r *room, from string) map[string]StreamMetadata {
	t.Helper()
	evs := r.eventsOfType(EventSDPStreamMetadataChanged)
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Sender != from {
			continue
		}
		c, err := ParseContent(evs[i].Type, evs[i].Content)
		if err != nil {
			t.Fatal(err)
		}
		return c.(*StreamMetadataChanged).StreamMetadata
	}
	t.Fatalf("%s sent no metadata change", from)
	return nil
}

// TestScreenshareHold: holding while sharing holds the camera and the
// share (every section sendonly, nothing flows), resuming resumes both;
// being held stops the share too.
func TestScreenshareHold(t *testing.T) {
	guard(t)
	ctx := context.Background()
	r := newRoom("!r:test")
	alice, bob := r.join(t, "@alice:test"), r.join(t, "@bob:test")
	am, bm := newTestMedia(t, "a"), newTestMedia(t, "b")
	id := connect(t, r, alice, bob, am, bm)
	screen := calltest.NewTracks(t, "a-screen")
	if err := alice.eng.StartScreenshare(ctx, id, screen.Video); err != nil {
		t.Fatal(err)
	}
	bob.waitPurposePackets(id, PurposeScreenshare, "video", 30)
	waitEvents(t, r, EventNegotiate, 2)
	share := bob.purposeCount(id, PurposeScreenshare, "video")

	// The holder's offer: audio and camera sendonly, and the share's
	// section sendonly from alice, who sends on it, inactive from bob.
	for _, step := range []struct {
		holder, held *member
		offer        string
	}{
		{alice, bob, "sendonly sendonly sendonly"},
		{bob, alice, "sendonly sendonly inactive"},
	} {
		holder, held := step.holder, step.held
		n := len(r.eventsOfType(EventNegotiate))
		if err := holder.eng.SetHold(ctx, id, true); err != nil {
			t.Fatal(err)
		}
		held.waitFor("held", func(ci CallInfo) bool { return ci.RemoteOnHold })
		waitEvents(t, r, EventNegotiate, n+2)
		if typ, dirs := negotiateDirs(t, r, n); typ != "offer" || dirs != step.offer {
			t.Errorf("%s's hold: %s %s, want an offer %s", holder.userID, typ, dirs, step.offer)
		}
		quiet(t, "bob's packets from alice while on hold", func() int64 { return bob.packets(id) })
		if inf, _ := bob.eng.Call(id); !inf.RemoteScreenshare {
			t.Error("the share is gone while on hold")
		}
		mark := held.mark()
		if err := holder.eng.SetHold(ctx, id, false); err != nil {
			t.Fatal(err)
		}
		held.waitAfter(mark, "resumed", func(ci CallInfo) bool { return !ci.RemoteOnHold })
		bob.waitPurposePackets(id, PurposeScreenshare, "video", 30)
		bob.waitPurposePackets(id, PurposeUserMedia, "video", 30)
	}
	if inf, _ := alice.eng.Call(id); inf.State != StateConnected || !inf.Screensharing {
		t.Errorf("alice: %+v", inf)
	}
	t.Logf("share tracks at bob: %d (%d ended)", share.tracks.Load(), share.ended.Load())
}

// negotiateDirs returns the type and the section directions of the i-th
// m.call.negotiate sent.
func negotiateDirs(t *testing.T, r *room, i int) (typ, dirs string) {
	t.Helper()
	ev := r.eventsOfType(EventNegotiate)[i]
	c, err := ParseContent(ev.Type, ev.Content)
	if err != nil {
		t.Fatal(err)
	}
	d := c.(*Negotiate).Description
	secs, _ := mediaSections(sdpLines(d.SDP))
	var ds []string
	for _, m := range secs {
		ds = append(ds, m.dir.String())
	}
	return d.Type, strings.Join(ds, " ")
}

// TestScreenshareErrors covers the arguments and states StartScreenshare
// refuses.
func TestScreenshareErrors(t *testing.T) {
	guard(t)
	ctx := context.Background()
	r := newRoom("!r:test")
	alice, bob := r.join(t, "@alice:test"), r.join(t, "@bob:test")
	am, bm := newTestMedia(t, "a"), newTestMedia(t, "b")
	screen := calltest.NewTracks(t, "a-screen")
	if err := alice.eng.StartScreenshare(ctx, "nosuchcall", screen.Video); !errors.Is(err, ErrNoSuchCall) {
		t.Errorf("unknown call: %v", err)
	}
	id, err := alice.eng.PlaceCall(ctx, r.id, bob.userID, true, am.Media)
	if err != nil {
		t.Fatal(err)
	}
	bob.ringing()
	if err := alice.eng.StartScreenshare(ctx, id, screen.Video); !errors.Is(err, ErrWrongState) {
		t.Errorf("sharing before the answer: %v", err)
	}
	if err := bob.eng.Answer(ctx, id, true, bm.Media); err != nil {
		t.Fatal(err)
	}
	alice.waitState(id, StateConnected)
	for name, tr := range map[string]struct{ err error }{
		"nil track":   {alice.eng.StartScreenshare(ctx, id, nil)},
		"audio track": {alice.eng.StartScreenshare(ctx, id, screen.Audio)},
		"same stream": {alice.eng.StartScreenshare(ctx, id, am.Video)},
	} {
		if !errors.Is(tr.err, ErrInvalidArgument) {
			t.Errorf("%s: %v, want ErrInvalidArgument", name, tr.err)
		}
	}
	if err := alice.eng.Hangup(ctx, id); err != nil {
		t.Fatal(err)
	}
	alice.waitState(id, StateEnded)
	if err := alice.eng.StartScreenshare(ctx, id, screen.Video); !errors.Is(err, ErrWrongState) {
		t.Errorf("sharing in an ended call: %v", err)
	}
	if err := alice.eng.StopScreenshare(ctx, id); !errors.Is(err, ErrWrongState) {
		t.Errorf("stopping in an ended call: %v", err)
	}
}

// TestScreenshareCrossingOffers: both sides start sharing at once, their
// offers crossing (glare), and stop at once, twice. The callee (polite)
// drops its offer and answers the caller's (its share goes in the answer,
// on the same transceiver); both shares arrive and end. Then each shares
// alone on the transceivers the crossings left behind.
func TestScreenshareCrossingOffers(t *testing.T) {
	guard(t)
	ctx := context.Background()
	r := newRoom("!r:test")
	alice, bob := r.join(t, "@alice:test"), r.join(t, "@bob:test")
	am, bm := newTestMedia(t, "a"), newTestMedia(t, "b")
	id := connect(t, r, alice, bob, am, bm)
	for round := int64(1); round <= 2; round++ {
		as, bs := calltest.NewTracks(t, "a-screen"), calltest.NewTracks(t, "b-screen")
		n := len(r.eventsOfType(EventNegotiate))
		r.pause()
		if err := alice.eng.StartScreenshare(ctx, id, as.Video); err != nil {
			t.Fatal(err)
		}
		if err := bob.eng.StartScreenshare(ctx, id, bs.Video); err != nil {
			t.Fatal(err)
		}
		waitEvents(t, r, EventNegotiate, n+2)
		r.resume()
		alice.waitFor("bob's share", func(ci CallInfo) bool { return ci.RemoteScreenshare })
		bob.waitFor("alice's share", func(ci CallInfo) bool { return ci.RemoteScreenshare })
		alice.waitCount("bob's share tracks", alice.purposeCount(id, PurposeScreenshare, "video").tracks.Load, round)
		bob.waitCount("alice's share tracks", bob.purposeCount(id, PurposeScreenshare, "video").tracks.Load, round)
		alice.waitPurposePackets(id, PurposeScreenshare, "video", 30)
		bob.waitPurposePackets(id, PurposeScreenshare, "video", 30)

		for _, m := range []*member{alice, bob} {
			if err := m.eng.StopScreenshare(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
		alice.waitCount("bob's ended share tracks", alice.purposeCount(id, PurposeScreenshare, "video").ended.Load, round)
		bob.waitCount("alice's ended share tracks", bob.purposeCount(id, PurposeScreenshare, "video").ended.Load, round)
		for _, m := range []*member{alice, bob} {
			m.waitFor("no share", func(ci CallInfo) bool { return !ci.RemoteScreenshare && !ci.Screensharing })
		}
		as.Close()
		bs.Close()
	}
	// Then each alone, on the transceivers the crossing left behind.
	for i, pair := range [][2]*member{{alice, bob}, {bob, alice}} {
		sharer, viewer := pair[0], pair[1]
		tr := calltest.NewTracks(t, fmt.Sprintf("screen-alone-%d", i))
		if err := sharer.eng.StartScreenshare(ctx, id, tr.Video); err != nil {
			t.Fatal(err)
		}
		viewer.waitFor(sharer.userID+"'s share alone", func(ci CallInfo) bool { return ci.RemoteScreenshare })
		viewer.waitCount(sharer.userID+"'s share tracks", viewer.purposeCount(id, PurposeScreenshare, "video").tracks.Load, 3)
		viewer.waitPurposePackets(id, PurposeScreenshare, "video", 30)
		if err := sharer.eng.StopScreenshare(ctx, id); err != nil {
			t.Fatal(err)
		}
		viewer.waitCount(sharer.userID+"'s ended share tracks", viewer.purposeCount(id, PurposeScreenshare, "video").ended.Load, 3)
		tr.Close()
	}
}
