//go:build integration

// Integration tests against a real Dendrite and coturn, started by
// scripts/test-integration.sh inside a loopback-only network namespace.
// Environment (set by the script):
//
//	MXCALL_HS_URL      homeserver base URL
//	MXCALL_HS_SCRIPT   scripts/homeserver.sh (for the restart test)
//	MXCALL_HS_DIR      the homeserver's data dir
//	MXCALL_KEYRING     "real": a Secret Service (gnome-keyring) is running
//	MXCALL_LOG_DIR     where test logs go (checked for secrets)
//	MXCALL_SECRET_DIRS colon-separated dirs checked for secrets (HOME, XDG dirs)
package matrixclient

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	mxid "maunium.net/go/mautrix/id"

	"github.com/mxcall/mxcall/callengine"
	"github.com/mxcall/mxcall/callengine/calltest"
)

var (
	hsURL     string
	logFile   *os.File
	logMu     sync.Mutex
	secretsMu sync.Mutex
	secrets   = map[string]string{} // secret → what it is
)

func TestMain(m *testing.M) {
	hsURL = os.Getenv("MXCALL_HS_URL")
	if hsURL == "" {
		fmt.Fprintln(os.Stderr, "MXCALL_HS_URL not set: run scripts/test-integration.sh")
		os.Exit(2)
	}
	dir := os.Getenv("MXCALL_LOG_DIR")
	if dir == "" {
		dir = os.TempDir()
	}
	var err error
	logFile, err = os.Create(filepath.Join(dir, "matrixclient-integration.log"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	code := m.Run()
	_ = logFile.Close()
	os.Exit(code)
}

type lockedWriter struct{ w io.Writer }

func (l lockedWriter) Write(p []byte) (int, error) {
	logMu.Lock()
	defer logMu.Unlock()
	return l.w.Write(p)
}

func testLog(name string) (*slog.Logger, zerolog.Logger) {
	w := lockedWriter{logFile}
	sl := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})).With("who", name)
	zl := zerolog.New(w).Level(zerolog.TraceLevel).With().Str("who", name).Timestamp().Logger()
	return sl, zl
}

func addSecret(s, what string) {
	if s == "" {
		return
	}
	secretsMu.Lock()
	secrets[s] = what
	secretsMu.Unlock()
}

func init() { tolerantLeakCheck = func(t *testing.T) { itLeakCheck(t) } }

// itLeakCheck checks for leaked goroutines after the test's cleanups ran
// (engines and clients closed, idle HTTP connections dropped). Unlike
// pion's CheckRoutines it tolerates godbus's connection to the session
// bus, which go-keyring opens once and keeps for the whole process.
//
// ignore lists more goroutines to tolerate (substrings of their stacks).
func itLeakCheck(t *testing.T, ignore ...string) {
	t.Helper()
	t.Cleanup(func() {
		var left []string
		for try := 0; try < 50; try++ {
			time.Sleep(200 * time.Millisecond)
			left = left[:0]
			buf := make([]byte, 1<<22)
			buf = buf[:runtime.Stack(buf, true)]
			for _, g := range strings.Split(string(buf), "\n\n") {
				if strings.Contains(g, "godbus/dbus") || strings.Contains(g, "testing.") ||
					strings.Contains(g, "runtime.Stack") || strings.Contains(g, "os/signal.") ||
					strings.Contains(g, "integration_test.go") && strings.Contains(g, "TestMain") ||
					strings.Contains(g, verifyExpiry) ||
					slices.ContainsFunc(ignore, func(s string) bool { return strings.Contains(g, s) }) {
					continue
				}
				left = append(left, g)
			}
			if len(left) == 0 {
				return
			}
		}
		t.Errorf("%d goroutines left after the test:\n%s", len(left), strings.Join(left, "\n\n"))
	})
	t.Cleanup(http.DefaultTransport.(*http.Transport).CloseIdleConnections)
}

// account is a registered user.
type account struct{ userID, password string }

func register(t *testing.T, name string) account {
	t.Helper()
	mx, err := mautrix.NewClient(hsURL, "", "")
	if err != nil {
		t.Fatal(err)
	}
	local := fmt.Sprintf("%s%d", name, time.Now().UnixNano()%1e9)
	pw := "pw-" + randomID(16)
	resp, err := mx.RegisterDummy(context.Background(), &mautrix.ReqRegister[any]{
		Username: local, Password: pw, InhibitLogin: true,
	})
	if err != nil {
		t.Fatalf("register %s: %v", local, err)
	}
	return account{userID: resp.UserID.String(), password: pw}
}

// device is one logged-in client with its engine.
type device struct {
	t      *testing.T
	name   string
	c      *Client
	e      *callengine.Engine
	kr     Keyring
	svc    string
	spy    *spy
	mu     sync.Mutex
	infos  []callengine.CallInfo
	upd    chan struct{}
	rtp    map[string]*atomic.Int64 // by track kind
	tracks sync.WaitGroup

	closeOnce sync.Once
}

type devOpts struct {
	realKeyring bool
	relayOnly   bool
	plaintext   bool         // create unencrypted DMs
	keyring     Keyring      // reuse a keyring (restart tests)
	service     string       // and its service name
	http        *http.Client // custom transport (late-key test)
	syncTimeout time.Duration
	restore     bool // Restore instead of Login
}

func login(t *testing.T, name string, a account, o devOpts) *device {
	t.Helper()
	d := &device{t: t, name: name, upd: make(chan struct{}, 1000), rtp: map[string]*atomic.Int64{
		"audio": {}, "video": {},
	}}
	sl, zl := testLog(name)
	d.svc = cmpOr(o.service, "mxcall-it-"+randomID(8))
	d.kr = NewMemoryKeyring()
	if o.realKeyring {
		if os.Getenv("MXCALL_KEYRING") != "real" {
			t.Fatal("this test needs the real keyring (MXCALL_KEYRING=real under dbus-run-session + gnome-keyring)")
		}
		d.kr = SystemKeyring()
	}
	if o.keyring != nil {
		d.kr = o.keyring
	}
	opts := []Option{WithKeyring(d.kr), WithKeyringService(d.svc), WithLogger(sl), WithMautrixLogger(zl),
		WithReconnectBackoff(100*time.Millisecond, time.Second), WithDeviceName("mxcall-it-" + name),
		WithOnChange(func(Change) { d.poke() }), WithPlaintextDMs(o.plaintext),
		WithDataDir(filepath.Join(cmpOr(os.Getenv("HOME"), t.TempDir()), "mxcall-data"))}
	if o.http != nil {
		opts = append(opts, WithHTTPClient(o.http))
	}
	if o.syncTimeout > 0 {
		opts = append(opts, WithSyncTimeout(o.syncTimeout))
	}
	d.c = New(opts...)
	ctx := context.Background()
	if o.restore {
		if ok, err := d.c.Restore(ctx); !ok || err != nil {
			t.Fatalf("%s restore: %v %v", name, ok, err)
		}
	} else if err := d.c.Login(ctx, a.userID, a.password, hsURL); err != nil {
		t.Fatalf("%s login: %v", name, err)
	}
	st := d.c.Status()
	if o.realKeyring && st.Keyring != nil {
		t.Fatalf("%s: real keyring not used: %v", name, st.Keyring)
	}
	d.c.mu.Lock()
	addSecret(d.c.sess.AccessToken, "access token of "+name)
	d.c.mu.Unlock()
	addSecret(a.password, "password of "+name)
	d.startEngine(o)
	if err := d.c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.close)
	if E2EEAvailable {
		d.waitFor("end-to-end encryption", func() bool { return d.c.Status().E2EE })
	}
	return d
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func loopbackSettings() webrtc.SettingEngine { return calltest.LoopbackSettings() }

func (d *device) startEngine(o devOpts) {
	sl, _ := testLog(d.name + "/engine")
	d.spy = &spy{inner: d.c}
	e, err := callengine.New(d.c.UserID(), d.spy,
		callengine.WithSettingEngine(loopbackSettings()),
		callengine.WithRelayOnly(o.relayOnly),
		callengine.WithLogger(sl),
		callengine.WithOnUpdate(func(ci callengine.CallInfo) {
			d.mu.Lock()
			d.infos = append(d.infos, ci)
			d.mu.Unlock()
			d.poke()
		}),
		callengine.WithOnTrack(d.onTrack))
	if err != nil {
		d.t.Fatal(err)
	}
	d.e = e
	d.spy.handlerFor(d.c, e)
}

func (d *device) poke() {
	select {
	case d.upd <- struct{}{}:
	default:
	}
}

func (d *device) onTrack(rt callengine.RemoteTrack) {
	n := d.rtp[rt.Track.Kind().String()]
	if n == nil {
		return
	}
	d.tracks.Add(1)
	go func() {
		defer d.tracks.Done()
		for {
			if _, _, err := rt.Track.ReadRTP(); err != nil {
				return
			}
			n.Add(1)
		}
	}()
}

func (d *device) packets() (audio, video int64) { return d.rtp["audio"].Load(), d.rtp["video"].Load() }

func (d *device) close() {
	d.stop()
	_ = deleteSession(d.kr, d.svc)
}

// stop closes the engine and the client but keeps the stored session (a
// process exit).
func (d *device) stop() {
	d.closeOnce.Do(func() {
		_ = d.e.Close()
		d.tracks.Wait()
		_ = d.c.Close()
	})
}

// waitFor polls cond on every update until it holds or 20 s pass.
func (d *device) waitFor(what string, cond func() bool) {
	d.t.Helper()
	deadline := time.After(20 * time.Second)
	for !cond() {
		select {
		case <-d.upd:
		case <-time.After(25 * time.Millisecond):
		case <-deadline:
			d.t.Fatalf("%s: timed out waiting for %s (status %+v)", d.name, what, d.c.Status())
		}
	}
}

// call returns the latest snapshot of a call seen in OnUpdate.
func (d *device) last(pred func(callengine.CallInfo) bool) (callengine.CallInfo, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := len(d.infos) - 1; i >= 0; i-- {
		if pred(d.infos[i]) {
			return d.infos[i], true
		}
	}
	return callengine.CallInfo{}, false
}

func (d *device) waitState(callID string, s callengine.State) callengine.CallInfo {
	d.t.Helper()
	var ci callengine.CallInfo
	d.waitFor(fmt.Sprintf("call %s %v", callID, s), func() bool {
		var ok bool
		ci, ok = d.last(func(c callengine.CallInfo) bool { return (callID == "" || c.ID == callID) && c.State == s })
		return ok
	})
	return ci
}

// spy wraps the client as Signaller and the engine as CallHandler to time
// events: when a send returned, when a batch with an event arrived.
type spy struct {
	inner *Client
	e     *callengine.Engine
	mu    sync.Mutex
	start map[string]time.Time // "type call_id" → send started
	sent  map[string]time.Time // "type call_id" → send returned
	recv  map[string]time.Time // "type call_id" → HandleEvents called
	calls []string             // call IDs of invites received
}

func (s *spy) handlerFor(c *Client, e *callengine.Engine) {
	s.e = e
	s.start, s.sent, s.recv = map[string]time.Time{}, map[string]time.Time{}, map[string]time.Time{}
	c.SetCallHandler(s)
}

func callID(raw []byte) string {
	var b callengine.Base
	_ = json.Unmarshal(raw, &b)
	return b.CallID
}

func (s *spy) SendCallEvent(ctx context.Context, roomID, evType string, content any) error {
	raw, _ := json.Marshal(content)
	key := evType + " " + callID(raw)
	s.mu.Lock()
	if _, ok := s.start[key]; !ok {
		s.start[key] = time.Now()
	}
	s.mu.Unlock()
	err := s.inner.SendCallEvent(ctx, roomID, evType, content)
	s.mu.Lock()
	s.sent[key] = time.Now()
	s.mu.Unlock()
	return err
}

func (s *spy) HandleEvents(ctx context.Context, batch []callengine.RoomEvent) {
	now := time.Now()
	s.mu.Lock()
	for _, ev := range batch {
		k := ev.Type + " " + callID(ev.Content)
		if _, ok := s.recv[k]; !ok {
			s.recv[k] = now
		}
		if ev.Type == callengine.EventInvite {
			s.calls = append(s.calls, callID(ev.Content))
		}
	}
	s.mu.Unlock()
	s.e.HandleEvents(ctx, batch)
}

func (s *spy) PeerLeft(ctx context.Context, roomID, userID string) { s.e.PeerLeft(ctx, roomID, userID) }
func (s *spy) SetICEServers(servers []webrtc.ICEServer) {
	for _, sv := range servers {
		if c, ok := sv.Credential.(string); ok {
			addSecret(c, "TURN password")
		}
	}
	s.e.SetICEServers(servers)
}

func (s *spy) times(key string) (start, sent, recv time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.start[key], s.sent[key], s.recv[key]
}

// waitTimes waits until key was sent (by s) and received (by r).
func waitTimes(d *device, s, r *spy, key string) (start, sent, recv time.Time) {
	d.t.Helper()
	d.waitFor("timestamps of "+key, func() bool {
		start, sent, _ = s.times(key)
		_, _, recv = r.times(key)
		return !start.IsZero() && !sent.IsZero() && !recv.IsZero()
	})
	return start, sent, recv
}

// testMedia writes Opus- and VP8-typed samples until closed.
type testMedia struct {
	callengine.Media
}

func newMedia(t *testing.T, stream string) *testMedia {
	t.Helper()
	tr := calltest.NewTracks(t, stream)
	return &testMedia{Media: callengine.Media{Audio: tr.Audio, Video: tr.Video}}
}

// dm makes a DM between a and b (b accepts) and waits until both can call.
func dm(t *testing.T, a, b *device) string {
	t.Helper()
	roomID, err := a.c.CreateDM(context.Background(), b.c.UserID())
	if err != nil {
		t.Fatal(err)
	}
	b.waitFor("the DM invite", func() bool {
		return slices.ContainsFunc(b.c.Invites(), func(i Invite) bool { return i.RoomID == roomID })
	})
	inv := b.c.Invites()[slices.IndexFunc(b.c.Invites(), func(i Invite) bool { return i.RoomID == roomID })]
	if inv.Inviter != a.c.UserID() || !inv.IsDirect {
		t.Fatalf("invite = %+v", inv)
	}
	if err := b.c.AcceptInvite(context.Background(), roomID); err != nil {
		t.Fatal(err)
	}
	for _, d := range []*device{a, b} {
		d.waitFor("callable DM", func() bool { p, err := d.c.CallPeer(roomID); return err == nil && p != d.c.UserID() })
	}
	r, _ := b.c.Room(roomID)
	if r.DirectPeer != a.c.UserID() {
		t.Fatalf("b's room %+v: DirectPeer should be a", r)
	}
	r, _ = a.c.Room(roomID)
	if r.DirectPeer != b.c.UserID() || r.CallPeer != b.c.UserID() {
		t.Fatalf("a's room %+v", r)
	}
	return roomID
}

// place calls from a to b; returns the caller's call ID once b rings.
func place(t *testing.T, a *device, roomID string, callees ...*device) string {
	t.Helper()
	peer, err := a.c.CallPeer(roomID)
	if err != nil {
		t.Fatal(err)
	}
	m := newMedia(t, "a-"+randomID(6))
	id, err := a.e.PlaceCall(context.Background(), roomID, peer, true, m.Media)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range callees {
		b.waitState(id, callengine.StateRinging)
	}
	return id
}

func answer(t *testing.T, b *device, id string) {
	t.Helper()
	m := newMedia(t, "b-"+randomID(6))
	if err := b.e.Answer(context.Background(), id, true, m.Media); err != nil {
		t.Fatal(err)
	}
}

// mediaFlows checks that RTP arrives both ways, audio and video.
func mediaFlows(t *testing.T, ds ...*device) {
	t.Helper()
	for _, d := range ds {
		a0, v0 := d.packets()
		d.waitFor("RTP arriving", func() bool {
			a, v := d.packets()
			return a >= a0+10 && v >= v0+5
		})
	}
}

func hangupAndCheck(t *testing.T, a, b *device, id string) {
	t.Helper()
	if err := a.e.Hangup(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	ci := b.waitState(id, callengine.StateEnded)
	if ci.EndedBy != callengine.PartyRemote || ci.EndReason != callengine.ReasonUserHangup {
		t.Fatalf("%s ended by %v reason %v", b.name, ci.EndedBy, ci.EndReason)
	}
	a.waitState(id, callengine.StateEnded)
}

func TestIntegrationCallWithRealKeyring(t *testing.T) {
	itLeakCheck(t)
	alice, bob := register(t, "alice"), register(t, "bob")
	a := login(t, "alice", alice, devOpts{realKeyring: true})
	b := login(t, "bob", bob, devOpts{})

	// The session is in the real keyring: another client restores it.
	r := New(WithKeyring(SystemKeyring()), WithKeyringService(a.svc))
	if ok, err := r.Restore(context.Background()); !ok || err != nil || r.Status().DeviceID != a.c.Status().DeviceID {
		t.Fatalf("restore from gnome-keyring: %v %v %+v", ok, err, r.Status())
	}
	_ = r.Close()

	roomID := dm(t, a, b)
	a.waitFor("TURN", func() bool { return a.c.Status().TURN.State == TURNAvailable })
	if st := a.c.Status(); st.Conn != ConnOnline || len(a.c.ICEServers()) != 1 {
		t.Fatalf("status %+v", st)
	}

	id := place(t, a, roomID, b)
	if ci, _ := a.e.Call(id); ci.State != callengine.StateInviteSent {
		t.Fatalf("caller state %v", ci.State)
	}
	answer(t, b, id)
	a.waitState(id, callengine.StateConnected)
	b.waitState(id, callengine.StateConnected)
	// Candidates went both ways over the homeserver.
	if _, s, r := b.spy.times(callengine.EventCandidates + " " + id); s.IsZero() && r.IsZero() {
		t.Log("no m.call.candidates exchanged (all candidates were in the SDP)")
	}
	mediaFlows(t, a, b)
	ap, av := a.packets()
	bp, bv := b.packets()
	t.Logf("RTP received: alice audio %d video %d, bob audio %d video %d", ap, av, bp, bv)
	hangupAndCheck(t, a, b, id)
}

func TestIntegrationRelayOnly(t *testing.T) {
	itLeakCheck(t)
	alice, bob := register(t, "alice"), register(t, "bob")
	a := login(t, "alice", alice, devOpts{relayOnly: true})
	b := login(t, "bob", bob, devOpts{relayOnly: true})
	roomID := dm(t, a, b)
	for _, d := range []*device{a, b} {
		d.waitFor("TURN", func() bool { return d.c.Status().TURN.State == TURNAvailable })
	}
	id := place(t, a, roomID, b)
	answer(t, b, id)
	a.waitState(id, callengine.StateConnected)
	b.waitState(id, callengine.StateConnected)
	mediaFlows(t, a, b)
	ca, _ := a.e.Call(id)
	cb, _ := b.e.Call(id)
	if !ca.Relay || !cb.Relay {
		t.Fatalf("relay-only call not on relay candidates: alice Relay=%v bob Relay=%v", ca.Relay, cb.Relay)
	}
	hangupAndCheck(t, a, b, id)
}

func TestIntegrationSecondDeviceStopsRinging(t *testing.T) {
	itLeakCheck(t)
	alice, bob := register(t, "alice"), register(t, "bob")
	a := login(t, "alice", alice, devOpts{})
	b1 := login(t, "bob1", bob, devOpts{})
	b2 := login(t, "bob2", bob, devOpts{})
	if b1.c.Status().DeviceID == b2.c.Status().DeviceID {
		t.Fatal("same device twice")
	}
	roomID := dm(t, a, b1)
	b2.waitFor("room on 2nd device", func() bool { _, err := b2.c.CallPeer(roomID); return err == nil })

	id := place(t, a, roomID, b1, b2)
	answer(t, b1, id)
	ci := b2.waitState(id, callengine.StateEnded)
	if ci.EndReason != callengine.ReasonAnsweredElsewhere {
		t.Fatalf("second device ended with %v", ci.EndReason)
	}
	a.waitState(id, callengine.StateConnected)
	b1.waitState(id, callengine.StateConnected)
	mediaFlows(t, a, b1)
	hangupAndCheck(t, a, b1, id)
}

func TestIntegrationReject(t *testing.T) {
	itLeakCheck(t)
	alice, bob := register(t, "alice"), register(t, "bob")
	a := login(t, "alice", alice, devOpts{})
	b := login(t, "bob", bob, devOpts{})
	roomID := dm(t, a, b)
	id := place(t, a, roomID, b)
	if err := b.e.Reject(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	ci := a.waitState(id, callengine.StateEnded)
	if ci.EndReason != callengine.ReasonRejected || ci.EndedBy != callengine.PartyRemote {
		t.Fatalf("caller ended by %v with %v", ci.EndedBy, ci.EndReason)
	}
}

func TestIntegrationPeerLeavesRoom(t *testing.T) {
	itLeakCheck(t)
	alice, bob := register(t, "alice"), register(t, "bob")
	a := login(t, "alice", alice, devOpts{})
	b := login(t, "bob", bob, devOpts{})
	roomID := dm(t, a, b)
	id := place(t, a, roomID, b)
	answer(t, b, id)
	a.waitState(id, callengine.StateConnected)
	// Bob leaves the room without hanging up (his engine is closed first so no hangup is sent).
	_ = b.e.Close()
	mx, _ := b.c.mautrixClient()
	if _, err := mx.LeaveRoom(context.Background(), mxid.RoomID(roomID)); err != nil {
		t.Fatal(err)
	}
	ci := a.waitState(id, callengine.StateEnded)
	t.Logf("caller ended by %v with %v after the peer left", ci.EndedBy, ci.EndReason)
	a.waitFor("room not callable", func() bool { _, err := a.c.CallPeer(roomID); return errors.Is(err, ErrNotCallable) })
}

func TestIntegrationDendriteRestartMidCall(t *testing.T) {
	itLeakCheck(t)
	script := os.Getenv("MXCALL_HS_SCRIPT")
	if script == "" {
		t.Fatal("MXCALL_HS_SCRIPT not set")
	}
	alice, bob := register(t, "alice"), register(t, "bob")
	a := login(t, "alice", alice, devOpts{})
	b := login(t, "bob", bob, devOpts{})
	roomID := dm(t, a, b)
	id := place(t, a, roomID, b)
	answer(t, b, id)
	a.waitState(id, callengine.StateConnected)
	b.waitState(id, callengine.StateConnected)
	mediaFlows(t, a, b)

	sawDown := make(chan struct{})
	go func() {
		// Watch for the sync noticing the outage.
		for range 400 {
			if s := b.c.Status().Conn; s == ConnReconnecting || s == ConnOffline {
				close(sawDown)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	out, err := exec.Command(script, "stop-dendrite").CombinedOutput()
	if err != nil {
		t.Fatalf("stop dendrite: %v\n%s", err, out)
	}
	downAt := time.Now()
	select {
	case <-sawDown:
	case <-time.After(5 * time.Second):
		t.Fatal("sync did not notice Dendrite was gone")
	}
	mediaFlows(t, a, b) // media goes on while the homeserver is down
	out, err = exec.Command(script, "start-dendrite").CombinedOutput()
	if err != nil {
		t.Fatalf("start dendrite: %v\n%s", err, out)
	}
	upAt := time.Now()
	for _, d := range []*device{a, b} {
		d.waitFor("online again", func() bool { return d.c.Status().Conn == ConnOnline })
	}
	t.Logf("Dendrite down %v; clients online again %v after it was back", upAt.Sub(downAt).Round(time.Millisecond), time.Since(upAt).Round(time.Millisecond))
	mediaFlows(t, a, b)
	if ci, _ := a.e.Call(id); ci.State != callengine.StateConnected {
		t.Fatalf("call state after restart: %v", ci.State)
	}
	hangupAndCheck(t, a, b, id)
}

func TestIntegrationLatency(t *testing.T) {
	itLeakCheck(t)
	latency(t, true)
}

func latency(t *testing.T, plaintext bool) {
	t.Helper()
	alice, bob := register(t, "alice"), register(t, "bob")
	a := login(t, "alice", alice, devOpts{plaintext: plaintext})
	b := login(t, "bob", bob, devOpts{plaintext: plaintext})
	roomID := dm(t, a, b)
	const n = 20
	var invStart, invEnd, ansB, ansA, ansBEnd []time.Duration
	for i := 0; i < n; i++ {
		id := place(t, a, roomID, b)
		start, sent, recv := waitTimes(b, a.spy, b.spy, callengine.EventInvite+" "+id)
		invStart = append(invStart, recv.Sub(start))
		invEnd = append(invEnd, recv.Sub(sent))
		answer(t, b, id)
		cb := b.waitState(id, callengine.StateConnected)
		ca := a.waitState(id, callengine.StateConnected)
		aStart, aSent, _ := waitTimes(a, b.spy, a.spy, callengine.EventAnswer+" "+id)
		ansB = append(ansB, cb.ConnectedAt.Sub(aStart))
		ansA = append(ansA, ca.ConnectedAt.Sub(aStart))
		ansBEnd = append(ansBEnd, cb.ConnectedAt.Sub(aSent))
		hangupAndCheck(t, a, b, id)
	}
	f := func(d []time.Duration) string {
		return fmt.Sprintf("median %v (min %v, max %v)", median(d).Round(10*time.Microsecond),
			slices.Min(d).Round(10*time.Microsecond), slices.Max(d).Round(10*time.Microsecond))
	}
	kind := "plaintext room"
	if r, _ := a.c.Room(roomID); r.Encrypted {
		kind = "encrypted room"
	}
	report := fmt.Sprintf("over real Dendrite, %s, %d calls (clients in one process, same clock):\n"+
		"  invite: caller starts the send -> callee engine gets the batch: %s\n"+
		"  invite: caller's send returned -> callee engine gets the batch: %s\n"+
		"  answer: callee starts the send -> callee ICE connected: %s\n"+
		"  answer: callee starts the send -> caller ICE connected: %s\n"+
		"  answer: callee's send returned -> callee ICE connected: %s\n",
		kind, n, f(invStart), f(invEnd), f(ansB), f(ansA), f(ansBEnd))
	t.Log(report)
	if dir := os.Getenv("MXCALL_LOG_DIR"); dir != "" {
		f, err := os.OpenFile(filepath.Join(dir, "latency.txt"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err == nil {
			_, _ = f.WriteString(report)
			_ = f.Close()
		}
	}
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func TestIntegrationLogoutInvalidatesToken(t *testing.T) {
	itLeakCheck(t)
	alice := register(t, "alice")
	a := login(t, "alice", alice, devOpts{realKeyring: true})
	a.c.mu.Lock()
	tok, hs := a.c.sess.AccessToken, a.c.sess.HomeserverURL
	a.c.mu.Unlock()
	if err := a.c.Logout(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := SystemKeyring().Get(a.svc, sessionAccount); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("session still in keyring: %v", err)
	}
	mx, _ := mautrix.NewClient(hs, "", tok)
	if _, err := mx.Whoami(context.Background()); !errors.Is(err, mautrix.MUnknownToken) {
		t.Fatalf("token still valid after logout: %v", err)
	}
}

// TestIntegrationZSecretsNotLeaked runs last (tests run in source order):
// no access token, password or TURN password of any test above appears in
// the logs, the homeserver's and coturn's logs and config, or the client's
// home/config/data dirs. (The homeserver's databases hold its tokens by
// design and are not checked.)
func TestIntegrationZSecretsNotLeaked(t *testing.T) {
	logMu.Lock()
	_ = logFile.Sync()
	logMu.Unlock()
	secretsMu.Lock()
	defer secretsMu.Unlock()
	kinds := map[string]int{}
	for _, what := range secrets {
		kinds[strings.Fields(what)[0]]++
	}
	if kinds["access"] == 0 || kinds["TURN"] == 0 {
		t.Fatalf("no secrets collected to look for: %v", kinds)
	}
	var roots []string
	if d := os.Getenv("MXCALL_LOG_DIR"); d != "" {
		roots = append(roots, d)
	} else {
		roots = append(roots, logFile.Name())
	}
	for _, d := range strings.Split(os.Getenv("MXCALL_SECRET_DIRS"), ":") {
		if d != "" {
			roots = append(roots, d)
		}
	}
	hsDir := os.Getenv("MXCALL_HS_DIR")
	var files []string
	for _, root := range append(roots, hsDir) {
		if root == "" {
			continue
		}
		_ = filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
			if err != nil || fi.IsDir() {
				return nil
			}
			if root == hsDir && (strings.Contains(filepath.Base(p), ".db") || strings.Contains(p, "/jetstream/") ||
				strings.Contains(p, "/searchindex") || strings.HasSuffix(p, "turndb")) {
				return nil // server databases
			}
			files = append(files, p)
			return nil
		})
	}
	checked := 0
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		r := bufio.NewReaderSize(f, 1<<20)
		data, _ := io.ReadAll(r)
		_ = f.Close()
		checked++
		for s, what := range secrets {
			if strings.Contains(string(data), s) {
				t.Errorf("%s found in %s", what, p)
			}
		}
	}
	t.Logf("checked %d files under %v for %d secrets (%v)", checked, append(roots, hsDir), len(secrets), kinds)
}
