package callengine

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"
)

// connect places a call from a to b and waits until both are connected.
func connect(t *testing.T, r *room, a, b *member, am, bm *testMedia) string {
	t.Helper()
	return connectWith(t, r, a, b, true, am.Media, bm.Media)
}

// connectVoice is connect for a voice call (audio tracks only).
func connectVoice(t *testing.T, r *room, a, b *member, am, bm *testMedia) string {
	t.Helper()
	return connectWith(t, r, a, b, false, Media{Audio: am.Audio}, Media{Audio: bm.Audio})
}

// connectWith has a call b with the given media, b answer, and both reach
// connected; it returns the call ID.
func connectWith(t *testing.T, r *room, a, b *member, video bool, am, bm Media) string {
	t.Helper()
	ctx := context.Background()
	id, err := a.eng.PlaceCall(ctx, r.id, b.userID, video, am)
	if err != nil {
		t.Fatal(err)
	}
	b.ringing()
	if err := b.eng.Answer(ctx, id, video, bm); err != nil {
		t.Fatal(err)
	}
	a.waitState(id, StateConnected)
	b.waitState(id, StateConnected)
	return id
}

func TestReject(t *testing.T) {
	guard(t)
	ctx := context.Background()
	r := newRoom("!r:test")
	alice, bob := r.join(t, "@alice:test"), r.join(t, "@bob:test")
	am := newTestMedia(t, "a")
	id, err := alice.eng.PlaceCall(ctx, r.id, bob.userID, false, Media{Audio: am.Audio})
	if err != nil {
		t.Fatal(err)
	}
	if ring := bob.ringing(); ring.Video {
		t.Error("voice call rings as video")
	}
	if err := bob.eng.Reject(ctx, id); err != nil {
		t.Fatal(err)
	}
	if got := alice.waitState(id, StateEnded); got.EndReason != ReasonRejected || got.EndedBy != PartyRemote {
		t.Errorf("caller ended with %s/%s", got.EndedBy, got.EndReason)
	}
	if got := bob.waitState(id, StateEnded); got.EndReason != ReasonRejected || got.EndedBy != PartyLocal {
		t.Errorf("callee ended with %s/%s", got.EndedBy, got.EndReason)
	}
	if n := len(r.eventsOfType(EventReject)); n != 1 {
		t.Errorf("%d reject events", n)
	}
}

func TestInviteTimeout(t *testing.T) {
	guard(t)
	ctx := context.Background()
	r := newRoom("!r:test")
	alice := r.join(t, "@alice:test", WithInviteLifetime(1500*time.Millisecond))
	bob := r.join(t, "@bob:test", WithMinRingTime(100*time.Millisecond))
	am := newTestMedia(t, "a")
	id, err := alice.eng.PlaceCall(ctx, r.id, bob.userID, true, am.Media)
	if err != nil {
		t.Fatal(err)
	}
	bob.ringing()
	if got := alice.waitState(id, StateEnded); got.EndReason != ReasonInviteTimeout || got.EndedBy != PartyLocal {
		t.Errorf("caller ended with %s/%s", got.EndedBy, got.EndReason)
	}
	if got := bob.waitState(id, StateEnded); got.EndReason != ReasonInviteTimeout {
		t.Errorf("callee ended with %s/%s", got.EndedBy, got.EndReason)
	}
	hs := r.eventsOfType(EventHangup)
	if len(hs) != 1 || !strings.Contains(string(hs[0].Content), `"invite_timeout"`) {
		t.Errorf("hangups: %v", hs)
	}
}

func TestAnsweredElsewhereStopsSecondDevice(t *testing.T) {
	guard(t)
	ctx := context.Background()
	r := newRoom("!r:test")
	alice := r.join(t, "@alice:test")
	bob1 := r.join(t, "@bob:test")
	bob2 := r.join(t, "@bob:test")
	am, bm := newTestMedia(t, "a"), newTestMedia(t, "b")
	id, err := alice.eng.PlaceCall(ctx, r.id, bob1.userID, true, am.Media)
	if err != nil {
		t.Fatal(err)
	}
	bob1.ringing()
	bob2.ringing()
	if err := bob1.eng.Answer(ctx, id, true, bm.Media); err != nil {
		t.Fatal(err)
	}
	if got := bob2.waitState(id, StateEnded); got.EndReason != ReasonAnsweredElsewhere {
		t.Errorf("second device ended with %s/%s", got.EndedBy, got.EndReason)
	}
	alice.waitState(id, StateConnected)
	bob1.waitState(id, StateConnected)
	alice.waitPackets(id, 10)
	bob1.waitPackets(id, 10)
	if bob2.packets(id) != 0 {
		t.Error("second device got media")
	}
	sel := r.eventsOfType(EventSelectAnswer)
	if len(sel) != 1 || !strings.Contains(string(sel[0].Content), bob1.eng.PartyID()) {
		t.Errorf("select_answer: %v", sel)
	}
}

func TestSelectAnswerForOtherDeviceEndsLateAnswer(t *testing.T) {
	guard(t)
	ctx := context.Background()
	r := newRoom("!r:test")
	alice := r.join(t, "@alice:test")
	bob1, bob2 := r.join(t, "@bob:test"), r.join(t, "@bob:test")
	am, b1, b2 := newTestMedia(t, "a"), newTestMedia(t, "b1"), newTestMedia(t, "b2")
	id, err := alice.eng.PlaceCall(ctx, r.id, bob1.userID, true, am.Media)
	if err != nil {
		t.Fatal(err)
	}
	bob1.ringing()
	bob2.ringing()
	// Both answer before seeing each other's answer.
	r.pause()
	if err := bob1.eng.Answer(ctx, id, true, b1.Media); err != nil {
		t.Fatal(err)
	}
	if err := bob2.eng.Answer(ctx, id, true, b2.Media); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond) // let both answers be sent
	r.resume()
	alice.waitState(id, StateConnected)
	ends := 0
	for _, b := range []*member{bob1, bob2} {
		b.waitFor("connected or ended", func(ci CallInfo) bool {
			return ci.State == StateConnected || ci.State == StateEnded
		})
	}
	for _, b := range []*member{bob1, bob2} {
		if b.sawState(StateEnded) {
			ends++
			if got := b.waitState(id, StateEnded); got.EndReason != ReasonAnsweredElsewhere {
				t.Errorf("loser ended with %s", got.EndReason)
			}
		}
	}
	if ends != 1 {
		t.Errorf("%d devices ended, want exactly 1", ends)
	}
}

func TestStaleInviteNeverRings(t *testing.T) {
	guard(t)
	r := newRoom("!r:test")
	bob := r.join(t, "@bob:test")
	invite := func(callID string, age time.Duration) RoomEvent {
		raw, _ := json.Marshal(&Invite{
			Base:     Base{CallID: callID, PartyID: "ALICEDEVICE", Version: Version1},
			Offer:    SessionDescription{Type: "offer", SDP: "v=0\r\n"},
			Lifetime: 60000,
		})
		return RoomEvent{RoomID: r.id, Sender: "@alice:test", Type: EventInvite, Content: raw, Age: age, Received: time.Now()}
	}
	ctx := context.Background()
	bob.eng.HandleEvents(ctx, []RoomEvent{invite("stale1", 58*time.Second)})
	bob.eng.HandleEvents(ctx, []RoomEvent{invite("stale2", 2*time.Hour)})
	// Fresh, but the same batch already hangs it up.
	hangup, _ := json.Marshal(&Hangup{Base: Base{CallID: "settled", PartyID: "ALICEDEVICE", Version: Version1}})
	bob.eng.HandleEvents(ctx, []RoomEvent{invite("settled", 0), {RoomID: r.id, Sender: "@alice:test", Type: EventHangup, Content: hangup}})
	// And the same invite seen again later does not ring either.
	bob.eng.HandleEvents(ctx, []RoomEvent{invite("settled", 0)})
	time.Sleep(200 * time.Millisecond)
	if bob.sawState(StateRinging) {
		t.Fatalf("a stale or settled invite rang: %s", bob.summary())
	}
	if _, ok := bob.eng.Active(); ok {
		t.Fatal("engine has an active call")
	}
}

func TestInviteForSomeoneElseIgnored(t *testing.T) {
	guard(t)
	ctx := context.Background()
	r := newRoom("!r:test")
	alice, bob, carol := r.join(t, "@alice:test"), r.join(t, "@bob:test"), r.join(t, "@carol:test")
	am := newTestMedia(t, "a")
	if _, err := alice.eng.PlaceCall(ctx, r.id, bob.userID, true, am.Media); err != nil {
		t.Fatal(err)
	}
	bob.ringing()
	time.Sleep(100 * time.Millisecond)
	if carol.sawState(StateRinging) {
		t.Fatal("carol rang for an invite addressed to bob")
	}
}

func TestBusyGetsUserBusy(t *testing.T) {
	guard(t)
	ctx := context.Background()
	r := newRoom("!r:test")
	r2 := newRoom("!r2:test")
	alice, bob := r.join(t, "@alice:test"), r.join(t, "@bob:test")
	carol := r2.join(t, "@carol:test")
	// bob's engine also listens to room 2.
	bob.alsoIn(r2)
	am, bm, cm := newTestMedia(t, "a"), newTestMedia(t, "b"), newTestMedia(t, "c")
	connect(t, r, alice, bob, am, bm)
	id2, err := carol.eng.PlaceCall(ctx, r2.id, bob.userID, true, cm.Media)
	if err != nil {
		t.Fatal(err)
	}
	if got := carol.waitState(id2, StateEnded); got.EndReason != ReasonUserBusy || got.EndedBy != PartyRemote {
		t.Errorf("carol's call ended with %s/%s", got.EndedBy, got.EndReason)
	}
	if _, err := bob.eng.PlaceCall(ctx, r.id, alice.userID, false, Media{}); err == nil {
		t.Error("second outgoing call allowed while busy")
	}
}

func TestMuteMetadataSeenByPeer(t *testing.T) {
	guard(t)
	ctx := context.Background()
	r := newRoom("!r:test")
	alice, bob := r.join(t, "@alice:test"), r.join(t, "@bob:test")
	am, bm := newTestMedia(t, "a"), newTestMedia(t, "b")
	id := connect(t, r, alice, bob, am, bm)
	if err := alice.eng.SetAudioMuted(ctx, id, true); err != nil {
		t.Fatal(err)
	}
	bob.waitFor("remote audio muted", func(ci CallInfo) bool { return ci.RemoteAudioMuted && !ci.RemoteVideoMuted })
	if err := bob.eng.SetVideoMuted(ctx, id, true); err != nil {
		t.Fatal(err)
	}
	alice.waitFor("remote video muted", func(ci CallInfo) bool { return ci.RemoteVideoMuted })
	// Mark before unmuting: bob may see the change before SetAudioMuted
	// returns to us.
	mark := bob.mark()
	if err := alice.eng.SetAudioMuted(ctx, id, false); err != nil {
		t.Fatal(err)
	}
	bob.waitAfter(mark, "remote audio unmuted", func(ci CallInfo) bool { return !ci.RemoteAudioMuted })
	if got, _ := alice.eng.Call(id); got.AudioMuted {
		t.Error("alice still muted")
	}
}

func TestHoldAndResume(t *testing.T) {
	guard(t)
	ctx := context.Background()
	r := newRoom("!r:test")
	alice, bob := r.join(t, "@alice:test"), r.join(t, "@bob:test")
	am, bm := newTestMedia(t, "a"), newTestMedia(t, "b")
	id := connect(t, r, alice, bob, am, bm)
	bob.waitPackets(id, 10)
	if err := alice.eng.SetHold(ctx, id, true); err != nil {
		t.Fatal(err)
	}
	bob.waitFor("remote on hold", func(ci CallInfo) bool { return ci.RemoteOnHold && !ci.OnHold })
	// RFC 3264 §8.4, as Element: the holder offers sendonly, the held
	// side answers recvonly.
	waitEvents(t, r, EventNegotiate, 2)
	checkNegotiations(t, r, "offer sendonly sendonly", "answer recvonly recvonly")
	time.Sleep(200 * time.Millisecond)
	before := bob.packets(id)
	time.Sleep(300 * time.Millisecond)
	if got := bob.packets(id) - before; got > 2 {
		t.Errorf("bob got %d packets from alice while on hold", got)
	}
	if got, _ := alice.eng.Call(id); !got.OnHold || got.RemoteOnHold {
		t.Errorf("alice: OnHold %v RemoteOnHold %v", got.OnHold, got.RemoteOnHold)
	}
	mark := bob.mark() // before: bob may see the resume before SetHold returns
	if err := alice.eng.SetHold(ctx, id, false); err != nil {
		t.Fatal(err)
	}
	bob.waitAfter(mark, "remote resumed", func(ci CallInfo) bool { return !ci.RemoteOnHold })
	bob.waitPackets(id, bob.packets(id)+10)
	alice.waitState(id, StateConnected)
	waitEvents(t, r, EventNegotiate, 4)
	checkNegotiations(t, r, "offer sendonly sendonly", "answer recvonly recvonly", "offer sendrecv sendrecv", "answer sendrecv sendrecv")
}

// TestBothHoldAndResume has each side hold the other, then resume, one
// after the other. While held, a hold offer is inactive (RFC 3264 §8.4),
// which pion would take as stopping the transceivers for good: media must
// flow both ways again after both resumed.
func TestBothHoldAndResume(t *testing.T) {
	guard(t)
	ctx := context.Background()
	r := newRoom("!r:test")
	alice, bob := r.join(t, "@alice:test"), r.join(t, "@bob:test")
	am, bm := newTestMedia(t, "a"), newTestMedia(t, "b")
	id := connect(t, r, alice, bob, am, bm)
	alice.waitPackets(id, 10)
	bob.waitPackets(id, 10)
	both := func(m *member, what string, onHold, remote bool) {
		t.Helper()
		m.waitFor(what, func(ci CallInfo) bool { return ci.OnHold == onHold && ci.RemoteOnHold == remote })
	}

	if err := alice.eng.SetHold(ctx, id, true); err != nil {
		t.Fatal(err)
	}
	both(bob, "held by alice", false, true)
	waitEvents(t, r, EventNegotiate, 2)
	if err := bob.eng.SetHold(ctx, id, true); err != nil {
		t.Fatal(err)
	}
	both(alice, "both hold", true, true)
	both(bob, "both hold", true, true)
	waitEvents(t, r, EventNegotiate, 4)

	if err := alice.eng.SetHold(ctx, id, false); err != nil {
		t.Fatal(err)
	}
	both(bob, "alice resumed", true, false)
	waitEvents(t, r, EventNegotiate, 6)
	if got, _ := alice.eng.Call(id); got.OnHold || !got.RemoteOnHold {
		t.Errorf("alice after resuming: OnHold %v RemoteOnHold %v, want false true", got.OnHold, got.RemoteOnHold)
	}
	if err := bob.eng.SetHold(ctx, id, false); err != nil {
		t.Fatal(err)
	}
	both(alice, "bob resumed", false, false)
	waitEvents(t, r, EventNegotiate, 8)
	checkNegotiations(t, r,
		"offer sendonly sendonly", "answer recvonly recvonly", // alice holds
		"offer inactive inactive", "answer inactive inactive", // bob holds too
		"offer sendrecv sendrecv", "answer sendonly sendonly", // alice resumes
		"offer sendrecv sendrecv", "answer sendrecv sendrecv") // bob resumes
	alice.waitPackets(id, alice.packets(id)+10)
	bob.waitPackets(id, bob.packets(id)+10)
	for _, m := range []*member{alice, bob} {
		if inf, _ := m.eng.Call(id); inf.State != StateConnected || inf.OnHold || inf.RemoteOnHold {
			t.Errorf("%s: %+v", m.userID, inf)
		}
	}
}

// checkNegotiations compares the m.call.negotiate events sent so far, as
// "type direction...", with want.
func checkNegotiations(t *testing.T, r *room, want ...string) {
	t.Helper()
	var got []string
	for _, ev := range r.eventsOfType(EventNegotiate) {
		c, err := ParseContent(ev.Type, ev.Content)
		if err != nil {
			t.Fatal(err)
		}
		d := c.(*Negotiate).Description
		s := d.Type
		secs, _ := mediaSections(sdpLines(d.SDP))
		for _, m := range secs {
			s += " " + m.dir.String()
		}
		got = append(got, s)
	}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("negotiations:\n got %q\nwant %q", got, want)
	}
}

func TestAddVideoToVoiceCall(t *testing.T) {
	guard(t)
	ctx := context.Background()
	r := newRoom("!r:test")
	alice, bob := r.join(t, "@alice:test"), r.join(t, "@bob:test")
	am, bm := newTestMedia(t, "a"), newTestMedia(t, "b")
	id := connectVoice(t, r, alice, bob, am, bm)
	bob.waitPackets(id, 10)
	if err := alice.eng.ReplaceTrack(ctx, id, am.Video); err != nil {
		t.Fatal(err)
	}
	bob.waitFor("video", func(ci CallInfo) bool { return ci.ID == id && ci.State == StateConnected })
	// Video packets arrive, on a remote track of their own (counting
	// them, not a packet rate: a rate is a wall-clock check that a loaded
	// machine fails).
	bob.waitVideo(id, 50)
	if len(r.eventsOfType(EventNegotiate)) < 2 {
		t.Error("no renegotiation offer/answer seen")
	}
}

// TestCrossingOffersHoldAndAddVideo has the caller put a voice call on hold
// while the callee adds video, with their offers crossing. The callee
// (polite) rolls its offer back and answers the caller's, then offers its
// video again; the caller's hold and the callee's video both take effect.
func TestCrossingOffersHoldAndAddVideo(t *testing.T) {
	guard(t)
	ctx := context.Background()
	r := newRoom("!r:test")
	alice, bob := r.join(t, "@alice:test"), r.join(t, "@bob:test")
	am, bm := newTestMedia(t, "a"), newTestMedia(t, "b")
	id := connectVoice(t, r, alice, bob, am, bm)
	alice.waitPackets(id, 10)

	r.pause()
	if err := alice.eng.SetHold(ctx, id, true); err != nil {
		t.Fatal(err)
	}
	if err := bob.eng.ReplaceTrack(ctx, id, bm.Video); err != nil {
		t.Fatal(err)
	}
	waitEvents(t, r, EventNegotiate, 2)
	r.resume()

	bob.waitFor("remote on hold", func(ci CallInfo) bool { return ci.RemoteOnHold })
	mark := bob.mark() // before: bob may see the resume before SetHold returns
	if err := alice.eng.SetHold(ctx, id, false); err != nil {
		t.Fatal(err)
	}
	bob.waitAfter(mark, "remote resumed", func(ci CallInfo) bool { return !ci.RemoteOnHold })
	// Bob's video reaches Alice (counted per kind; not a packet rate).
	alice.waitVideo(id, 50)
	t.Logf("negotiations: %+v", negotiations(t, r))
	for _, m := range []*member{alice, bob} {
		if inf, _ := m.eng.Call(id); inf.State != StateConnected {
			t.Errorf("%s: call is %s, want connected", m.userID, inf.State)
		}
	}
}

// waitEvents waits until the room has at least n events of type typ.
func waitEvents(t *testing.T, r *room, typ string, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); len(r.eventsOfType(typ)) < n; {
		if time.Now().After(deadline) {
			t.Fatalf("only %d %s events, want %d", len(r.eventsOfType(typ)), typ, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMalformedEventsAreDropped(t *testing.T) {
	guard(t)
	ctx := context.Background()
	r := newRoom("!r:test")
	alice, bob := r.join(t, "@alice:test"), r.join(t, "@bob:test")
	am, bm := newTestMedia(t, "a"), newTestMedia(t, "b")
	id := connect(t, r, alice, bob, am, bm)
	bad := []string{
		`{`, `[]`, `{"call_id":"` + id + `","party_id":"x y","version":"1"}`,
		`{"call_id":"` + id + `","party_id":"XXXXXXXX","version":"1","lifetime":"sixty"}`,
		`{"call_id":"` + id + `","party_id":"XXXXXXXX","version":"1","candidates":"nope"}`,
		`{"call_id":"` + id + `","party_id":"XXXXXXXX","version":"1","description":{"type":"offer","sdp":"garbage"}}`,
	}
	var evs []RoomEvent
	for _, typ := range []string{EventInvite, EventCandidates, EventNegotiate, EventHangup, EventAnswer, "m.call.unknown"} {
		for _, b := range bad {
			evs = append(evs, RoomEvent{RoomID: r.id, Sender: alice.userID, Type: typ, Content: json.RawMessage(b)})
		}
	}
	// A negotiate from a party that is not the chosen one is ignored too.
	evs = append(evs, RoomEvent{RoomID: r.id, Sender: "@mallory:test", Type: EventHangup,
		Content: json.RawMessage(`{"call_id":"` + id + `","party_id":"MALLORYDEV","version":"1"}`)})
	bob.eng.HandleEvents(ctx, evs)
	time.Sleep(200 * time.Millisecond)
	if got, _ := bob.eng.Call(id); got.State != StateConnected {
		t.Fatalf("call state %s after malformed events", got.State)
	}
	bob.waitPackets(id, bob.packets(id)+10)
}

// TestInviteVersions delivers a real invite with each kind of version:
// only strings and numbers are versions; the rest is dropped unrung.
func TestInviteVersions(t *testing.T) {
	guard(t)
	ctx := context.Background()
	r := newRoom("!r:test")
	alice, bob := r.join(t, "@alice:test"), r.join(t, "@bob:test")
	am := newTestMedia(t, "a")
	r.pause() // bob gets only what the test hands him
	id, err := alice.eng.PlaceCall(ctx, r.id, bob.userID, false, Media{Audio: am.Audio})
	if err != nil {
		t.Fatal(err)
	}
	waitEvents(t, r, EventInvite, 1)
	var invite map[string]any
	if err := json.Unmarshal(r.eventsOfType(EventInvite)[0].Content, &invite); err != nil {
		t.Fatal(err)
	}
	deliver := func(callID string, version any, present bool) {
		t.Helper()
		c := maps.Clone(invite)
		c["call_id"] = callID
		delete(c, "version")
		if present {
			c["version"] = version
		}
		raw, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		bob.eng.HandleEvents(ctx, []RoomEvent{{RoomID: r.id, Sender: alice.userID, Type: EventInvite, Content: raw, Received: time.Now()}})
	}
	bad := []struct {
		version any
		present bool
	}{{map[string]any{"v": "1"}, true}, {nil, true}, {[]any{"1"}, true}, {true, true}, {nil, false}}
	for i, b := range bad {
		callID := fmt.Sprintf("%sbad%d", id, i)
		deliver(callID, b.version, b.present)
		if ci, ok := bob.eng.Call(callID); ok {
			t.Errorf("invite with version %#v (present %v) was taken: %s", b.version, b.present, ci.State)
		}
	}
	// Control: the same invite with a string version rings.
	deliver(id+"good", "1", true)
	if ring := bob.ringing(); ring.ID != id+"good" {
		t.Errorf("rang for %s", ring.ID)
	}
	// The original invite, held back so far, now reaches bob while he
	// rings for the control call: he answers it busy, which ends alice's
	// call (hanging up before that raced with it).
	r.resume()
	if ci := alice.waitState(id, StateEnded); ci.EndReason != ReasonUserBusy {
		t.Errorf("alice's call ended %v, want user_busy from bob, who rings for the control call", ci.EndReason)
	}
}

func TestHangupReasons(t *testing.T) {
	guard(t)
	ctx := context.Background()
	r := newRoom("!r:test")
	alice, bob := r.join(t, "@alice:test"), r.join(t, "@bob:test")
	am, bm := newTestMedia(t, "a"), newTestMedia(t, "b")
	reasons := []EndReason{ReasonICEFailed, ReasonICETimeout, ReasonInviteTimeout, ReasonUserHangup,
		ReasonUserMediaFailed, ReasonUserBusy, ReasonUnknownError, "", "flux_capacitor"}
	for _, reason := range reasons {
		id, err := alice.eng.PlaceCall(ctx, r.id, bob.userID, true, am.Media)
		if err != nil {
			t.Fatal(err)
		}
		bob.waitState(id, StateRinging)
		if err := bob.eng.Answer(ctx, id, true, bm.Media); err != nil {
			t.Fatal(err)
		}
		alice.waitState(id, StateConnecting)
		raw, _ := json.Marshal(&Hangup{Base: Base{CallID: id, PartyID: alice.eng.PartyID(), Version: Version1}, Reason: reason})
		bob.eng.HandleEvents(ctx, []RoomEvent{{RoomID: r.id, Sender: alice.userID, Type: EventHangup, Content: raw}})
		want := reason
		switch reason {
		case "":
			want = ReasonUserHangup
		case "flux_capacitor":
			want = ReasonUnknownError
		}
		if got := bob.waitState(id, StateEnded); got.EndReason != want || got.EndedBy != PartyRemote {
			t.Errorf("hangup %q: callee ended with %s/%s, want remote/%s", reason, got.EndedBy, got.EndReason, want)
		}
		if err := alice.eng.HangupWithReason(ctx, id, ReasonUserMediaFailed); err != nil {
			t.Fatal(err)
		}
		if got := alice.waitState(id, StateEnded); got.EndReason != ReasonUserMediaFailed || got.EndedBy != PartyLocal {
			t.Errorf("caller ended with %s/%s", got.EndedBy, got.EndReason)
		}
	}
	if err := alice.eng.HangupWithReason(ctx, "nope", "bogus"); err == nil {
		t.Error("bogus reason accepted")
	}
}

// With encryption, a late room key makes events decrypt out of order: the
// invite can come after its candidates or even after its hangup.
func TestEventsBeforeTheirInvite(t *testing.T) {
	guard(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		hangup bool
	}{{"candidates first, then invite", false}, {"hangup first, then invite", true}} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRoom("!r:test")
			alice, bob := r.join(t, "@alice:test"), r.join(t, "@bob:test")
			am, bm := newTestMedia(t, "a"), newTestMedia(t, "b")
			r.pause()
			id, err := alice.eng.PlaceCall(ctx, r.id, bob.userID, true, am.Media)
			if err != nil {
				t.Fatal(err)
			}
			alice.waitState(id, StateInviteSent)
			deadline := time.Now().Add(5 * time.Second)
			for len(r.eventsOfType(EventCandidates)) == 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if tc.hangup {
				if err := alice.eng.Hangup(ctx, id); err != nil {
					t.Fatal(err)
				}
				alice.waitState(id, StateEnded)
				// The hangup is sent by the call's sender goroutine,
				// after the state changes: wait until the room has it.
				for len(r.eventsOfType(EventHangup)) == 0 && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
			}
			r.mu.Lock()
			held := r.held
			r.held = nil
			r.paused = false
			r.mu.Unlock()
			// Everything but the invite first, then the invite.
			var invite RoomEvent
			for _, ev := range held {
				if ev.Type == EventInvite {
					invite = ev
					continue
				}
				ev.Received = time.Now()
				bob.eng.HandleEvents(ctx, []RoomEvent{ev})
			}
			invite.Received = time.Now()
			bob.eng.HandleEvents(ctx, []RoomEvent{invite})
			if tc.hangup {
				time.Sleep(200 * time.Millisecond)
				if bob.sawState(StateRinging) {
					t.Fatal("rang for a call whose hangup came before its invite")
				}
				return
			}
			bob.ringing()
			if err := bob.eng.Answer(ctx, id, true, bm.Media); err != nil {
				t.Fatal(err)
			}
			alice.waitState(id, StateConnected)
			bob.waitState(id, StateConnected)
		})
	}
}

// TestPeerVanishes has the callee disappear mid-call without a hangup
// reaching the caller (its process quit, its homeserver went away): its
// peer connection closes and nothing more is signalled. The caller must
// not stay in the call: ICE fails, one restart is tried (and gets no
// answer), and the call ends with an ICE reason.
func TestPeerVanishes(t *testing.T) {
	guard(t)
	r := newRoom("!r:test")
	se := loopbackSettings()
	se.SetICETimeouts(time.Second, 2*time.Second, 200*time.Millisecond)
	opts := []Option{WithSettingEngine(se), WithICETimings(300*time.Millisecond, 4*time.Second)}
	logs := newTestLogs(t)
	alice := r.join(t, "@alice:test", append(opts, WithLogger(logs.logger("alice")))...)
	bob := r.join(t, "@bob:test", append(opts, WithLogger(logs.logger("bob")))...)
	am, bm := newTestMedia(t, "a"), newTestMedia(t, "b")
	id := connect(t, r, alice, bob, am, bm)
	alice.waitPackets(id, 10)

	r.rewrite = func(from *member, _ string, content map[string]any) map[string]any {
		if from == bob {
			return nil // bob's hangup never arrives
		}
		return content
	}
	start := time.Now()
	_ = bob.eng.Close()
	ci := alice.waitState(id, StateEnded)
	if ci.EndReason != ReasonICEFailed && ci.EndReason != ReasonICETimeout {
		t.Fatalf("caller's call ended with %v, want ice_failed or ice_timeout", ci.EndReason)
	}
	t.Logf("caller gave up after %v with %v", time.Since(start).Round(time.Millisecond), ci.EndReason)
}
