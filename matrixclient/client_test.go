package matrixclient

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/mxcall/mxcall/callengine"
	"github.com/mxcall/mxcall/matrixrtc"
)

func loggedIn(t *testing.T, f *fakeHS, opts ...Option) (*Client, *MemoryKeyring) {
	t.Helper()
	kr := NewMemoryKeyring()
	log, _ := testLogger(t)
	opts = append([]Option{WithKeyring(kr), WithLogger(log), WithHTTPClient(f.srv.Client()), WithE2EE(false), WithDataDir(t.TempDir()),
		WithReconnectBackoff(5*time.Millisecond, 20*time.Millisecond), WithSyncTimeout(100 * time.Millisecond),
		WithSendRetries(8, time.Millisecond, 10*time.Millisecond)}, opts...)
	c := New(opts...)
	if err := c.Login(context.Background(), "@alice:hs", "right-password", f.srv.URL); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, kr
}

func TestLoginDiscoveryKeyringRestoreLogout(t *testing.T) {
	f := newFakeHS(t, true)
	u, _ := url.Parse(f.srv.URL)
	user := "@alice:" + u.Host
	kr := NewMemoryKeyring()
	log, _ := testLogger(t)
	dataDir := t.TempDir()
	c := New(WithKeyring(kr), WithLogger(log), WithHTTPClient(f.srv.Client()), WithKeyringService("mxcall-test"), WithDataDir(dataDir))
	ctx := context.Background()

	if err := c.Login(ctx, user, "wrong", ""); !errors.Is(err, ErrLogin) {
		t.Fatalf("wrong password: err = %v, want ErrLogin", err)
	}
	if err := c.Login(ctx, user, "right-password", ""); err != nil { // discovered via .well-known
		t.Fatal(err)
	}
	st := c.Status()
	if !st.LoggedIn || st.HomeserverURL != f.srv.URL || st.UserID != user || st.DeviceID != "DEV1" || st.Keyring != nil {
		t.Fatalf("status after login = %+v", st)
	}
	raw, err := kr.Get("mxcall-test", sessionAccount)
	if err != nil || !strings.Contains(raw, fakeToken) {
		t.Fatalf("keyring holds %q, %v; want the session", raw, err)
	}
	if s := st.HomeserverURL + c.sess.String(); strings.Contains(s, fakeToken) {
		t.Fatal("String() shows the token")
	}

	// A new process restores the session from the keyring.
	c2 := New(WithKeyring(kr), WithLogger(log), WithHTTPClient(f.srv.Client()), WithKeyringService("mxcall-test"), WithDataDir(dataDir))
	ok, err := c2.Restore(ctx)
	if !ok || err != nil || c2.Status().UserID != user || c2.Status().DeviceID != "DEV1" {
		t.Fatalf("restore = %v, %v, %+v", ok, err, c2.Status())
	}
	if err := c2.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := kr.Get("mxcall-test", sessionAccount); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("keyring after logout: %v", err)
	}
	f.mu.Lock()
	out := f.loggedOut
	f.mu.Unlock()
	if !out || c2.Status().LoggedIn {
		t.Fatal("logout did not invalidate the token on the server")
	}
	c3 := New(WithKeyring(kr), WithKeyringService("mxcall-test"))
	if ok, err := c3.Restore(ctx); ok || err != nil {
		t.Fatalf("restore after logout = %v, %v", ok, err)
	}
}

func TestDiscoveryWithoutWellKnownAndBadUserID(t *testing.T) {
	c := New()
	if _, err := ServerName("alice"); !errors.Is(err, ErrInvalidUserID) {
		t.Fatalf("ServerName(alice) err = %v", err)
	}
	if err := c.Login(context.Background(), "not-a-user", "x", ""); !errors.Is(err, ErrInvalidUserID) {
		t.Fatalf("err = %v", err)
	}
	// Nothing listens on this address: discovery fails clearly.
	c = New(WithHTTPClient(nil))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Login(ctx, "@a:127.0.0.1:1", "x", ""); !errors.Is(err, ErrDiscovery) {
		t.Fatalf("err = %v, want ErrDiscovery", err)
	}
}

func TestNoKeyring(t *testing.T) {
	f := newFakeHS(t, false)
	kr := NewMemoryKeyring()
	kr.Fail = errors.New("dbus: no session bus")
	log, _ := testLogger(t)
	c := New(WithKeyring(kr), WithLogger(log))
	if ok, err := c.Restore(context.Background()); ok || !errors.Is(err, ErrNoKeyring) {
		t.Fatalf("restore = %v, %v; want ErrNoKeyring", ok, err)
	}
	if err := c.Login(context.Background(), "@alice:hs", "right-password", f.srv.URL); err != nil {
		t.Fatalf("login must work without a keyring: %v", err)
	}
	st := c.Status()
	if !st.LoggedIn || !errors.Is(st.Keyring, ErrNoKeyring) {
		t.Fatalf("status = %+v; want logged in, Keyring = ErrNoKeyring", st)
	}
	if err := c.Logout(context.Background()); err == nil || !errors.Is(err, ErrNoKeyring) {
		t.Fatalf("logout err = %v", err)
	}
}

func TestSendCallEventRetriesWithoutDuplicates(t *testing.T) {
	f := newFakeHS(t, false)
	c, _ := loggedIn(t, f)
	f.mu.Lock()
	f.sendFails = []int{500, 429, 0, 502}
	f.mu.Unlock()
	content := callengine.Hangup{Base: callengine.Base{CallID: "c1", PartyID: "p1", Version: callengine.Version1}, Reason: callengine.ReasonUserHangup}
	if err := c.SendCallEvent(context.Background(), "!r:hs", callengine.EventHangup, content); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	txns := slices.Clone(f.sendTxns)
	n := len(f.sends)
	body := string(f.sends[txns[0]])
	f.mu.Unlock()
	if len(txns) != 5 || n != 1 {
		t.Fatalf("attempts %d, events stored %d; want 5 attempts, 1 event", len(txns), n)
	}
	for _, x := range txns {
		if x != txns[0] {
			t.Fatalf("retries used different transaction IDs: %v", txns)
		}
	}
	if !strings.Contains(body, `"version":"1"`) || !strings.Contains(body, `"reason":"user_hangup"`) {
		t.Fatalf("sent %s", body)
	}

	// A second event gets a new transaction ID.
	if err := c.SendCallEvent(context.Background(), "!r:hs", callengine.EventHangup, content); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	if len(f.sends) != 2 {
		t.Fatalf("second event not stored separately")
	}
	// Client errors are not retried.
	f.sendFails = []int{403}
	before := len(f.sendTxns)
	f.mu.Unlock()
	err := c.SendCallEvent(context.Background(), "!r:hs", callengine.EventHangup, content)
	f.mu.Lock()
	after := len(f.sendTxns)
	f.mu.Unlock()
	if !errors.Is(err, ErrSendFailed) || after-before != 1 {
		t.Fatalf("403: err = %v, attempts %d", err, after-before)
	}
	// Give up after the configured attempts.
	f.mu.Lock()
	f.sendFails = slices.Repeat([]int{503}, 20)
	f.mu.Unlock()
	if err := c.SendCallEvent(context.Background(), "!r:hs", callengine.EventHangup, content); !errors.Is(err, ErrSendFailed) {
		t.Fatalf("err = %v", err)
	}
}

const initialSync = `{"next_batch":"s1",
 "account_data":{"events":[{"type":"m.direct","content":{"@bob:hs":["!dm:hs"]}}]},
 "rooms":{
  "join":{
   "!dm:hs":{"state":{"events":[
      {"type":"m.room.member","state_key":"@alice:hs","sender":"@alice:hs","event_id":"$m1","content":{"membership":"join","displayname":"Alice"}},
      {"type":"m.room.member","state_key":"@bob:hs","sender":"@bob:hs","event_id":"$m2","content":{"membership":"join","displayname":"Bob"}}]},
    "timeline":{"events":[
      {"type":"m.call.invite","sender":"@bob:hs","event_id":"$c1","unsigned":{"age":1500},"content":{"call_id":"c1","party_id":"pb","version":"1","lifetime":"sixty","offer":{"type":"offer","sdp":"v=0"}}},
      {"type":"m.call.hangup","sender":"@bob:hs","event_id":"$c2","unsigned":{"age":100},"content":{"call_id":"c1","party_id":"pb","version":"1"}}]}},
   "!group:hs":{"state":{"events":[
      {"type":"m.room.name","state_key":"","sender":"@carol:hs","event_id":"$n","content":{"name":"Team"}},
      {"type":"m.room.member","state_key":"@alice:hs","sender":"@alice:hs","event_id":"$g1","content":{"membership":"join"}},
      {"type":"m.room.member","state_key":"@bob:hs","sender":"@bob:hs","event_id":"$g2","content":{"membership":"join"}},
      {"type":"m.room.member","state_key":"@carol:hs","sender":"@carol:hs","event_id":"$g3","content":{"membership":"join"}}]},
    "timeline":{"events":[
      {"type":"m.call.invite","sender":"@carol:hs","event_id":"$gi","content":{"call_id":"g1","party_id":"pc","version":"1","lifetime":60000,"offer":{"type":"offer","sdp":"v=0"}}}]}}
  },
  "invite":{"!inv:hs":{"invite_state":{"events":[
      {"type":"m.room.member","state_key":"@alice:hs","sender":"@dave:hs","content":{"membership":"invite","is_direct":true}},
      {"type":"m.room.member","state_key":"@dave:hs","sender":"@dave:hs","content":{"membership":"join","displayname":"Dave"}}]}}}
 }}`

const leaveSync = `{"next_batch":"s2","rooms":{"join":{"!dm:hs":{"timeline":{"events":[
  {"type":"m.call.hangup","sender":"@bob:hs","event_id":"$c3","unsigned":{"age":5},"content":{"call_id":"c9","party_id":"pb","version":"1"}},
  {"type":"m.room.member","state_key":"@bob:hs","sender":"@bob:hs","event_id":"$m3","content":{"membership":"leave"}}]}}}}}`

func TestSyncBatchesRoomsAndPeerLeft(t *testing.T) {
	f := newFakeHS(t, false)
	var changes []Change
	rec := newRecorder()
	c, _ := loggedIn(t, f, WithOnChange(func(ch Change) {
		rec.mu.Lock()
		changes = append(changes, ch)
		rec.mu.Unlock()
	}))
	c.SetCallHandler(rec)
	f.pushSync(initialSync)
	before := time.Now()
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); !errors.Is(err, ErrAlreadyStarted) {
		t.Fatalf("second Start: %v", err)
	}
	rec.waitFor(t, "first batch", func() bool { return len(rec.batches) == 1 })

	rec.mu.Lock()
	b := rec.batches[0]
	rec.mu.Unlock()
	// The whole batch at once, invite and hangup together; the group-room invite is not passed on.
	if len(b) != 2 || b[0].Type != callengine.EventInvite || b[1].Type != callengine.EventHangup {
		t.Fatalf("batch = %+v", b)
	}
	if b[0].Age != 1500*time.Millisecond || b[0].Received.Before(before) || b[0].Received != b[1].Received ||
		b[0].RoomID != "!dm:hs" || b[0].Sender != "@bob:hs" || b[0].EventID != "$c1" {
		t.Fatalf("event fields: %+v", b[0])
	}
	// Raw content survives even where mautrix's own struct would not parse it.
	if !strings.Contains(string(b[0].Content), `"lifetime":"sixty"`) {
		t.Fatalf("content = %s", b[0].Content)
	}

	rooms := c.Rooms()
	if len(rooms) != 2 {
		t.Fatalf("rooms = %+v", rooms)
	}
	dm, ok := c.Room("!dm:hs")
	if !ok || dm.Name != "Bob" || dm.DirectPeer != "@bob:hs" || dm.CallPeer != "@bob:hs" || len(dm.Members) != 2 {
		t.Fatalf("dm = %+v", dm)
	}
	group, _ := c.Room("!group:hs")
	if group.Name != "Team" || group.Callable() {
		t.Fatalf("group = %+v", group)
	}
	if _, err := c.CallPeer("!group:hs"); !errors.Is(err, ErrNotCallable) {
		t.Fatalf("CallPeer(group) err = %v", err)
	}
	if _, err := c.CallPeer("!nope:hs"); !errors.Is(err, ErrUnknownRoom) {
		t.Fatalf("CallPeer(unknown) err = %v", err)
	}
	if p, err := c.CallPeer("!dm:hs"); err != nil || p != "@bob:hs" {
		t.Fatalf("CallPeer(dm) = %q, %v", p, err)
	}
	if r, ok := c.DirectRoom("@bob:hs"); !ok || r != "!dm:hs" {
		t.Fatalf("DirectRoom = %q, %v", r, ok)
	}
	inv := c.Invites()
	if len(inv) != 1 || inv[0].RoomID != "!inv:hs" || inv[0].Inviter != "@dave:hs" || inv[0].InviterName != "Dave" || !inv[0].IsDirect {
		t.Fatalf("invites = %+v", inv)
	}
	if st := c.Status(); st.Conn != ConnOnline {
		t.Fatalf("conn = %v", st.Conn)
	}

	// Bob leaves: the hangup of the same batch goes first, then PeerLeft.
	f.pushSync(leaveSync)
	rec.waitFor(t, "peer left", func() bool { return len(rec.left) == 1 })
	rec.mu.Lock()
	order := strings.Join(rec.order, ",")
	left := rec.left[0]
	rec.mu.Unlock()
	if left != "!dm:hs @bob:hs" || !strings.HasSuffix(order, "events,left") {
		t.Fatalf("left = %q, order = %s", left, order)
	}
	if _, err := c.CallPeer("!dm:hs"); !errors.Is(err, ErrNotCallable) {
		t.Fatalf("room still callable after the peer left: %v", err)
	}
	rec.mu.Lock()
	sawRooms := slices.Contains(changes, ChangeRooms) && slices.Contains(changes, ChangeConnection)
	rec.mu.Unlock()
	if !sawRooms {
		t.Fatalf("changes = %v", changes)
	}

	// Accept the DM invite: join and record it in m.direct under the inviter.
	if err := c.AcceptInvite(context.Background(), "!inv:hs"); err != nil {
		t.Fatal(err)
	}
	// Joined: not an invite any more, before any sync says so (the echo
	// partner joined every DM twice).
	for _, inv := range c.Invites() {
		if inv.RoomID == "!inv:hs" {
			t.Fatal("an accepted invite is still listed")
		}
	}
	if err := c.DeclineInvite(context.Background(), "!other:hs"); err != nil {
		t.Fatal(err)
	}
	roomID, err := c.CreateDM(context.Background(), "@erin:hs")
	if err != nil || roomID != "!new:hs" {
		t.Fatalf("CreateDM = %q, %v", roomID, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !slices.Equal(f.joined, []string{"!inv:hs"}) || !slices.Equal(f.left, []string{"!other:hs"}) {
		t.Fatalf("joined %v left %v", f.joined, f.left)
	}
	if !slices.Equal(f.direct["@dave:hs"], []string{"!inv:hs"}) || !slices.Equal(f.direct["@erin:hs"], []string{"!new:hs"}) {
		t.Fatalf("m.direct = %v", f.direct)
	}
	if req := f.created[0]; req["is_direct"] != true || req["preset"] != "trusted_private_chat" {
		t.Fatalf("createRoom = %v", req)
	}
}

func TestReconnectStates(t *testing.T) {
	f := newFakeHS(t, false)
	var states []ConnState
	var c *Client
	rec := newRecorder()
	c, _ = loggedIn(t, f, WithOnChange(func(ch Change) {
		if ch == ChangeConnection {
			rec.mu.Lock()
			states = append(states, c.Status().Conn)
			rec.mu.Unlock()
		}
	}))
	for range 4 {
		f.syncs <- fakeSync{status: 502, body: `{"errcode":"M_UNKNOWN"}`}
	}
	f.pushSync(`{"next_batch":"s1"}`)
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, "online", func() bool { return len(states) > 0 && states[len(states)-1] == ConnOnline })
	// Drop the connection after being online.
	f.syncs <- fakeSync{status: 503, body: `{}`}
	f.syncs <- fakeSync{status: 503, body: `{}`}
	f.syncs <- fakeSync{status: 503, body: `{}`}
	f.pushSync(`{"next_batch":"s2"}`)
	rec.waitFor(t, "back online", func() bool {
		return slices.Contains(states, ConnOffline) && states[len(states)-1] == ConnOnline && slices.Contains(states, ConnReconnecting)
	})
	rec.mu.Lock()
	got := slices.Clone(states)
	rec.mu.Unlock()
	if got[0] != ConnConnecting {
		t.Fatalf("states = %v", got)
	}
	c.Stop()
	if st := c.Status().Conn; st != ConnStopped {
		t.Fatalf("after Stop: %v", st)
	}
}

func TestSessionExpiredInSync(t *testing.T) {
	f := newFakeHS(t, false)
	c, kr := loggedIn(t, f)
	f.mu.Lock()
	f.loggedOut = true // token revoked elsewhere
	f.mu.Unlock()
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !c.Status().Expired && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	st := c.Status()
	if !st.Expired || st.LoggedIn || !errors.Is(st.ConnErr, ErrSessionExpired) {
		t.Fatalf("status = %+v", st)
	}
	if _, err := kr.Get("mxcall", sessionAccount); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("expired session still in keyring: %v", err)
	}
	c.Stop()
}

func TestTURNFetchRefreshAndNone(t *testing.T) {
	f := newFakeHS(t, false)
	f.turn = `{"username":"1:@alice:hs","password":"` + fakeTURNPass + `","ttl":1,"uris":["turn:127.0.0.1:3478?transport=udp"]}`
	c, _ := loggedIn(t, f)
	rec := newRecorder()
	c.SetCallHandler(rec)
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	// ttl 1 s: fetched at start and again about 0.75–1 s later.
	rec.waitFor(t, "two TURN fetches", func() bool { return len(rec.ice) >= 2 })
	rec.mu.Lock()
	s := rec.ice[0]
	rec.mu.Unlock()
	if len(s) != 1 || s[0].Credential != fakeTURNPass || s[0].URLs[0] != "turn:127.0.0.1:3478?transport=udp" {
		t.Fatalf("ICE servers = %+v", s)
	}
	st := c.Status().TURN
	if st.State != TURNAvailable || len(st.URIs) != 1 || st.Expires.IsZero() {
		t.Fatalf("TURN status = %+v", st)
	}
	// A handler set later gets the current servers at once.
	late := newRecorder()
	c.SetCallHandler(late)
	late.waitFor(t, "servers for a late handler", func() bool { return len(late.ice) == 1 })
	c.Stop()

	// An empty answer is a visible "no TURN server" state.
	f.mu.Lock()
	f.turn = `{}`
	f.mu.Unlock()
	rec2 := newRecorder()
	c.SetCallHandler(rec2)
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	rec2.waitFor(t, "no TURN", func() bool { return len(rec2.ice) >= 2 && rec2.ice[len(rec2.ice)-1] == nil })
	if st := c.Status().TURN; st.State != TURNNone || st.State.String() != "no TURN server" {
		t.Fatalf("TURN status = %+v", st)
	}
	if len(c.ICEServers()) != 0 {
		t.Fatal("ICE servers kept after empty answer")
	}
}

func TestBackoff(t *testing.T) {
	for n := 1; n < 20; n++ {
		d := backoff(n, 100*time.Millisecond, time.Second)
		if d < 80*time.Millisecond || d > 1200*time.Millisecond {
			t.Fatalf("backoff(%d) = %v", n, d)
		}
	}
	if d := backoff(1, 100*time.Millisecond, time.Second); d > 120*time.Millisecond {
		t.Fatalf("first backoff %v", d)
	}
	if turnRefresh(time.Hour) != 45*time.Minute || turnRefresh(0) != time.Second {
		t.Fatal("turnRefresh")
	}
}

func TestSystemKeyringWithoutSecretService(t *testing.T) {
	// No D-Bus session bus: the real keyring fails, clearly.
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/mxcall-test-bus")
	c := New(WithKeyringService("mxcall-unit-test"))
	ok, err := c.Restore(context.Background())
	if ok || !errors.Is(err, ErrNoKeyring) || !errors.Is(c.Status().Keyring, ErrNoKeyring) {
		t.Fatalf("restore = %v, %v", ok, err)
	}
}

func TestNoPlaintextIntoEncryptedRoom(t *testing.T) {
	f := newFakeHS(t, false)
	c, _ := loggedIn(t, f) // E2EE off
	content := callengine.Hangup{Base: callengine.Base{CallID: "c1", PartyID: "p1", Version: callengine.Version1}}
	// Before the first sync: the room's state is fetched and found encrypted.
	err := c.SendCallEvent(context.Background(), "!enc:hs", callengine.EventHangup, content)
	if !errors.Is(err, ErrNoE2EE) {
		t.Fatalf("err = %v, want ErrNoE2EE", err)
	}
	// Known from sync as encrypted.
	c.mu.Lock()
	c.rooms.room("!enc2:hs").encrypted = true
	c.mu.Unlock()
	if err := c.SendCallEvent(context.Background(), "!enc2:hs", callengine.EventHangup, content); !errors.Is(err, ErrNoE2EE) {
		t.Fatalf("err = %v, want ErrNoE2EE", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.sendTxns) != 0 {
		t.Fatalf("%d sends reached the server", len(f.sendTxns))
	}
}

func TestLateEventsDeliveredTogetherInServerOrder(t *testing.T) {
	var l lateEvents
	got := make(chan []item, 1)
	mk := func(typ string) item { return item{kind: itemCall, call: callengine.RoomEvent{Type: typ}} }
	flush := func(items []item) { got <- items }
	// Decrypted by separate goroutines, so they come in any order.
	l.add(mk(callengine.EventCandidates), 300, flush)
	l.add(mk(callengine.EventHangup), 900, flush)
	l.add(mk(callengine.EventInvite), 100, flush)
	items := <-got
	var types []string
	for _, it := range items {
		types = append(types, it.call.Type)
	}
	want := []string{callengine.EventInvite, callengine.EventCandidates, callengine.EventHangup}
	if !slices.Equal(types, want) {
		t.Fatalf("order %v, want %v", types, want)
	}
}

// encSyncs: an encrypted DM known from the first sync, a plain DM, then a
// room joined later whose state (m.room.encryption) comes with a call
// event, then the plain DM turning encrypted in the batch of a call event.
// Every plaintext m.call.* event in an encrypted room is one a homeserver
// could have made up.
var encSyncs = []string{`{"next_batch":"e1","rooms":{"join":{
   "!enc:hs":{"state":{"events":[
      {"type":"m.room.encryption","state_key":"","sender":"@bob:hs","event_id":"$e0","content":{"algorithm":"m.megolm.v1.aes-sha2"}},
      {"type":"m.room.member","state_key":"@alice:hs","sender":"@alice:hs","event_id":"$e1","content":{"membership":"join"}},
      {"type":"m.room.member","state_key":"@bob:hs","sender":"@bob:hs","event_id":"$e2","content":{"membership":"join"}}]},
    "timeline":{"events":[
      {"type":"m.call.invite","sender":"@bob:hs","event_id":"$forged1","content":{"call_id":"c1","party_id":"pb","version":"1","lifetime":60000,"offer":{"type":"offer","sdp":"v=0 SECRET-SDP"}}}]}},
   "!plain:hs":{"state":{"events":[
      {"type":"m.room.member","state_key":"@alice:hs","sender":"@alice:hs","event_id":"$p1","content":{"membership":"join"}},
      {"type":"m.room.member","state_key":"@bob:hs","sender":"@bob:hs","event_id":"$p2","content":{"membership":"join"}}]},
    "timeline":{"events":[
      {"type":"m.call.invite","sender":"@bob:hs","event_id":"$ok1","content":{"call_id":"c2","party_id":"pb","version":"1","lifetime":60000,"offer":{"type":"offer","sdp":"v=0"}}}]}}}}}`,
	`{"next_batch":"e2","rooms":{"join":{
   "!enc:hs":{"timeline":{"events":[
      {"type":"m.call.hangup","sender":"@bob:hs","event_id":"$forged2","content":{"call_id":"c1","party_id":"pb","version":"1"}}]}},
   "!joined:hs":{"state":{"events":[
      {"type":"m.room.member","state_key":"@alice:hs","sender":"@alice:hs","event_id":"$j1","content":{"membership":"join"}},
      {"type":"m.room.member","state_key":"@carol:hs","sender":"@carol:hs","event_id":"$j2","content":{"membership":"join"}},
      {"type":"m.room.encryption","state_key":"","sender":"@carol:hs","event_id":"$j0","content":{"algorithm":"m.megolm.v1.aes-sha2"}}]},
    "timeline":{"events":[
      {"type":"m.call.invite","sender":"@carol:hs","event_id":"$forged3","content":{"call_id":"c3","party_id":"pc","version":"1","lifetime":60000,"offer":{"type":"offer","sdp":"v=0"}}}]}},
   "!plain:hs":{"timeline":{"events":[
      {"type":"m.call.candidates","sender":"@bob:hs","event_id":"$ok2","content":{"call_id":"c2","party_id":"pb","version":"1","candidates":[]}}]}}}}}`,
	`{"next_batch":"e3","rooms":{"join":{
   "!plain:hs":{"timeline":{"events":[
      {"type":"m.call.hangup","sender":"@bob:hs","event_id":"$forged4","content":{"call_id":"c2","party_id":"pb","version":"1"}},
      {"type":"m.room.encryption","state_key":"","sender":"@bob:hs","event_id":"$p0","content":{"algorithm":"m.megolm.v1.aes-sha2"}}]}},
   "!other:hs":{"state":{"events":[
      {"type":"m.room.member","state_key":"@alice:hs","sender":"@alice:hs","event_id":"$o1","content":{"membership":"join"}}]},
    "timeline":{"events":[
      {"type":"m.call.hangup","sender":"@dave:hs","event_id":"$ok3","content":{"call_id":"c4","party_id":"pd","version":"1"}}]}}}}}`,
}

func TestUnencryptedCallEventsInEncryptedRoomIgnored(t *testing.T) {
	f := newFakeHS(t, false)
	log, lb := testLogger(t)
	rec := newRecorder()
	c, _ := loggedIn(t, f, WithLogger(log))
	c.SetCallHandler(rec)
	for _, s := range encSyncs {
		f.pushSync(s)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, "three batches", func() bool { return len(rec.batches) == 3 })
	rec.mu.Lock()
	var got []string
	for _, b := range rec.batches {
		for _, ev := range b {
			got = append(got, ev.EventID)
		}
	}
	rec.mu.Unlock()
	if want := []string{"$ok1", "$ok2", "$ok3"}; !slices.Equal(got, want) {
		t.Fatalf("events handed to the engine %v, want %v", got, want)
	}
	logs := lb.String()
	for _, id := range []string{"$forged1", "$forged2", "$forged3", "$forged4"} {
		if n := strings.Count(logs, "event_id="+id); n != 1 {
			t.Errorf("%s logged %d times, want once:\n%s", id, n, logs)
		}
	}
	if strings.Contains(logs, "SECRET-SDP") {
		t.Errorf("the log shows event content:\n%s", logs)
	}
	for _, r := range []string{"!enc:hs", "!joined:hs", "!plain:hs"} {
		if room, _ := c.Room(r); !room.Encrypted {
			t.Errorf("%s not known as encrypted", r)
		}
	}
}

func TestRoomModelKeepsEncryptedCallEvents(t *testing.T) {
	const me = "@alice:hs"
	member := func(room, user string) item {
		return item{kind: itemMember, roomID: room, source: event.SourceJoin | event.SourceState, stateKey: user, membership: "join"}
	}
	call := func(room, typ, eventID string, encrypted bool) item {
		return item{kind: itemCall, roomID: room, source: event.SourceJoin | event.SourceTimeline, encrypted: encrypted,
			call: callengine.RoomEvent{RoomID: room, Type: typ, EventID: eventID, Sender: "@bob:hs"}}
	}
	enc := item{kind: itemEncryption, roomID: "!r:hs", source: event.SourceJoin | event.SourceState}
	tests := []struct {
		name        string
		items       []item
		kept, plain []string
	}{
		{"plain room, plaintext", []item{member("!r:hs", me), member("!r:hs", "@bob:hs"), call("!r:hs", callengine.EventInvite, "$a", false)},
			[]string{"$a"}, nil},
		{"encrypted room, decrypted", []item{enc, member("!r:hs", me), member("!r:hs", "@bob:hs"),
			call("!r:hs", callengine.EventInvite, "$a", true), call("!r:hs", callengine.EventHangup, "$b", true)},
			[]string{"$a", "$b"}, nil},
		{"encrypted room, plaintext", []item{enc, member("!r:hs", me), member("!r:hs", "@bob:hs"),
			call("!r:hs", callengine.EventInvite, "$a", false), call("!r:hs", callengine.EventCandidates, "$b", true)},
			[]string{"$b"}, []string{"$a"}},
		{"encryption later in the batch", []item{member("!r:hs", me), member("!r:hs", "@bob:hs"),
			call("!r:hs", callengine.EventHangup, "$a", false), enc},
			nil, []string{"$a"}},
	}
	ids := func(evs []callengine.RoomEvent) []string {
		var out []string
		for _, ev := range evs {
			out = append(out, ev.EventID)
		}
		return out
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newRoomModel()
			kept, _, plain, _, _ := m.apply(me, &batch{joined: []string{"!r:hs"}, items: tt.items})
			if !slices.Equal(ids(kept), tt.kept) || !slices.Equal(ids(plain), tt.plain) {
				t.Fatalf("kept %v plain %v, want %v %v", ids(kept), ids(plain), tt.kept, tt.plain)
			}
		})
	}
}

// TestSyncFeedsMatrixRTCEvents checks what the MatrixRTC tracker gets from
// a sync batch: memberships from the state and timeline sections, rings and
// declines from the timeline, the m.room.member events they are judged by,
// never a plaintext ring in an encrypted room, and a pseudo-event for a
// room we left.
func TestSyncFeedsMatrixRTCEvents(t *testing.T) {
	const me = "@alice:hs"
	ev := func(room, typ, eventID string, stateKey *string, src event.Source, content string, encrypted bool) item {
		e := &event.Event{RoomID: id.RoomID(room), ID: id.EventID(eventID), Sender: "@bob:hs", Type: event.Type{Type: typ}, StateKey: stateKey, Timestamp: 1000}
		e.Content.VeryRaw = json.RawMessage(content)
		e.Mautrix.EventSource = src
		e.Mautrix.WasEncrypted = encrypted
		it, ok := decodeEvent(e)
		if !ok {
			return item{}
		}
		return it
	}
	sk := func(s string) *string { return &s }
	state, timeline := event.SourceJoin|event.SourceState, event.SourceJoin|event.SourceTimeline
	member := `{"application":"m.call","call_id":"","device_id":"D","focus_active":{"type":"livekit","focus_selection":"multi_sfu"},"foci_preferred":[],"scope":"m.room"}`
	items := []item{
		ev("!enc:hs", "m.room.encryption", "$e", sk(""), state, `{"algorithm":"m.megolm.v1.aes-sha2"}`, false),
		ev("!enc:hs", "m.room.member", "$j", sk("@bob:hs"), state, `{"membership":"join"}`, false),
		ev("!enc:hs", matrixrtc.TypeCallMember, "$m1", sk("_@bob:hs_D_m.call"), state, member, false),
		ev("!enc:hs", matrixrtc.TypeCallMember, "$m2", sk("_@bob:hs_D_m.call"), timeline, member, false),
		ev("!enc:hs", matrixrtc.TypeRTCNotification, "$plain", nil, timeline, `{"notification_type":"ring"}`, false),
		ev("!enc:hs", matrixrtc.TypeRTCNotification, "$ring", nil, timeline, `{"notification_type":"ring"}`, true),
		ev("!enc:hs", matrixrtc.TypeRTCDecline, "$decl", nil, timeline, `{}`, true),
		ev("!enc:hs", matrixrtc.TypeCallMember, "$inv", sk("_@bob:hs_D_m.call"), event.SourceInvite|event.SourceState, member, false),
		ev("!enc:hs", matrixrtc.TypeRTCNotification, "$statering", sk(""), state, `{}`, false),
		ev("!plain:hs", matrixrtc.TypeCallNotify, "$notify", nil, timeline, `{"notify_type":"ring"}`, false),
	}
	m := newRoomModel()
	_, rtc, plain, _, _ := m.apply(me, &batch{joined: []string{"!enc:hs", "!plain:hs"}, left: []string{"!gone:hs"}, items: items})
	var got []string
	for _, e := range rtc {
		got = append(got, e.RoomID+" "+e.Type+" "+e.EventID)
	}
	want := []string{
		"!enc:hs m.room.member $j",
		"!enc:hs " + matrixrtc.TypeCallMember + " $m1",
		"!enc:hs " + matrixrtc.TypeCallMember + " $m2",
		"!enc:hs " + matrixrtc.TypeRTCNotification + " $ring",
		"!enc:hs " + matrixrtc.TypeRTCDecline + " $decl",
		"!plain:hs " + matrixrtc.TypeCallNotify + " $notify",
		"!gone:hs " + matrixrtc.TypeLeftRoom + " ",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("rtc events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(plain) != 1 || plain[0].EventID != "$plain" {
		t.Fatalf("plain = %+v, want the plaintext ring", plain)
	}
	if rtc[1].StateKey == nil || *rtc[1].StateKey != "_@bob:hs_D_m.call" || string(rtc[1].Content) != member || rtc[1].OriginServerTS != 1000 {
		t.Fatalf("membership event = %+v", rtc[1])
	}
}
