package callengine

import (
	"context"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// connectedCall returns the one call m saw connected.
func connectedIDs(m *member) map[string]bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids := map[string]bool{}
	for _, u := range m.updates {
		if u.State == StateConnected {
			ids[u.ID] = true
		}
	}
	return ids
}

func TestGlareBothInvitesSent(t *testing.T) {
	guard(t)
	ctx := context.Background()
	r := newRoom("!r:test")
	alice, bob := r.join(t, "@alice:test"), r.join(t, "@bob:test")
	am, bm := newTestMedia(t, "a"), newTestMedia(t, "b")
	r.pause()
	ida, err := alice.eng.PlaceCall(ctx, r.id, bob.userID, true, am.Media)
	if err != nil {
		t.Fatal(err)
	}
	idb, err := bob.eng.PlaceCall(ctx, r.id, alice.userID, true, bm.Media)
	if err != nil {
		t.Fatal(err)
	}
	alice.waitState(ida, StateInviteSent)
	bob.waitState(idb, StateInviteSent)
	r.resume()
	winner, loser := min(ida, idb), max(ida, idb)
	alice.waitState(winner, StateConnected)
	bob.waitState(winner, StateConnected)
	alice.waitPackets(winner, 20)
	bob.waitPackets(winner, 20)
	owner, other := alice, bob
	if loser == idb {
		owner, other = bob, alice
	}
	if got := owner.waitState(loser, StateEnded); got.EndReason != ReasonReplaced {
		t.Errorf("%s: losing call ended with %s", owner.userID, got.EndReason)
	}
	// The peer's side never showed the losing call; it is only remembered.
	if got, ok := other.eng.Call(loser); !ok || got.State != StateEnded {
		t.Errorf("%s: losing call is %v (known %v)", other.userID, got.State, ok)
	}
	for _, m := range []*member{alice, bob} {
		if ids := connectedIDs(m); len(ids) != 1 {
			t.Errorf("%s: connected calls %v", m.userID, ids)
		}
		if m.sawState(StateRinging) {
			t.Errorf("%s rang during glare", m.userID)
		}
	}
}

func TestGlareInviteWhilePreparing(t *testing.T) {
	guard(t)
	ctx := context.Background()
	r := newRoom("!r:test")
	// Alice's gathering is slow (her STUN server never answers), so she is
	// still preparing her invite when Bob's arrives.
	alice := r.join(t, "@alice:test",
		WithICEServers([]webrtc.ICEServer{{URLs: []string{"stun:127.0.0.1:9"}}}),
		WithCandidateTimings(1500*time.Millisecond, 100*time.Millisecond, 50*time.Millisecond))
	bob := r.join(t, "@bob:test")
	am, bm := newTestMedia(t, "a"), newTestMedia(t, "b")
	ida, err := alice.eng.PlaceCall(ctx, r.id, bob.userID, true, am.Media)
	if err != nil {
		t.Fatal(err)
	}
	idb, err := bob.eng.PlaceCall(ctx, r.id, alice.userID, true, bm.Media)
	if err != nil {
		t.Fatal(err)
	}
	if got := alice.waitState(ida, StateEnded); got.EndReason != ReasonReplaced {
		t.Errorf("alice's own call ended with %s", got.EndReason)
	}
	alice.waitState(idb, StateConnected)
	bob.waitState(idb, StateConnected)
	alice.waitPackets(idb, 20)
	bob.waitPackets(idb, 20)
	for _, ev := range r.eventsOfType(EventInvite) {
		if ev.Sender == alice.userID {
			t.Error("alice sent the invite she should have dropped")
		}
	}
	if alice.sawState(StateRinging) {
		t.Error("alice rang for the call she auto-accepted")
	}
}
