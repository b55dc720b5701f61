package callengine

import (
	"context"
	"testing"
)

// legacy makes userID's engine look like a VoIP v0 client on the wire:
// numeric version 0, no party_id, no select_answer, hangup instead of reject.
func legacy(userID string) func(*member, string, map[string]any) map[string]any {
	return func(from *member, evType string, c map[string]any) map[string]any {
		if from.userID != userID {
			return c
		}
		switch evType {
		case EventSelectAnswer, EventNegotiate, EventSDPStreamMetadataChanged:
			return nil
		}
		c["version"] = 0
		delete(c, "party_id")
		delete(c, "invitee")
		delete(c, "sdp_stream_metadata")
		delete(c, "org.matrix.msc3077.sdp_stream_metadata")
		return c
	}
}

func TestLegacyV0Peer(t *testing.T) {
	for _, dir := range []string{"v0 calls us", "we call v0"} {
		t.Run(dir, func(t *testing.T) {
			guard(t)
			ctx := context.Background()
			r := newRoom("!r:test")
			r.rewrite = legacy("@old:test")
			us, old := r.join(t, "@us:test"), r.join(t, "@old:test")
			um, om := newTestMedia(t, "u"), newTestMedia(t, "o")
			caller, callee, cm, em := old, us, om, um
			if dir == "we call v0" {
				caller, callee, cm, em = us, old, um, om
			}
			id := connect(t, r, caller, callee, cm, em)
			us.waitPackets(id, 20)
			old.waitPackets(id, 20)
			if n := len(r.eventsOfType(EventSelectAnswer)); n != 0 && dir == "we call v0" {
				t.Errorf("sent %d select_answer to a v0 peer", n)
			}
			if err := old.eng.Hangup(ctx, id); err != nil {
				t.Fatal(err)
			}
			if got := us.waitState(id, StateEnded); got.EndedBy != PartyRemote {
				t.Errorf("ended by %s", got.EndedBy)
			}
		})
	}
}

func TestRejectToV0CallerIsHangup(t *testing.T) {
	guard(t)
	ctx := context.Background()
	r := newRoom("!r:test")
	r.rewrite = legacy("@old:test")
	us, old := r.join(t, "@us:test"), r.join(t, "@old:test")
	om := newTestMedia(t, "o")
	id, err := old.eng.PlaceCall(ctx, r.id, us.userID, true, om.Media)
	if err != nil {
		t.Fatal(err)
	}
	us.ringing()
	if err := us.eng.Reject(ctx, id); err != nil {
		t.Fatal(err)
	}
	old.waitState(id, StateEnded)
	if n := len(r.eventsOfType(EventReject)); n != 0 {
		t.Errorf("sent m.call.reject to a v0 caller")
	}
	if n := len(r.eventsOfType(EventHangup)); n != 1 {
		t.Errorf("%d hangups", n)
	}
}
