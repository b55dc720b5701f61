//go:build integration && goolm

package matrixclient

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	mxid "maunium.net/go/mautrix/id"

	"github.com/mxcall/mxcall/callengine"
	"github.com/mxcall/mxcall/matrixrtc"
)

func TestIntegrationE2EECallTwoDevicesAndRestart(t *testing.T) {
	itLeakCheck(t)
	alice, bob := register(t, "alice"), register(t, "bob")
	akr, asvc := NewMemoryKeyring(), "mxcall-it-"+randomID(8)
	a := login(t, "alice", alice, devOpts{keyring: akr, service: asvc})
	b1 := login(t, "bob1", bob, devOpts{})
	b2 := login(t, "bob2", bob, devOpts{})
	roomID := dm(t, a, b1)
	b2.waitFor("room on 2nd device", func() bool { _, err := b2.c.CallPeer(roomID); return err == nil })
	for _, d := range []*device{a, b1, b2} {
		if r, _ := d.c.Room(roomID); !r.Encrypted {
			t.Fatalf("%s: room not encrypted: %+v", d.name, r)
		}
	}
	devs, err := a.c.PeerDevices(context.Background(), bob.userID)
	if err != nil || len(devs) != 2 {
		t.Fatalf("alice sees bob's devices %+v, %v; want 2", devs, err)
	}
	for _, d := range devs {
		if d.Verified {
			t.Fatalf("device %s verified without verification", d.ID)
		}
	}

	id := place(t, a, roomID, b1, b2)
	answer(t, b1, id)
	if ci := b2.waitState(id, callengine.StateEnded); ci.EndReason != callengine.ReasonAnsweredElsewhere {
		t.Fatalf("second device ended with %v", ci.EndReason)
	}
	a.waitState(id, callengine.StateConnected)
	b1.waitState(id, callengine.StateConnected)
	mediaFlows(t, a, b1)
	hangupAndCheck(t, a, b1, id)

	// What the server stores for the call events is m.room.encrypted.
	mx, _ := a.c.mautrixClient()
	msgs, err := mx.Messages(context.Background(), mxid.RoomID(roomID), "", "", mautrix.DirectionBackward, nil, 200)
	if err != nil {
		t.Fatal(err)
	}
	enc := 0
	for _, ev := range msgs.Chunk {
		if strings.HasPrefix(ev.Type.Type, "m.call.") {
			t.Fatalf("call event stored in plaintext: %s %s", ev.Type.Type, ev.ID)
		}
		if ev.Type.Type == "m.room.encrypted" {
			enc++
		}
	}
	if enc < 4 { // invite, answer, select_answer, hangup at least
		t.Fatalf("only %d encrypted events in the room", enc)
	}
	t.Logf("server stores %d m.room.encrypted events and no m.call.* for the call", enc)

	// Restart alice: same device, the crypto store still decrypts.
	devID := a.c.Status().DeviceID
	a.stop()
	a2 := login(t, "alice-restarted", alice, devOpts{keyring: akr, service: asvc, restore: true})
	if got := a2.c.Status().DeviceID; got != devID {
		t.Fatalf("device after restart %s, want %s", got, devID)
	}
	mx2, _ := a2.c.mautrixClient()
	info, err := mx2.GetDevicesInfo(context.Background())
	if err != nil || len(info.Devices) != 1 {
		t.Fatalf("alice's devices after restart: %+v %v; want exactly 1", info, err)
	}
	a2.waitFor("room after restart", func() bool { _, err := a2.c.CallPeer(roomID); return err == nil })
	b2.stop() // one callee device is enough now
	id2 := place(t, a2, roomID, b1)
	answer(t, b1, id2)
	a2.waitState(id2, callengine.StateConnected) // alice decrypted bob's answer
	b1.waitState(id2, callengine.StateConnected)
	mediaFlows(t, a2, b1)
	hangupAndCheck(t, b1, a2, id2) // and bob's hangup
}

// keyDelayer holds back to-device events (room keys) in sync responses
// for a while, then delivers them in a later response.
type keyDelayer struct {
	mu      sync.Mutex
	until   time.Time
	held    []json.RawMessage
	delayed int
}

func (k *keyDelayer) arm(d time.Duration) {
	k.mu.Lock()
	k.until = time.Now().Add(d)
	k.mu.Unlock()
}

func (k *keyDelayer) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil || !strings.HasSuffix(req.URL.Path, "/sync") || resp.StatusCode != 200 {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) == nil {
		var td struct {
			Events []json.RawMessage `json:"events"`
		}
		_ = json.Unmarshal(top["to_device"], &td)
		k.mu.Lock()
		if time.Now().Before(k.until) {
			k.held = append(k.held, td.Events...)
			k.delayed += len(td.Events)
			td.Events = nil
		} else if len(k.held) > 0 {
			td.Events = append(k.held, td.Events...)
			k.held = nil
		}
		k.mu.Unlock()
		top["to_device"], _ = json.Marshal(td)
		body, _ = json.Marshal(top)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Del("Content-Length")
	return resp, nil
}

func TestIntegrationE2EELateRoomKey(t *testing.T) {
	itLeakCheck(t)
	alice, bob := register(t, "alice"), register(t, "bob")
	kd := &keyDelayer{}
	hc := &http.Client{Transport: kd}
	t.Cleanup(hc.CloseIdleConnections)
	a := login(t, "alice", alice, devOpts{})
	b := login(t, "bob", bob, devOpts{http: hc, syncTimeout: 500 * time.Millisecond})
	roomID := dm(t, a, b)

	const delay = 6 * time.Second
	kd.arm(delay)
	peer, _ := a.c.CallPeer(roomID)
	m := newMedia(t, "a-"+randomID(6))
	start := time.Now()
	id, err := a.e.PlaceCall(context.Background(), roomID, peer, true, m.Media)
	if err != nil {
		t.Fatal(err)
	}
	ring := b.waitStateWithin(id, callengine.StateRinging, 40*time.Second)
	rangAfter := ring.Created.Sub(start)
	kd.mu.Lock()
	delayed := kd.delayed
	kd.mu.Unlock()
	if delayed == 0 || rangAfter < delay {
		t.Fatalf("room key not delayed (held %d to-device events, rang after %v)", delayed, rangAfter)
	}
	t.Logf("room key held back %v: bob rang %v after the call was placed (invite lifetime 60 s)", delay, rangAfter.Round(time.Millisecond))
	answer(t, b, id)
	a.waitState(id, callengine.StateConnected)
	b.waitState(id, callengine.StateConnected)
	mediaFlows(t, a, b)
	hangupAndCheck(t, a, b, id)
}

func (d *device) waitStateWithin(callID string, s callengine.State, within time.Duration) callengine.CallInfo {
	d.t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if ci, ok := d.last(func(c callengine.CallInfo) bool { return c.ID == callID && c.State == s }); ok {
			return ci
		}
		select {
		case <-d.upd:
		case <-time.After(50 * time.Millisecond):
		}
	}
	d.t.Fatalf("%s: call %s never reached %v within %v (undecryptable: %+v)", d.name, callID, s, within, d.c.Undecryptable())
	return callengine.CallInfo{}
}

func TestIntegrationLatencyEncrypted(t *testing.T) {
	itLeakCheck(t)
	latency(t, false)
}

// An invite whose room key does not arrive is reported as undecryptable (a
// missed call that could not be read), not silently dropped, and does not
// ring. When the key finally arrives after mautrix gave up (25 s), the
// invite still rings while it is live, and the report is withdrawn.
func TestIntegrationE2EEInviteDecryptsLate(t *testing.T) {
	itLeakCheck(t)
	alice, bob := register(t, "alice"), register(t, "bob")
	kd := &keyDelayer{}
	hc := &http.Client{Transport: kd}
	t.Cleanup(hc.CloseIdleConnections)
	a := login(t, "alice", alice, devOpts{})
	b := login(t, "bob", bob, devOpts{http: hc, syncTimeout: 500 * time.Millisecond})
	roomID := dm(t, a, b)

	kd.arm(time.Hour)
	peer, _ := a.c.CallPeer(roomID)
	m := newMedia(t, "a-"+randomID(6))
	id, err := a.e.PlaceCall(context.Background(), roomID, peer, true, m.Media)
	if err != nil {
		t.Fatal(err)
	}
	a.waitState(id, callengine.StateInviteSent)
	start := time.Now()
	var u []Undecryptable
	deadline := time.Now().Add(40 * time.Second)
	for len(u) == 0 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		for _, x := range b.c.Undecryptable() {
			if x.RoomID == roomID && x.Sender == alice.userID {
				u = append(u, x)
			}
		}
	}
	if len(u) == 0 {
		t.Fatal("undecryptable invite not reported")
	}
	if _, ok := b.e.Call(id); ok {
		t.Fatal("bob knows a call he could not decrypt")
	}
	t.Logf("%d undecryptable events from alice reported %v after the invite was sent (%v)", len(u), time.Since(start).Round(time.Second), u[0].Err)

	kd.arm(0) // the keys arrive now
	ring := b.waitStateWithin(id, callengine.StateRinging, 15*time.Second)
	t.Logf("bob rang %v after the invite was sent", ring.Created.Sub(start).Round(time.Millisecond))
	b.waitFor("undecryptable report withdrawn", func() bool {
		return !slices.ContainsFunc(b.c.Undecryptable(), func(x Undecryptable) bool { return x.RoomID == roomID })
	})
	answer(t, b, id)
	a.waitState(id, callengine.StateConnected)
	b.waitState(id, callengine.StateConnected)
	hangupAndCheck(t, a, b, id)
}

// TestIntegrationE2EERoomKeySharedInAdvance: once an encrypted DM is
// callable, both sides have shared their room key with the other before
// anything was sent, so a first call does not wait for it.
func TestIntegrationE2EERoomKeySharedInAdvance(t *testing.T) {
	itLeakCheck(t)
	alice, bob := register(t, "alice"), register(t, "bob")
	a := login(t, "alice", alice, devOpts{})
	b := login(t, "bob", bob, devOpts{})
	roomID := dm(t, a, b)
	ctx := context.Background()
	for _, d := range []*device{a, b} {
		d.waitFor("room key shared in advance", func() bool {
			d.c.mu.Lock()
			cr, _ := d.c.crypto.(*mautrixCrypto)
			d.c.mu.Unlock()
			if cr == nil {
				return false
			}
			s, err := cr.helper.Machine().CryptoStore.GetOutboundGroupSession(ctx, mxid.RoomID(roomID))
			return err == nil && s != nil && s.Shared
		})
	}
}

// TestIntegrationE2EEPlaintextCallEventIgnored: a call event sent in
// plaintext into an encrypted room (as anyone who runs a homeserver could
// inject one) never reaches the engine; a real, encrypted call after it
// rings as usual.
func TestIntegrationE2EEPlaintextCallEventIgnored(t *testing.T) {
	itLeakCheck(t)
	alice, bob := register(t, "alice"), register(t, "bob")
	a := login(t, "alice", alice, devOpts{})
	b := login(t, "bob", bob, devOpts{})
	roomID := dm(t, a, b)

	// Alice's token on a client without encryption: what it sends goes out
	// in plaintext, and the server stores it as it is.
	a.c.mu.Lock()
	token := a.c.sess.AccessToken
	a.c.mu.Unlock()
	raw, err := mautrix.NewClient(hsURL, mxid.UserID(alice.userID), token)
	if err != nil {
		t.Fatal(err)
	}
	forged := "forged" + randomID(10)
	content := map[string]any{"call_id": forged, "party_id": "FORGEDPARTY", "version": "1", "lifetime": 60000,
		"invitee": bob.userID, "offer": map[string]string{"type": "offer", "sdp": "v=0\r\n"}}
	if _, err := raw.SendMessageEvent(context.Background(), mxid.RoomID(roomID), event.Type{Type: callengine.EventInvite, Class: event.MessageEventType}, content); err != nil {
		t.Fatal(err)
	}

	id := place(t, a, roomID, b)
	b.spy.mu.Lock()
	calls := slices.Clone(b.spy.calls)
	b.spy.mu.Unlock()
	if slices.Contains(calls, forged) || !slices.Contains(calls, id) {
		t.Fatalf("invites handed to bob's engine %v: want %s and not the plaintext %s", calls, id, forged)
	}
	hangupAndCheck(t, a, b, id)
}

// TestIntegrationMatrixRTCKeysOverOlm: a MatrixRTC media key goes out
// Olm-encrypted to the other device and arrives there decrypted, with the
// sending device as Olm authenticated it; the homeserver only ever sees
// m.room.encrypted. Room keys keep working alongside (a call still rings).
func TestIntegrationMatrixRTCKeysOverOlm(t *testing.T) {
	itLeakCheck(t)
	alice, bob := register(t, "alice"), register(t, "bob")
	a := login(t, "alice", alice, devOpts{})
	b := login(t, "bob", bob, devOpts{})
	roomID := dm(t, a, b)
	got := make(chan matrixrtc.ToDeviceEvent, 4)
	b.c.SetToDeviceHandler(func(ev matrixrtc.ToDeviceEvent) { got <- ev })
	content := map[string]any{
		"keys":    map[string]any{"index": 0, "key": "AAECAwQFBgcICQoLDA0ODw=="},
		"room_id": roomID,
		"member":  map[string]any{"claimed_device_id": a.c.DeviceID(), "id": "x"},
		"session": map[string]any{"application": "m.call", "call_id": "", "scope": "m.room"},
		"sent_ts": time.Now().UnixMilli(),
	}
	ctx := context.Background()
	if err := a.c.SendToDevice(ctx, matrixrtc.TypeEncryptionKeys, map[string]map[string]any{bob.userID: {b.c.DeviceID(): content}}); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-got:
		if ev.Sender != alice.userID || ev.SenderDevice != a.c.DeviceID() || ev.Type != matrixrtc.TypeEncryptionKeys {
			t.Fatalf("to-device event = %+v", ev)
		}
		var c struct {
			Keys struct {
				Key string `json:"key"`
			} `json:"keys"`
			RoomID string `json:"room_id"`
		}
		if err := json.Unmarshal(ev.Content, &c); err != nil || c.RoomID != roomID || c.Keys.Key != "AAECAwQFBgcICQoLDA0ODw==" {
			t.Fatalf("key event content: %v (%s)", err, ev.Content)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the key did not arrive")
	}
	// Olm did not break the room keys: a call still rings at bob.
	callID, err := a.e.PlaceCall(ctx, roomID, bob.userID, false, callengine.Media{})
	if err != nil {
		t.Fatal(err)
	}
	b.waitState(callID, callengine.StateRinging)
}
