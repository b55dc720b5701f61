//go:build integration

// Group calls on the real stack (see integration_test.go): four members,
// leave and rejoin, a member killed with SIGKILL, the SFU restarted
// mid-call, and members on two SFU nodes.
package matrixrtc_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/mxcall/mxcall/internal/rtctest"
	"github.com/mxcall/mxcall/matrixrtc"
	"github.com/mxcall/mxcall/rtcauth"
)

// peer is a Session sending audio frames that carry its identity, and
// what it received: packets per sender identity and the participants.
type peer struct {
	name, identity string
	mx             *hsClient
	s              *matrixrtc.Session
	tr             *webrtc.TrackLocalStaticSample
	ended          chan error

	mu      sync.Mutex
	got     map[string]int
	parts   []matrixrtc.Participant
	changed chan struct{} // 1 slot: got or parts changed
}

// newPeer makes a session of mx in room through the token service at
// auth; edit may change its config.
func newPeer(t *testing.T, name string, mx *hsClient, room, auth string, edit func(*matrixrtc.SessionConfig)) *peer {
	t.Helper()
	tr, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "mic-"+name, "stream-"+name)
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{name: name, identity: mx.user + ":" + mx.device, mx: mx, tr: tr, ended: make(chan error, 1),
		got: map[string]int{}, changed: make(chan struct{}, 1)}
	cfg := matrixrtc.SessionConfig{
		Matrix: mx, RoomID: room, Intent: "audio", Tracks: []webrtc.TrackLocal{tr},
		Discovery:      matrixrtc.Discovery{Configured: []matrixrtc.Transport{{Type: matrixrtc.TransportLiveKit, ServiceURL: auth}}},
		OnRemoteTrack:  p.onTrack,
		OnParticipants: p.onParticipants,
		OnEnded:        func(err error) { p.ended <- err },
	}
	if edit != nil {
		edit(&cfg)
	}
	s, err := matrixrtc.NewSession(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p.s = s
	t.Cleanup(func() { _ = s.Close() })
	return p
}

func (p *peer) poke() {
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

func (p *peer) onParticipants(parts []matrixrtc.Participant) {
	p.mu.Lock()
	p.parts = parts
	p.mu.Unlock()
	p.poke()
}

// onTrack counts the packets of every sender by the identity in their
// payload (rtctest.OpusFrame).
func (p *peer) onTrack(rt matrixrtc.RemoteTrack) {
	rtctest.Read(rt.Track, func(payload []byte) {
		id, ok := rtctest.Identity(payload)
		if !ok {
			return
		}
		p.mu.Lock()
		p.got[id]++
		p.mu.Unlock()
		p.poke()
	})
}

// send writes a 20 ms frame with p's identity until ctx ends (through
// reconnections: the track is bound again to each new connection).
func (p *peer) send(ctx context.Context) {
	sendSamples(ctx, p.tr, rtctest.OpusFrame(p.identity), 20*time.Millisecond)
}

// counts is a copy of the packet counts.
func (p *peer) counts() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(p.got))
	for k, v := range p.got {
		out[k] = v
	}
	return out
}

// sees is the identities in p's latest participant list.
func (p *peer) sees() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := make([]string, 0, len(p.parts))
	for _, q := range p.parts {
		ids = append(ids, q.Identity)
	}
	return ids
}

// waitUntil waits until cond holds for p (re-checked whenever p receives
// something), failing the test when ctx ends.
func (p *peer) waitUntil(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-p.changed:
		case <-tick.C:
		case err := <-p.ended:
			t.Fatalf("%s: session ended (%v) waiting for %s", p.name, err, what)
		case <-ctx.Done():
			t.Fatalf("%s: no %s (participants %v, packets %v)", p.name, what, p.sees(), p.counts())
		}
	}
}

// waitMedia waits until p has wantPackets more packets from each of from
// than in base (nil: from zero).
func (p *peer) waitMedia(ctx context.Context, t *testing.T, base map[string]int, from ...*peer) {
	t.Helper()
	p.waitUntil(ctx, t, "media from "+names(from), func() bool {
		got := p.counts()
		for _, q := range from {
			if got[q.identity]-base[q.identity] < wantPackets {
				return false
			}
		}
		return true
	})
}

// waitSees waits until p's participants are exactly want.
func (p *peer) waitSees(ctx context.Context, t *testing.T, want ...*peer) {
	t.Helper()
	ids := make([]string, 0, len(want))
	for _, q := range want {
		ids = append(ids, q.identity)
	}
	slices.Sort(ids)
	p.waitUntil(ctx, t, "participants "+names(want), func() bool { return slices.Equal(p.sees(), ids) })
}

func names(ps []*peer) string {
	n := make([]string, 0, len(ps))
	for _, p := range ps {
		n = append(n, p.name)
	}
	return "[" + strings.Join(n, " ") + "]"
}

// others is ps without p.
func others(ps []*peer, p *peer) []*peer {
	out := make([]*peer, 0, len(ps))
	for _, q := range ps {
		if q != p {
			out = append(out, q)
		}
	}
	return out
}

// callRoom registers users, creates a room where everyone may join calls
// and has them join it.
func callRoom(ctx context.Context, t *testing.T, users ...string) (string, []*hsClient) {
	t.Helper()
	mxs := make([]*hsClient, 0, len(users))
	for _, u := range users {
		mxs = append(mxs, register(ctx, t, u))
	}
	room := mxs[0].createRoom(ctx, t, map[string]any{"events": map[string]any{matrixrtc.TypeCallMember: 0}})
	for _, mx := range mxs[1:] {
		mx.joinRoom(ctx, t, room)
	}
	return room, mxs
}

// TestGroupOfFour: four members of one room's call each receive the
// audio of the other three and list exactly them as participants, with
// user and device parsed from the identity.
func TestGroupOfFour(t *testing.T) {
	ctx := rtctest.Guard(t)
	room, mxs := callRoom(ctx, t, "alice", "bob", "carol", "dave")
	var ps []*peer
	for i, name := range []string{"alice", "bob", "carol", "dave"} {
		ps = append(ps, newPeer(t, name, mxs[i], room, authURL, nil))
	}
	sendCtx, stop := context.WithCancel(ctx)
	defer stop()
	start := time.Now()
	for _, p := range ps {
		if err := p.s.Join(ctx); err != nil {
			t.Fatalf("%s: Join: %v", p.name, err)
		}
		p.send(sendCtx)
	}
	for _, p := range ps {
		p.waitMedia(ctx, t, nil, others(ps, p)...)
		p.waitSees(ctx, t, others(ps, p)...)
	}
	t.Logf("4 members: each has %d packets from each other and lists the 3 others %v after the first Join", wantPackets, time.Since(start).Round(time.Millisecond))
	p := ps[0]
	p.mu.Lock()
	for _, q := range p.parts {
		if q.UserID+":"+q.DeviceID != q.Identity || !strings.HasPrefix(q.UserID, "@") || q.AudioMuted || !q.VideoMuted {
			t.Errorf("participant %+v", q)
		}
	}
	p.mu.Unlock()
	ms, err := p.s.Members(ctx)
	if err != nil || len(ms.Members) != 4 {
		t.Errorf("%d live memberships (%v), want 4", len(ms.Members), err)
	}
}

// TestLeaveRejoin: a member who leaves disappears from the others'
// participants and memberships; when it joins again it is back, and
// media flows again both ways.
func TestLeaveRejoin(t *testing.T) {
	ctx := rtctest.Guard(t)
	room, mxs := callRoom(ctx, t, "alice", "bob", "carol")
	ps := []*peer{newPeer(t, "alice", mxs[0], room, authURL, nil), newPeer(t, "bob", mxs[1], room, authURL, nil), newPeer(t, "carol", mxs[2], room, authURL, nil)}
	sendCtx, stop := context.WithCancel(ctx)
	defer stop()
	for _, p := range ps {
		if err := p.s.Join(ctx); err != nil {
			t.Fatalf("%s: Join: %v", p.name, err)
		}
		p.send(sendCtx)
	}
	a, b, c := ps[0], ps[1], ps[2]
	for _, p := range ps {
		p.waitMedia(ctx, t, nil, others(ps, p)...)
	}
	start := time.Now()
	if err := c.s.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	a.waitSees(ctx, t, b)
	b.waitSees(ctx, t, a)
	t.Logf("carol gone from the others' participants %v after Leave", time.Since(start).Round(time.Millisecond))
	if _, ok := membership(ctx, t, a.mx, room, c.mx.user); ok {
		t.Error("carol's membership still live after Leave")
	}
	base := map[*peer]map[string]int{a: a.counts(), b: b.counts(), c: c.counts()}
	start = time.Now()
	if err := c.s.Join(ctx); err != nil {
		t.Fatalf("rejoin: %v", err)
	}
	for _, p := range ps {
		p.waitSees(ctx, t, others(ps, p)...)
		p.waitMedia(ctx, t, base[p], others(ps, p)...)
	}
	t.Logf("carol back, media flowing all ways again %v after the rejoin", time.Since(start).Round(time.Millisecond))
	if _, ok := membership(ctx, t, a.mx, room, c.mx.user); !ok {
		t.Error("carol's membership not live after the rejoin")
	}
}

// childEnv carries a killed member's account to the child process.
const childEnv = "MXCALL_RTC_CHILD"

// TestChildMember is not a test on its own: TestKilledMember runs the
// test binary again with childEnv set to "user device token room", and
// this joins that call, says JOINED and sends audio until it is killed.
func TestChildMember(t *testing.T) {
	spec := strings.Fields(os.Getenv(childEnv))
	if len(spec) != 4 {
		t.Skip("the SIGKILL child of TestKilledMember")
	}
	ctx := context.Background()
	mx := &hsClient{user: spec[0], device: spec[1], token: spec[2]}
	p := newPeer(t, "child", mx, spec[3], authURL, func(c *matrixrtc.SessionConfig) {
		c.Expires, c.Refresh = childExpires, childExpires/3
	})
	if err := p.s.Join(ctx); err != nil {
		t.Fatal(err)
	}
	p.send(ctx)
	fmt.Println("JOINED")
	select {} // until SIGKILL
}

// childExpires is the killed member's membership lifetime (refreshed
// every third of it while it lives).
const childExpires = 9 * time.Second

// TestKilledMember: a member whose process is killed (SIGKILL: no leave,
// no LiveKit goodbye) disappears from the others' participants when
// LiveKit notices; its membership stays in the room state (nobody left
// it) but drops out of the live memberships once it expires.
func TestKilledMember(t *testing.T) {
	ctx := rtctest.Guard(t)
	room, mxs := callRoom(ctx, t, "alice", "bob", "kid")
	a, b := newPeer(t, "alice", mxs[0], room, authURL, nil), newPeer(t, "bob", mxs[1], room, authURL, nil)
	sendCtx, stop := context.WithCancel(ctx)
	defer stop()
	for _, p := range []*peer{a, b} {
		if err := p.s.Join(ctx); err != nil {
			t.Fatal(err)
		}
		p.send(sendCtx)
	}
	kid := mxs[2]
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestChildMember$", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"="+strings.Join([]string{kid.user, kid.device, kid.token, room}, " "))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	joined := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "JOINED" {
				close(joined)
			}
		}
	}()
	select {
	case <-joined:
	case <-ctx.Done():
		t.Fatal("the child did not join")
	}
	k := &peer{name: "kid", identity: kid.user + ":" + kid.device}
	for _, p := range []*peer{a, b} {
		p.waitSees(ctx, t, others([]*peer{a, b, k}, p)...)
		p.waitMedia(ctx, t, nil, k)
	}
	if _, ok := membership(ctx, t, a.mx, room, kid.user); !ok {
		t.Fatal("the child's membership is not live")
	}
	killed := time.Now()
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	for _, p := range []*peer{a, b} {
		p.waitSees(ctx, t, others([]*peer{a, b}, p)...)
	}
	t.Logf("the killed member left the others' participants %v after SIGKILL", time.Since(killed).Round(time.Millisecond))
	// Nobody sent its leave: the state still holds its membership ...
	state, err := a.mx.RoomState(ctx, room, matrixrtc.TypeCallMember)
	if err != nil {
		t.Fatal(err)
	}
	held := false
	for _, ev := range state {
		held = held || (ev.Sender == kid.user && len(ev.Content) > 2)
	}
	if !held {
		t.Error("the killed member's membership is not in the room state")
	}
	// ... until it expires (at most childExpires after its last refresh).
	for {
		if _, ok := membership(ctx, t, a.mx, room, kid.user); !ok {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the killed member's membership never expired")
		case <-time.After(250 * time.Millisecond):
		}
	}
	t.Logf("its membership expired %v after SIGKILL (expires %v, refreshed every %v)", time.Since(killed).Round(time.Millisecond), childExpires, childExpires/3)
	if m, ok := membership(ctx, t, a.mx, room, b.mx.user); !ok || m.DeviceID != b.mx.device {
		t.Error("bob's membership is not live")
	}
}

// restartSFU restarts SFU node n with scripts/rtc.sh (signal: KILL or
// TERM).
func restartSFU(t *testing.T, n int, signal string) {
	t.Helper()
	cmd := exec.Command("../scripts/rtc.sh", "restart-sfu")
	cmd.Env = append(os.Environ(), fmt.Sprintf("MXCALL_RTC_NODE=%d", n), "MXCALL_RTC_RESTART_SIGNAL="+signal)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("rtc.sh restart-sfu: %v\n%s", err, out)
	}
}

// TestSFURestart: the SFU is restarted mid-call, first gracefully (it
// tells its participants SERVER_SHUTDOWN: the sessions reconnect with a
// fresh token), then killed (LiveKit's SDK resumes by itself or the
// sessions take over): each time both members keep their memberships, see
// each other again and media flows again.
func TestSFURestart(t *testing.T) {
	if os.Getenv("MXCALL_RTC_DIR") == "" {
		t.Skip("needs the stack of scripts/test-rtc.sh (MXCALL_RTC_DIR)")
	}
	ctx := rtctest.Guard(t)
	room, mxs := callRoom(ctx, t, "alice", "bob")
	a, b := newPeer(t, "alice", mxs[0], room, authURL, nil), newPeer(t, "bob", mxs[1], room, authURL, nil)
	sendCtx, stop := context.WithCancel(ctx)
	defer stop()
	for _, p := range []*peer{a, b} {
		if err := p.s.Join(ctx); err != nil {
			t.Fatal(err)
		}
		p.send(sendCtx)
	}
	a.waitMedia(ctx, t, nil, b)
	b.waitMedia(ctx, t, nil, a)
	for _, signal := range []string{"TERM", "KILL"} {
		base := map[*peer]map[string]int{a: a.counts(), b: b.counts()}
		start := time.Now()
		restartSFU(t, 1, signal)
		restarted := time.Since(start)
		a.waitMedia(ctx, t, base[a], b)
		b.waitMedia(ctx, t, base[b], a)
		a.waitSees(ctx, t, b)
		b.waitSees(ctx, t, a)
		t.Logf("SFU restart (%s, %v to stop and start it): media flowing again both ways %v after the restart began",
			signal, restarted.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
		for _, p := range []*peer{a, b} {
			if _, ok := membership(ctx, t, a.mx, room, p.mx.user); !ok {
				t.Errorf("%s's membership not live after the restart", p.name)
			}
		}
	}
}

// atHomeserver is a Matrix whose homeserver (for discovery) is url.
type atHomeserver struct {
	*hsClient
	url string
}

func (h atHomeserver) HomeserverURL() string { return h.url }

// transportsServer is a homeserver's /rtc/transports advertising the token
// service at auth.
func transportsServer(t *testing.T, auth string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != matrixrtc.PathTransports {
			http.NotFound(w, r)
			return
		}
		_, _ = fmt.Fprintf(w, `{"rtc_transports":[{"type":"livekit","livekit_service_url":%q}]}`, auth)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestTwoNodes: members whose homeservers advertise token services of
// different SFU nodes (sharing Redis) hear and see each other. (A
// configured focus would not do: discovery prefers the focus of the
// members already in the call, so the second member would follow the
// first to node 1.) LiveKit hosts a room on one node, picked when the room
// is created: a member connected to the other node has its signalling
// relayed over Redis and its media go to the room's node; the servers'
// logs say where each member's RTC session runs.
func TestTwoNodes(t *testing.T) {
	auth2, lk2 := os.Getenv("MXCALL_RTC_AUTH_URL_2"), os.Getenv("MXCALL_RTC_LIVEKIT_URL_2")
	if auth2 == "" {
		t.Skip("one SFU node only (MXCALL_RTC_NODES=2 starts two)")
	}
	ctx := rtctest.Guard(t)
	room, mxs := callRoom(ctx, t, "alice", "bob")
	a := newPeer(t, "alice", mxs[0], room, authURL, nil)
	b := newPeer(t, "bob", mxs[1], room, authURL, func(c *matrixrtc.SessionConfig) {
		c.Matrix = atHomeserver{mxs[1], transportsServer(t, auth2)}
	})
	sendCtx, stop := context.WithCancel(ctx)
	defer stop()
	for _, p := range []*peer{a, b} {
		if err := p.s.Join(ctx); err != nil {
			t.Fatal(err)
		}
		p.send(sendCtx)
	}
	a.waitMedia(ctx, t, nil, b)
	b.waitMedia(ctx, t, nil, a)
	a.waitSees(ctx, t, b)
	b.waitSees(ctx, t, a)
	for _, c := range []struct {
		p    *peer
		auth string
	}{{a, authURL}, {b, auth2}} {
		if f, err := c.p.s.Focus(ctx); err != nil || f.Transport.ServiceURL != c.auth {
			t.Errorf("%s's focus %+v (%v), want %s", c.p.name, f, err, c.auth)
		}
	}
	// Each member's own focus (multi_sfu): bob's membership names the
	// token service of node 2, which sent him to node 2.
	mb, ok := membership(ctx, t, a.mx, room, b.mx.user)
	if tr, _ := mb.PublishTransport(); !ok || tr.ServiceURL != auth2 {
		t.Errorf("bob's transport %+v, want %s", tr, auth2)
	}
	creds, err := matrixrtc.SFUGet(ctx, nil, auth2, room, mustOpenID(ctx, t, b.mx), b.mx.device)
	if err != nil || creds.URL != lk2 {
		t.Errorf("node 2's token service hands out %q (%v), want %s", creds.URL, err, lk2)
	}
	// Which node hosts the room, and where each member's RTC session runs.
	dir := os.Getenv("MXCALL_RTC_DIR")
	host, allocated := map[string]int{}, 0
	lkRoom := rtcauth.RoomName(room, rtcauth.SlotRoom)
	for n := 1; n <= 2; n++ {
		log, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("livekit-%d.out", n)))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(log), "\n") {
			// The node that got the first join (alice's) picks the
			// room's node.
			if strings.Contains(line, "selected node for room") && strings.Contains(line, lkRoom) {
				allocated = n
			}
			for _, p := range []*peer{a, b} {
				if strings.Contains(line, "starting RTC session") && strings.Contains(line, `"participant": "`+p.identity+`"`) {
					host[p.name] = n
				}
			}
		}
	}
	t.Logf("alice connected to node 1 (%s; node %d allocated the room), bob to node 2 (%s); their RTC sessions run on node %d and node %d",
		lkURL, allocated, lk2, host["alice"], host["bob"])
	if allocated != 1 {
		t.Errorf("node %d allocated the room, want node 1 (alice's signalling)", allocated)
	}
	if host["alice"] == 0 || host["alice"] != host["bob"] {
		t.Errorf("RTC sessions on nodes %v: LiveKit should host both on the room's node", host)
	}
}

func mustOpenID(ctx context.Context, t *testing.T, mx *hsClient) matrixrtc.OpenIDToken {
	t.Helper()
	tok, err := mx.OpenIDToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
