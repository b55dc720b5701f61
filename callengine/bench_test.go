package callengine

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/turn/v5"
	"github.com/pion/webrtc/v4"
)

// BenchmarkPlaceToConnected measures PlaceCall → both sides connected over
// the in-memory room on loopback, with the callee answering as soon as it
// rings. It reports ms/call as the figure to compare with the 150 ms target.
func BenchmarkPlaceToConnected(b *testing.B) {
	ctx := context.Background()
	r := newRoom("!bench:test")
	alice := r.join(b, "@alice:test", WithCandidateTimings(DefaultGatherWait, DefaultCallerBatch, DefaultCalleeBatch))
	bob := r.join(b, "@bob:test", WithCandidateTimings(DefaultGatherWait, DefaultCallerBatch, DefaultCalleeBatch))
	am, bm := newTestMedia(b, "a"), newTestMedia(b, "b")
	var total time.Duration
	for b.Loop() {
		start := time.Now()
		id, err := alice.eng.PlaceCall(ctx, r.id, bob.userID, true, am.Media)
		if err != nil {
			b.Fatal(err)
		}
		bob.waitState(id, StateRinging)
		if err := bob.eng.Answer(ctx, id, true, bm.Media); err != nil {
			b.Fatal(err)
		}
		alice.waitState(id, StateConnected)
		bob.waitState(id, StateConnected)
		total += time.Since(start)
		b.StopTimer()
		_ = alice.eng.Hangup(ctx, id)
		bob.waitState(id, StateEnded)
		alice.waitState(id, StateEnded)
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/call")
}

// BenchmarkRelayPlaceToFirstMedia measures PlaceCall → the first RTP
// packet from the callee arriving at the caller, when the only working
// path goes through a TURN relay. The engines use the default candidate
// timings and the callee answers as soon as it rings. It reports ms/call
// (target: < 600 ms). Two set-ups:
//
//   - loopback: an in-process pion/turn server on 127.0.0.1; the callee
//     gathers relay candidates only (as a client forced to use TURN does),
//     so every path crosses the relay. Run it in the loopback-only
//     namespace (scripts/netns.sh).
//   - vnet: the NAT topology of TestRelayOnlyPathThroughTURN with the
//     direct path between the two NATs blocked.
func BenchmarkRelayPlaceToFirstMedia(b *testing.B) {
	timings := WithCandidateTimings(DefaultGatherWait, DefaultCallerBatch, DefaultCalleeBatch)
	b.Run("loopback", func(b *testing.B) {
		servers := loopbackTURN(b)
		r := newRoom("!relay:test")
		alice := r.join(b, "@alice:test", timings, WithICEServers(servers("@alice:test")))
		bob := r.join(b, "@bob:test", timings, WithICEServers(servers("@bob:test")), WithRelayOnly(true))
		benchFirstMedia(b, r, alice, bob)
	})
	b.Run("vnet", func(b *testing.B) {
		tn := newTURNNet(b)
		tn.blockDirect.Store(true)
		r := newRoom("!relay:test")
		alice := r.join(b, "@alice:test", timings,
			WithSettingEngine(vnetSettings(tn.alice, nil)), WithICEServers(iceServersFor("@alice:test")))
		bob := r.join(b, "@bob:test", timings,
			WithSettingEngine(vnetSettings(tn.bob, nil)), WithICEServers(iceServersFor("@bob:test")))
		benchFirstMedia(b, r, alice, bob)
	})
}

// benchFirstMedia places calls from alice to bob and reports the mean time
// from PlaceCall to alice's first RTP packet from bob; every call must
// have gone through the relay.
func benchFirstMedia(b *testing.B, r *room, alice, bob *member) {
	b.Helper()
	ctx := context.Background()
	am, bm := newTestMedia(b, "a"), newTestMedia(b, "b")
	var total time.Duration
	for b.Loop() {
		start := time.Now()
		id, err := alice.eng.PlaceCall(ctx, r.id, bob.userID, true, am.Media)
		if err != nil {
			b.Fatal(err)
		}
		bob.waitState(id, StateRinging)
		if err := bob.eng.Answer(ctx, id, true, bm.Media); err != nil {
			b.Fatal(err)
		}
		for alice.packets(id) == 0 {
			if time.Since(start) > 30*time.Second {
				b.Fatalf("no media after 30 s; alice: %s", alice.summary())
			}
			time.Sleep(time.Millisecond)
		}
		total += time.Since(start)
		b.StopTimer()
		if ci := alice.waitState(id, StateConnected); !ci.Relay {
			b.Fatal("the call did not go through the relay")
		}
		_ = alice.eng.Hangup(ctx, id)
		bob.waitState(id, StateEnded)
		alice.waitState(id, StateEnded)
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/call")
}

// loopbackTURN starts a pion/turn server on 127.0.0.1 that accepts TURN
// REST credentials for turnSecret, and returns what a homeserver's
// /voip/turnServer would give a user for it. The server stops in a cleanup.
func loopbackTURN(tb testing.TB) func(user string) []webrtc.ICEServer {
	tb.Helper()
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = wanLogLevel
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv, err := turn.NewServer(turn.ServerConfig{
		Realm:       turnRealm,
		AuthHandler: turn.LongTermTURNRESTAuthHandler(turnSecret, lf.NewLogger("turn-auth")),
		PacketConnConfigs: []turn.PacketConnConfig{{
			PacketConn: pc,
			RelayAddressGenerator: &turn.RelayAddressGeneratorStatic{
				RelayAddress: net.ParseIP("127.0.0.1"), Address: "127.0.0.1",
			},
		}},
		LoggerFactory: lf,
	})
	if err != nil {
		_ = pc.Close()
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := srv.Close(); err != nil {
			tb.Errorf("closing TURN server: %v", err)
		}
	})
	addr := pc.LocalAddr().String()
	return func(user string) []webrtc.ICEServer {
		username, password := turnRESTCredentials(turnSecret, user, time.Hour)
		return []webrtc.ICEServer{{
			URLs:     []string{fmt.Sprintf("turn:%s?transport=udp", addr)},
			Username: username, Credential: password,
		}}
	}
}
