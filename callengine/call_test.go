package callengine

import (
	"context"
	"testing"
	"time"

	"github.com/pion/transport/v5/test"
)

// guard fails the test on leaked goroutines (checked after every cleanup)
// and on hangs.
func guard(t *testing.T) {
	t.Helper()
	lim := test.TimeOut(60 * time.Second)
	t.Cleanup(func() { lim.Stop() })
	t.Cleanup(test.CheckRoutines(t))
}

func TestCallMediaBothWaysAndHangup(t *testing.T) {
	for _, hangupBy := range []string{"caller", "callee"} {
		t.Run("hangup by "+hangupBy, func(t *testing.T) {
			guard(t)
			ctx := context.Background()
			r := newRoom("!r:test")
			alice := r.join(t, "@alice:test")
			bob := r.join(t, "@bob:test")
			am := newTestMedia(t, "alice-stream")
			bm := newTestMedia(t, "bob-stream")

			id, err := alice.eng.PlaceCall(ctx, r.id, bob.userID, true, am.Media)
			if err != nil {
				t.Fatal(err)
			}
			alice.waitState(id, StateInviteSent)
			ring := bob.ringing()
			if ring.ID != id || ring.Peer != alice.userID || ring.Direction != Incoming || !ring.Video {
				t.Fatalf("bob rings with %+v", ring)
			}
			if err := bob.eng.Answer(ctx, id, true, bm.Media); err != nil {
				t.Fatal(err)
			}
			alice.waitState(id, StateConnected)
			bob.waitState(id, StateConnected)
			alice.waitPackets(id, 20)
			bob.waitPackets(id, 20)
			if len(r.eventsOfType(EventSelectAnswer)) != 1 {
				t.Errorf("want one select_answer, got %d", len(r.eventsOfType(EventSelectAnswer)))
			}
			if alice.sawState(StateRinging) {
				t.Error("caller rang for its own invite echo")
			}

			ender, other := alice, bob
			if hangupBy == "callee" {
				ender, other = bob, alice
			}
			if err := ender.eng.Hangup(ctx, id); err != nil {
				t.Fatal(err)
			}
			got := other.waitState(id, StateEnded)
			if got.EndedBy != PartyRemote || got.EndReason != ReasonUserHangup {
				t.Errorf("peer's end: %s/%s", got.EndedBy, got.EndReason)
			}
			mine := ender.waitState(id, StateEnded)
			if mine.EndedBy != PartyLocal || mine.EndReason != ReasonUserHangup {
				t.Errorf("own end: %s/%s", mine.EndedBy, mine.EndReason)
			}
		})
	}
}
