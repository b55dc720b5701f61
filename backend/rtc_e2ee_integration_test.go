//go:build integration && goolm

package backend

import (
	"context"
	"fmt"
	"testing"
	"time"

	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/webrtc/v4"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/mxcall/mxcall/matrixrtc"
	"github.com/mxcall/mxcall/media"
	"github.com/mxcall/mxcall/media/framecrypt"
)

// TestIntegrationRTCEncryptedGroup (issue 13): three members in an
// end-to-end encrypted room's MatrixRTC call exchange their media keys
// over Olm and each decodes the other two (tracks published encrypted,
// no tile waiting for a key); when one leaves, the other two rotate to a
// new key and keep decoding each other; a subscriber holding only the
// leaver's keys (the old ones) decodes nothing the others send after the
// rotation: every frame is dropped as undecryptable.
func TestIntegrationRTCEncryptedGroup(t *testing.T) {
	ctx, hs, focus := rtcIT(t)
	alice := newRTCUser(ctx, t, hs, "alice", focus)
	bob := newRTCUser(ctx, t, hs, "bob", focus)
	carol := newRTCUser(ctx, t, hs, "carol", focus)
	room := encryptedGroup(ctx, t, hs, alice, bob, carol)

	users := []*rtcUser{alice, bob, carol}
	calls := map[*rtcUser]string{}
	for _, u := range users {
		id, err := u.b.JoinCall(ctx, room, true)
		if err != nil {
			t.Fatalf("%s joins: %v", u.id, err)
		}
		calls[u] = id
		if c := u.b.rtc.get(id); c == nil || c.crypto.Load() == nil {
			t.Fatalf("%s's call in the encrypted room has no media encryption", u.id)
		}
	}
	identity := func(u *rtcUser) string { return u.id + ":" + u.b.mc.DeviceID() }
	// decodes waits until u has decoded n more frames of each of others.
	decodes := func(u *rtcUser, n uint64, others ...*rtcUser) {
		t.Helper()
		start := map[string]uint64{}
		for _, o := range others {
			start[identity(o)] = tileSeq(u, calls[u], identity(o))
		}
		waitIT(ctx, t, fmt.Sprintf("%s decoding %d frames of each of the others", u.id, n), func() bool {
			for _, o := range others {
				if tileSeq(u, calls[u], identity(o)) < start[identity(o)]+n {
					return false
				}
			}
			return true
		})
	}
	decodes(alice, 20, bob, carol)
	decodes(bob, 20, alice, carol)
	decodes(carol, 20, alice, bob)
	for _, u := range users {
		for _, p := range u.b.Participants(calls[u]) {
			if !p.Encrypted || p.WaitingForKey {
				t.Errorf("%s's tile of %s: encrypted %v, waiting for key %v", u.id, p.ID, p.Encrypted, p.WaitingForKey)
			}
		}
	}

	// Carol keeps alice's key ring as it is now (the keys she holds), and
	// leaves.
	old := carol.b.rtc.get(calls[carol]).crypto.Load()
	aliceRing, _ := old.ring(identity(alice))
	if err := carol.b.Hangup(ctx, calls[carol]); err != nil {
		t.Fatal(err)
	}
	// Alice and bob rotate: each switches to a key it sent after carol left.
	for _, u := range []*rtcUser{alice, bob} {
		cr := u.b.rtc.get(calls[u]).crypto.Load()
		waitIT(ctx, t, u.id+" rotating its key", func() bool { return cr.tx.CurrentIndex() == 1 })
	}
	rotated := time.Now()
	decodes(alice, 30, bob)
	decodes(bob, 30, alice)
	t.Logf("after the rotation alice and bob decode each other (30 frames each within %v)", time.Since(rotated).Round(time.Millisecond))
	if aliceRing.HasKey(1) {
		t.Fatal("carol got alice's rotated key")
	}

	// A subscriber with carol's old keys only: nothing alice sends now
	// decrypts.
	sink := subscribeWithKeys(ctx, t, carol, room, focus, identity(alice), aliceRing)
	defer sink.Close()
	waitIT(ctx, t, "alice's frames dropped for want of her new key", func() bool {
		st := sink.Stats()
		return st.NoKey+st.Undecryptable >= 20
	})
	if st := sink.Stats(); st.Frames != 0 {
		t.Fatalf("a subscriber with only the old key decoded %d of alice's frames after the rotation (%+v)", st.Frames, st)
	}
	t.Logf("old-key subscriber: %+v", sink.Stats())
	for _, u := range []*rtcUser{alice, bob} {
		if err := u.b.Hangup(ctx, calls[u]); err != nil {
			t.Fatal(err)
		}
	}
}

// TestIntegrationRTCEchoPartnerEncrypted: in an end-to-end encrypted DM
// the echo partner answers a MatrixRTC ring, sends back the caller's own
// encrypted frames under the caller's key (mirrored to it as the echo's
// key), and the caller decodes them: media encrypted end to end all the
// way, no tile waiting for a key.
func TestIntegrationRTCEchoPartnerEncrypted(t *testing.T) {
	ctx, hs, focus := rtcIT(t)
	echo := startRTCEcho(ctx, t, hs)
	rtcEchoCall(ctx, t, newRTCUser(ctx, t, hs, "alice", focus, true), echo, true)
}

// tileSeq is the sequence number of the newest frame of identity's tile in
// u's call (0 without one).
func tileSeq(u *rtcUser, callID, identity string) uint64 {
	for _, p := range u.b.Participants(callID) {
		if p.ID == identity && p.Video != nil {
			_, seq, _ := p.Video.FrameInto(nil, 0)
			return seq
		}
	}
	return 0
}

// encryptedGroup makes an end-to-end encrypted group room of owner with
// the others in it (created from a device of its own, as another client
// of owner's would).
func encryptedGroup(ctx context.Context, t *testing.T, hs string, owner *rtcUser, others ...*rtcUser) string {
	t.Helper()
	var ids []string
	for _, o := range others {
		ids = append(ids, o.id)
	}
	room := encryptedRoom(ctx, t, hs, owner, ids...)
	for _, o := range others {
		waitIT(ctx, t, o.id+"'s invite", func() bool {
			for _, inv := range o.b.mc.Invites() {
				if inv.RoomID == room {
					return true
				}
			}
			return false
		})
		if err := o.b.AcceptInvite(ctx, room); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range append(others, owner) {
		waitIT(ctx, t, u.id+" seeing the room encrypted", func() bool {
			r, ok := u.b.mc.Room(room)
			return ok && r.Encrypted
		})
	}
	return room
}

// encryptedRoom makes an end-to-end encrypted private room of owner and
// invites others.
func encryptedRoom(ctx context.Context, t *testing.T, hs string, owner *rtcUser, others ...string) string {
	t.Helper()
	mx, err := mautrix.NewClient(hs, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mx.Login(ctx, &mautrix.ReqLogin{Type: mautrix.AuthTypePassword, StoreCredentials: true,
		Identifier: mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: owner.id}, Password: owner.pw}); err != nil {
		t.Fatal(err)
	}
	var invite []id.UserID
	for _, o := range others {
		invite = append(invite, id.UserID(o))
	}
	// Members may send call memberships (state events), as Element sets
	// it up in rooms it creates.
	pl := &event.PowerLevelsEventContent{Events: map[string]int{matrixrtc.TypeCallMember: 0}}
	resp, err := mx.CreateRoom(ctx, &mautrix.ReqCreateRoom{Name: "Encrypted group", Preset: "private_chat", Invite: invite,
		PowerLevelOverride: pl,
		InitialState: []*event.Event{{Type: event.StateEncryption, Content: event.Content{
			Parsed: &event.EncryptionEventContent{Algorithm: id.AlgorithmMegolmV1}}}}})
	if err != nil {
		t.Fatal(err)
	}
	return resp.RoomID.String()
}

// subscribeWithKeys connects to the call's SFU as u's device (u has left
// the call) without publishing, and decodes publisher's video with only
// the keys in ring.
func subscribeWithKeys(ctx context.Context, t *testing.T, u *rtcUser, room, focus, publisher string, ring *framecrypt.KeyRing) *media.VideoSink {
	t.Helper()
	tok, err := u.b.mc.OpenIDToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := matrixrtc.SFUGet(ctx, nil, focus, room, tok, u.b.mc.DeviceID())
	if err != nil {
		t.Fatal(err)
	}
	sinks := make(chan *media.VideoSink, 1)
	cb := lksdk.NewRoomCallback()
	cb.OnTrackSubscribed = func(tr *webrtc.TrackRemote, _ *lksdk.RemoteTrackPublication, rp *lksdk.RemoteParticipant) {
		if rp.Identity() != publisher || tr.Kind() != webrtc.RTPCodecTypeVideo {
			return
		}
		s, err := media.NewVideoSink(tr, nil, media.WithDecryptor(framecrypt.NewDecryptor(ring)))
		if err != nil {
			t.Error(err)
			return
		}
		sinks <- s
	}
	lk, err := lksdk.ConnectToRoomWithToken(creds.URL, creds.JWT, cb, lksdk.WithAutoSubscribe(true))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lk.Disconnect)
	select {
	case s := <-sinks:
		return s
	case <-ctx.Done():
		t.Fatal("no video track of the publisher")
		return nil
	}
}
