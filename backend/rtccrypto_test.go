package backend

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/mxcall/mxcall/callengine"
	"github.com/mxcall/mxcall/matrixrtc"
)

// keySender records the media keys a call sends: "user/device index".
type keySender struct {
	sent chan string
}

func (k *keySender) SendToDevice(_ context.Context, evType string, msgs map[string]map[string]any) error {
	for u, devs := range msgs {
		for d, c := range devs {
			_ = c
			k.sent <- evType + " " + u + "/" + d
		}
	}
	return nil
}

// In an encrypted room (with media encryption available) a call joins:
// its session publishes encrypted tracks, our key goes to the members
// already in the call, a member's tile waits for their key until it comes
// over to-device, and keys for other rooms or from another device than the
// one that sent them are not taken.
func TestRTCEncryptedRoomEncryptsMedia(t *testing.T) {
	defer checkRoutines(t)()
	keys := &keySender{sent: make(chan string, 16)}
	bob := matrixrtc.Membership{Sender: "@bob:hs", DeviceID: "BOBDEV", Slot: matrixrtc.SlotRoom, Created: time.Now()}
	h := newRTCHarness(t, time.Minute, func(h *rtcHarness) {
		h.encrypted, h.toDevice = true, keys
		h.members = []matrixrtc.Membership{bob}
	})
	id, err := h.r.join(ctxT(t), "!group:hs", "", true)
	if err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	sess := h.sessions[0]
	h.mu.Unlock()
	if !sess.cfg.Encrypted {
		t.Fatal("the session does not publish encrypted tracks")
	}
	select {
	case got := <-keys.sent:
		if got != matrixrtc.TypeEncryptionKeys+" @bob:hs/BOBDEV" {
			t.Fatalf("key sent: %q", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("our key was not sent to the member already in the call")
	}
	c := h.r.get(id)
	c.pmu.Lock()
	c.parts = []matrixrtc.Participant{{Identity: "@bob:hs:BOBDEV", UserID: "@bob:hs", DeviceID: "BOBDEV"}}
	c.pmu.Unlock()
	tile := func() (enc, waiting bool) {
		for _, p := range c.participants() {
			if p.ID == "@bob:hs:BOBDEV" {
				return p.Encrypted, p.WaitingForKey
			}
		}
		t.Fatal("no tile for bob")
		return
	}
	if ps := c.participants(); !ps[0].Local || !ps[0].Encrypted {
		t.Fatalf("our tile: %+v", ps[0])
	}
	if enc, waiting := tile(); !enc || !waiting {
		t.Fatalf("bob's tile before his key: encrypted %v waiting %v", enc, waiting)
	}
	key := func(room, claimed string) matrixrtc.ToDeviceEvent {
		b, _ := json.Marshal(matrixrtc.KeyContent(room, "@bob:hs", claimed, 0, []byte("0123456789abcdef")))
		return matrixrtc.ToDeviceEvent{Sender: "@bob:hs", SenderDevice: "BOBDEV", Type: matrixrtc.TypeEncryptionKeys, Content: b}
	}
	h.r.handleToDevice(key("!other:hs", "BOBDEV"))
	h.r.handleToDevice(key("!group:hs", "OTHERDEV"))
	time.Sleep(100 * time.Millisecond)
	if _, waiting := tile(); !waiting {
		t.Fatal("a key for another room or from another device was taken")
	}
	h.r.handleToDevice(key("!group:hs", "BOBDEV"))
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, waiting := tile(); !waiting {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("bob's key did not end the wait")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !c.crypto.Load().tx.HasKey(0) {
		t.Fatal("no key of ours")
	}
	if err := h.r.hangup(ctxT(t), id); err != nil {
		t.Fatal(err)
	}
	h.expectEnd(id, callengine.PartyLocal, callengine.ReasonUserHangup)
	h.released(id)
}
