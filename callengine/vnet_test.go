package callengine

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/transport/v5/vnet"
	"github.com/pion/turn/v5"
	"github.com/pion/webrtc/v4"
)

// Addresses of the TURN topology: two LANs, each behind its own
// full-cone NAT, under one WAN router that also hosts the TURN server.
const (
	turnIP       = "1.2.3.4"
	turnPort     = 3478
	turnRealm    = "mxcall.test"
	turnSecret   = "vnet-shared-secret"
	alicePublic  = "27.1.1.1"
	aliceLAN     = "192.168.0.1"
	bobPublic    = "28.1.1.1"
	bobLAN       = "10.2.0.1"
	wanLogLevel  = logging.LogLevelError
	vnetMinMedia = 20 // RTP packets each side must receive
)

// turnNet is the relay topology.
type turnNet struct {
	alice, bob *vnet.Net
	// blockDirect drops every packet between the two NATs' public
	// addresses: only what goes through the TURN server passes.
	blockDirect atomic.Bool
	// lateDirect, if set, drops the direct packets alice sends for this
	// long after her first one: her first connectivity checks on the
	// direct path are lost, as when the peer's NAT is not open yet.
	lateDirect  time.Duration
	firstDirect atomic.Int64 // when alice sent her first direct packet (Unix ns)
	dropped     atomic.Int64 // direct packets dropped
	relayed     atomic.Int64 // packets to or from the TURN server

	mu      sync.Mutex
	allocOK map[string]int // successful TURN Allocate requests by username
}

// newTURNNet builds and starts the topology and an in-process TURN server
// that accepts TURN REST credentials for turnSecret. Both are stopped in a
// cleanup, which (registered before the engines join) runs after the
// engines closed.
func newTURNNet(tb testing.TB) *turnNet {
	tb.Helper()
	tn := &turnNet{allocOK: make(map[string]int)}
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = wanLogLevel

	wan, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "0.0.0.0/0", LoggerFactory: lf})
	if err != nil {
		tb.Fatal(err)
	}
	pubA, pubB, server := net.ParseIP(alicePublic), net.ParseIP(bobPublic), net.ParseIP(turnIP)
	wan.AddChunkFilter(func(c vnet.Chunk) bool {
		src, dst := ipOf(c.SourceAddr()), ipOf(c.DestinationAddr())
		if src.Equal(server) || dst.Equal(server) {
			tn.relayed.Add(1)
			return true
		}
		direct := (src.Equal(pubA) && dst.Equal(pubB)) || (src.Equal(pubB) && dst.Equal(pubA))
		if direct && tn.blockDirect.Load() {
			tn.dropped.Add(1)
			return false
		}
		if direct && src.Equal(pubA) && tn.lateDirect > 0 {
			now := time.Now().UnixNano()
			tn.firstDirect.CompareAndSwap(0, now)
			if time.Duration(now-tn.firstDirect.Load()) < tn.lateDirect {
				tn.dropped.Add(1)
				return false
			}
		}
		return true
	})
	turnHost, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{turnIP}})
	if err != nil {
		tb.Fatal(err)
	}
	if err := wan.AddNet(turnHost); err != nil {
		tb.Fatal(err)
	}
	// Full cone: without the filter the peers could talk directly through
	// their server-reflexive addresses.
	fullCone := &vnet.NATType{MappingBehavior: vnet.EndpointIndependent, FilteringBehavior: vnet.EndpointIndependent}
	lan := func(public, local string) *vnet.Net {
		r, err := vnet.NewRouter(&vnet.RouterConfig{
			StaticIPs: []string{public}, CIDR: local + "/24", NATType: fullCone, LoggerFactory: lf,
		})
		if err != nil {
			tb.Fatal(err)
		}
		n, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{local}})
		if err != nil {
			tb.Fatal(err)
		}
		if err := r.AddNet(n); err != nil {
			tb.Fatal(err)
		}
		if err := wan.AddRouter(r); err != nil {
			tb.Fatal(err)
		}
		return n
	}
	tn.alice = lan(alicePublic, aliceLAN)
	tn.bob = lan(bobPublic, bobLAN)
	if err := wan.Start(); err != nil {
		tb.Fatal(err)
	}

	pc, err := turnHost.ListenPacket("udp4", fmt.Sprintf("%s:%d", turnIP, turnPort))
	if err != nil {
		_ = wan.Stop()
		tb.Fatal(err)
	}
	srv, err := turn.NewServer(turn.ServerConfig{
		Realm:         turnRealm,
		AuthHandler:   turn.LongTermTURNRESTAuthHandler(turnSecret, lf.NewLogger("turn-auth")),
		LoggerFactory: lf,
		EventHandler: turn.EventHandler{
			OnAuth: func(_, _ net.Addr, _, username, _ string, method string, ok bool) {
				if ok && method == "Allocate" {
					tn.mu.Lock()
					tn.allocOK[username]++
					tn.mu.Unlock()
				}
			},
		},
		PacketConnConfigs: []turn.PacketConnConfig{{
			PacketConn: pc,
			RelayAddressGenerator: &turn.RelayAddressGeneratorStatic{
				RelayAddress: server, Address: "0.0.0.0", Net: turnHost,
			},
		}},
	})
	if err != nil {
		_ = pc.Close()
		_ = wan.Stop()
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := srv.Close(); err != nil {
			tb.Errorf("closing TURN server: %v", err)
		}
		if err := wan.Stop(); err != nil {
			tb.Errorf("stopping WAN router: %v", err)
		}
	})
	return tn
}

// iceServersFor returns what a homeserver's /voip/turnServer would give
// user: a TURN URI (and the same host as STUN) with REST credentials.
func iceServersFor(user string) []webrtc.ICEServer {
	username, password := turnRESTCredentials(turnSecret, user, time.Hour)
	return []webrtc.ICEServer{{
		URLs: []string{
			fmt.Sprintf("turn:%s:%d?transport=udp", turnIP, turnPort),
			fmt.Sprintf("stun:%s:%d", turnIP, turnPort),
		},
		Username:   username,
		Credential: password,
	}}
}

func (tn *turnNet) allocations(username string) int {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	return tn.allocOK[username]
}

func TestRelayOnlyPathThroughTURN(t *testing.T) {
	cases := []struct {
		name        string
		blockDirect bool
		lateDirect  time.Duration // see turnNet.lateDirect
		relayOnly   bool          // WithRelayOnly on the caller
		wantRelay   bool
	}{
		// Control: with the direct path open, ICE prefers it, so Relay is
		// false; this shows the topology and the flag are not trivially true.
		{name: "direct path open", wantRelay: false},
		// The caller's first checks on the direct path are lost while the
		// relay pair already works: the direct path must still win once
		// the next checks (200 ms later) get through.
		{name: "direct path open after the first checks", lateDirect: 150 * time.Millisecond, wantRelay: false},
		{name: "direct path blocked", blockDirect: true, wantRelay: true},
		{name: "relay-only policy on caller", relayOnly: true, wantRelay: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			guard(t)
			ctx := context.Background()
			tn := newTURNNet(t)
			tn.blockDirect.Store(tc.blockDirect)
			tn.lateDirect = tc.lateDirect
			logs := newTestLogs(t)

			r := newRoom("!turn:test")
			alice := r.join(t, "@alice:test",
				WithSettingEngine(vnetSettings(tn.alice, nil)),
				WithICEServers(iceServersFor("@alice:test")),
				WithRelayOnly(tc.relayOnly),
				WithLogger(logs.logger("alice")))
			bob := r.join(t, "@bob:test",
				WithSettingEngine(vnetSettings(tn.bob, nil)),
				WithICEServers(iceServersFor("@bob:test")),
				WithLogger(logs.logger("bob")))
			am := newTestMedia(t, "alice-stream")
			bm := newTestMedia(t, "bob-stream")

			start := time.Now()
			id, err := alice.eng.PlaceCall(ctx, r.id, bob.userID, true, am.Media)
			if err != nil {
				t.Fatal(err)
			}
			bob.ringing()
			if err := bob.eng.Answer(ctx, id, true, bm.Media); err != nil {
				t.Fatal(err)
			}
			ac := alice.waitState(id, StateConnected)
			bc := bob.waitState(id, StateConnected)
			connected := time.Since(start)
			alice.waitPackets(id, vnetMinMedia)
			bob.waitPackets(id, vnetMinMedia)

			ap, bp := selectedPair(t, alice, id), selectedPair(t, bob, id)
			t.Logf("connected after %v; alice %s; bob %s; relayed %d, direct dropped %d",
				connected.Round(time.Millisecond), pairString(ap), pairString(bp), tn.relayed.Load(), tn.dropped.Load())

			if ac.Relay != tc.wantRelay || bc.Relay != tc.wantRelay {
				t.Errorf("CallInfo.Relay: alice %v, bob %v; want %v", ac.Relay, bc.Relay, tc.wantRelay)
			}
			isRelay := func(p *webrtc.ICECandidatePair) bool {
				return p.Local.Typ == webrtc.ICECandidateTypeRelay || p.Remote.Typ == webrtc.ICECandidateTypeRelay
			}
			if isRelay(ap) != tc.wantRelay || isRelay(bp) != tc.wantRelay {
				t.Errorf("selected pairs: alice %s, bob %s; want relay %v", pairString(ap), pairString(bp), tc.wantRelay)
			}
			if tc.relayOnly && ap.Local.Typ != webrtc.ICECandidateTypeRelay {
				t.Errorf("relay-only caller selected a %s local candidate", ap.Local.Typ)
			}
			if (tc.blockDirect || tc.lateDirect > 0) && tn.dropped.Load() == 0 {
				t.Error("the filter dropped no direct packet: the direct path was never tried")
			}
			// The caller (the controlling ICE agent) took the relay while
			// its other pairs were still being checked, not after ICE had
			// given up on them (8 checks 200 ms apart): pion's default
			// relay acceptance wait of 2 s outlasts that.
			if failed := failedPairs(t, alice, id); tc.wantRelay && len(failed) > 0 {
				t.Errorf("the caller took the relay only after ICE gave up on %d pairs: %v", len(failed), failed)
			}
			// Both engines authenticated to the TURN server with their
			// REST credentials.
			for _, m := range []*member{alice, bob} {
				if user := m.eng.opts.iceServers[0].Username; tn.allocations(user) == 0 {
					t.Errorf("no successful TURN allocation for %q", user)
				}
			}

			if err := alice.eng.Hangup(ctx, id); err != nil {
				t.Fatal(err)
			}
			bob.waitState(id, StateEnded)
		})
	}
}

// Addresses of the network-change topology: two hosts on one router, no
// NAT. Alice moves from aliceOld to aliceNew.
const (
	aliceOld = "1.0.0.1"
	aliceNew = "1.0.0.11"
	bobAddr  = "1.0.0.2"
)

// movingNet is a flat network in which alice's address can change.
type movingNet struct {
	alice, bob *vnet.Net
	// outage drops every packet; dead drops every packet from or to
	// aliceOld (set once alice moved away from it).
	outage, dead atomic.Bool
}

func newMovingNet(t *testing.T) *movingNet {
	t.Helper()
	mn := &movingNet{}
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = wanLogLevel
	wan, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "1.0.0.0/8", LoggerFactory: lf})
	if err != nil {
		t.Fatal(err)
	}
	old := net.ParseIP(aliceOld)
	wan.AddChunkFilter(func(c vnet.Chunk) bool {
		if mn.outage.Load() {
			return false
		}
		if mn.dead.Load() && (ipOf(c.SourceAddr()).Equal(old) || ipOf(c.DestinationAddr()).Equal(old)) {
			return false
		}
		return true
	})
	host := func(ip string) *vnet.Net {
		n, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{ip}})
		if err != nil {
			t.Fatal(err)
		}
		if err := wan.AddNet(n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	mn.alice, mn.bob = host(aliceOld), host(bobAddr)
	if err := wan.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := wan.Stop(); err != nil {
			t.Errorf("stopping router: %v", err)
		}
	})
	return mn
}

// moveAlice gives alice a new address and takes the old one away, as when
// a laptop changes from one network to another.
func (mn *movingNet) moveAlice(t *testing.T) {
	t.Helper()
	if err := mn.alice.AddAddress("eth0", &net.IPNet{IP: net.ParseIP(aliceNew), Mask: net.CIDRMask(8, 32)}); err != nil {
		t.Fatal(err)
	}
	mn.dead.Store(true)
	if err := mn.alice.RemoveAddress("eth0", net.ParseIP(aliceOld)); err != nil {
		t.Fatal(err)
	}
}

func TestICERestartAfterNetworkChange(t *testing.T) {
	cases := []struct {
		name string
		// change breaks the path; it returns a function that repairs it
		// once the restart offer is out (nil: nothing to repair).
		change   func(t *testing.T, mn *movingNet) func()
		explicit bool // call Engine.RestartICE instead of waiting
		newAddr  bool // alice's selected pair must use aliceNew
	}{
		{
			name: "outage then recovery",
			change: func(_ *testing.T, mn *movingNet) func() {
				mn.outage.Store(true)
				return func() { mn.outage.Store(false) }
			},
		},
		{
			name: "address change",
			change: func(t *testing.T, mn *movingNet) func() {
				t.Helper()
				mn.moveAlice(t)
				return nil
			},
			newAddr: true,
		},
		{
			name: "address change, explicit RestartICE",
			change: func(t *testing.T, mn *movingNet) func() {
				t.Helper()
				mn.moveAlice(t)
				return nil
			},
			explicit: true,
			newAddr:  true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			guard(t)
			ctx := context.Background()
			mn := newMovingNet(t)
			logs := newTestLogs(t)

			// ICE notices a dead path after 800 ms and gives up 3 s
			// later. Both engines use the same restart delay: the engine
			// itself staggers them (the callee waits three times longer),
			// so that their offers seldom cross (crossing ones are tested
			// by TestICERestartOfferCollision). For the explicit case the
			// engine's own restarts are pushed out of the test's reach.
			timeouts := func(se *webrtc.SettingEngine) {
				se.SetICETimeouts(800*time.Millisecond, 3*time.Second, 200*time.Millisecond)
			}
			callerDelay, calleeDelay := 300*time.Millisecond, 300*time.Millisecond
			if tc.explicit {
				callerDelay, calleeDelay = time.Minute, time.Minute
			}
			r := newRoom("!move:test")
			alice := r.join(t, "@alice:test",
				WithSettingEngine(vnetSettings(mn.alice, timeouts)),
				WithICETimings(callerDelay, 2*time.Minute),
				WithLogger(logs.logger("alice")))
			bob := r.join(t, "@bob:test",
				WithSettingEngine(vnetSettings(mn.bob, timeouts)),
				WithICETimings(calleeDelay, 2*time.Minute),
				WithLogger(logs.logger("bob")))
			am := newTestMedia(t, "alice-stream")
			bm := newTestMedia(t, "bob-stream")

			id := connect(t, r, alice, bob, am, bm)
			alice.waitPackets(id, vnetMinMedia)
			bob.waitPackets(id, vnetMinMedia)
			before := negotiations(t, r)
			if len(before) != 0 {
				t.Fatalf("negotiations before the network change: %+v", before)
			}
			firstUfrag := map[string]string{}
			for _, typ := range []string{EventInvite, EventAnswer} {
				for _, ev := range r.eventsOfType(typ) {
					c, err := ParseContent(ev.Type, ev.Content)
					if err != nil {
						t.Fatal(err)
					}
					switch v := c.(type) {
					case *Invite:
						firstUfrag[ev.Sender] = iceUfrag(v.Offer.SDP)
					case *Answer:
						firstUfrag[ev.Sender] = iceUfrag(v.Answer.SDP)
					}
				}
			}

			aMark, bMark := alice.mark(), bob.mark()
			changed := time.Now()
			repair := tc.change(t, mn)
			if tc.explicit {
				if err := alice.eng.RestartICE(ctx, id); err != nil {
					t.Fatalf("RestartICE: %v", err)
				}
			} else {
				// The engine notices: ICE disconnected shows as connecting.
				alice.waitAfter(aMark, "connecting after the network change", func(ci CallInfo) bool {
					return ci.ID == id && ci.State == StateConnecting
				})
			}

			// An m.call.negotiate offer with a fresh ICE ufrag goes out.
			var offer negotiation
			deadline := time.Now().Add(10 * time.Second)
			for offer.typ == "" {
				for _, n := range negotiations(t, r) {
					if n.typ == "offer" && n.ufrag != "" && n.ufrag != firstUfrag[n.sender] {
						offer = n
						break
					}
				}
				if time.Now().After(deadline) {
					t.Fatalf("no ICE-restart offer; negotiations: %+v; alice: %s; bob: %s",
						negotiations(t, r), alice.summary(), bob.summary())
				}
				time.Sleep(10 * time.Millisecond)
			}
			restartOffer := time.Since(changed)
			if repair != nil {
				repair()
			}

			// With the automatic path the call went to connecting and must
			// come back; with the explicit one it may have stayed
			// connected (ICE "checking" is not shown), so the media check
			// below is what proves the path works again.
			ac := alice.waitAfter(aMark, "connected again", func(ci CallInfo) bool {
				return ci.ID == id && ci.State == StateConnected
			})
			bc := bob.waitAfter(bMark, "connected again", func(ci CallInfo) bool {
				return ci.ID == id && ci.State == StateConnected
			})
			reconnected := time.Since(changed)
			if ac.State != StateConnected || bc.State != StateConnected {
				t.Fatalf("states %s / %s", ac.State, bc.State)
			}
			// Media keeps flowing both ways.
			aPkts, bPkts := alice.packets(id), bob.packets(id)
			alice.waitPackets(id, aPkts+vnetMinMedia)
			bob.waitPackets(id, bPkts+vnetMinMedia)
			resumed := time.Since(changed)

			ap := selectedPair(t, alice, id)
			t.Logf("restart offer by %s after %v, connected state after %v, %d more packets each way after %v; negotiations %+v; alice pair %s",
				offer.sender, restartOffer.Round(time.Millisecond), reconnected.Round(time.Millisecond),
				vnetMinMedia, resumed.Round(time.Millisecond), negotiations(t, r), pairString(ap))
			if tc.newAddr && ap.Local.Address != aliceNew {
				t.Errorf("alice's selected pair %s does not use her new address %s", pairString(ap), aliceNew)
			}
			for _, n := range negotiations(t, r) {
				if n.sender != alice.userID && n.sender != bob.userID {
					t.Errorf("negotiate from %s", n.sender)
				}
			}
			for _, m := range []*member{alice, bob} {
				if inf, _ := m.eng.Call(id); inf.State != StateConnected {
					t.Errorf("%s: call is %s at the end, want connected; updates: %s", m.userID, inf.State, m.summary())
				}
			}

			if err := bob.eng.Hangup(ctx, id); err != nil {
				t.Fatal(err)
			}
			alice.waitState(id, StateEnded)
		})
	}
}

// TestICERestartOfferCollision has both sides start an ICE restart at the
// same moment, so their m.call.negotiate offers cross. Perfect negotiation
// says the callee (polite) rolls its offer back and answers the caller's,
// which the caller (impolite, ignoring the callee's offer) takes as the
// answer to its own: both end stable and media flows again.
func TestICERestartOfferCollision(t *testing.T) {
	guard(t)
	ctx := context.Background()
	logs := newTestLogs(t)
	r := newRoom("!glare:test")
	alice := r.join(t, "@alice:test", WithLogger(logs.logger("alice")))
	bob := r.join(t, "@bob:test", WithLogger(logs.logger("bob")))
	am := newTestMedia(t, "alice-stream")
	bm := newTestMedia(t, "bob-stream")

	id := connect(t, r, alice, bob, am, bm)
	alice.waitPackets(id, vnetMinMedia)
	bob.waitPackets(id, vnetMinMedia)

	// Hold the room so that the two offers cross.
	r.pause()
	if err := alice.eng.RestartICE(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := bob.eng.RestartICE(ctx, id); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); len(r.eventsOfType(EventNegotiate)) < 2; {
		if time.Now().After(deadline) {
			t.Fatalf("offers not sent: %+v", negotiations(t, r))
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.resume()

	deadline := time.Now().Add(5 * time.Second)
	for {
		as, bs := signalingState(t, alice, id), signalingState(t, bob, id)
		if as == webrtc.SignalingStateStable && bs == webrtc.SignalingStateStable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("negotiation stuck after crossing restart offers: alice %s, bob %s; negotiations %+v",
				as, bs, negotiations(t, r))
		}
		time.Sleep(20 * time.Millisecond)
	}
	aPkts, bPkts := alice.packets(id), bob.packets(id)
	alice.waitPackets(id, aPkts+vnetMinMedia)
	bob.waitPackets(id, bPkts+vnetMinMedia)
	for _, m := range []*member{alice, bob} {
		if inf, _ := m.eng.Call(id); inf.State != StateConnected {
			t.Errorf("%s: call is %s, want connected", m.userID, inf.State)
		}
	}
}

// TestPeerUnreachableEndsCall cuts the network for good in the middle of a
// call while the callee cannot signal either (its hangup never arrives).
// The caller notices ICE is disconnected, tries one ICE restart, and ends
// the call with an ICE reason instead of staying in it.
func TestPeerUnreachableEndsCall(t *testing.T) {
	guard(t)
	mn := newMovingNet(t)
	logs := newTestLogs(t)
	timeouts := func(se *webrtc.SettingEngine) {
		se.SetICETimeouts(800*time.Millisecond, 2*time.Second, 200*time.Millisecond)
	}
	r := newRoom("!gone:test")
	alice := r.join(t, "@alice:test", WithSettingEngine(vnetSettings(mn.alice, timeouts)),
		WithICETimings(300*time.Millisecond, 4*time.Second), WithLogger(logs.logger("alice")))
	bob := r.join(t, "@bob:test", WithSettingEngine(vnetSettings(mn.bob, timeouts)),
		WithICETimings(300*time.Millisecond, 4*time.Second), WithLogger(logs.logger("bob")))
	am, bm := newTestMedia(t, "alice-stream"), newTestMedia(t, "bob-stream")
	id := connect(t, r, alice, bob, am, bm)
	alice.waitPackets(id, vnetMinMedia)

	r.rewrite = func(from *member, _ string, content map[string]any) map[string]any {
		if from == bob {
			return nil
		}
		return content
	}
	mn.outage.Store(true)
	start := time.Now()
	ci := alice.waitState(id, StateEnded)
	if ci.EndReason != ReasonICEFailed && ci.EndReason != ReasonICETimeout {
		t.Fatalf("caller's call ended with %v, want ice_failed or ice_timeout", ci.EndReason)
	}
	t.Logf("caller gave up after %v with %v", time.Since(start).Round(time.Millisecond), ci.EndReason)
	if got := len(negotiations(t, r)); got == 0 {
		t.Error("no ICE restart was tried")
	}
}
