//go:build integration && goolm

package backend

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/mxcall/mxcall/callengine"
	"github.com/mxcall/mxcall/internal/cmem"
)

// TestIntegrationRTCCallSteps measures where the time of a MatrixRTC DM
// call goes, from the click (PlaceCall) to the first decoded remote frame,
// over the real stack (Dendrite, token service, LiveKit), like
// TestIntegrationCallSteps does for legacy calls, twice: to the echo
// partner (the first frame is our own picture sent back: our video goes
// through the SFU to the partner and back), and to a second mxcall that
// answers the moment it rings and sends its own camera (a test pattern),
// as a person's device does. It asserts nothing about time; it writes
// rtc-call-steps.txt and rtc-call-steps-app.txt (see writeSteps).
// MXCALL_BENCH_CALLS sets the number of calls of each (default 3;
// scripts/bench-call.sh --rtc runs 20), MXCALL_BENCH_DEBUG=1 logs every
// side at debug level ("matrixrtc: join" lines give the steps inside each
// join).
//
// Steps: created = PlaceCall returned; ringing = we joined (membership
// sent, LiveKit connected, tracks published) and the ring went out;
// connected = the partner's membership is seen; first frame = the first
// remote picture decoded.
func TestIntegrationRTCCallSteps(t *testing.T) {
	ctx, hs, focus := rtcIT(t)
	n := 3
	if s := os.Getenv("MXCALL_BENCH_CALLS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 {
			t.Fatalf("MXCALL_BENCH_CALLS=%q: want a number ≥ 1", s)
		}
	}
	alice := newRTCUser(ctx, t, hs, "alice", focus)
	t.Run("echo", func(t *testing.T) {
		echo := startRTCEcho(ctx, t, hs)
		room, err := alice.b.CreateDM(ctx, echo)
		if err != nil {
			t.Fatal(err)
		}
		waitIT(ctx, t, "the partner in the DM", func() bool { _, err := alice.b.mc.CallPeer(room); return err == nil })
		rtcCallSteps(ctx, t, alice, room, echo, n, nil, "rtc-call-steps.txt",
			"MatrixRTC DM call steps over real Dendrite + LiveKit to the echo partner (first frame: our own, sent back)")
	})
	t.Run("app", func(t *testing.T) {
		bob := newRTCUser(ctx, t, hs, "bob", "")
		room := alice.dm(ctx, t, bob)
		answered := map[string]bool{}
		answer := func() error { // bob picks up the moment his app rings
			for {
				select {
				case ci := <-bob.updates:
					if ci.State == callengine.StateRinging && ci.Direction == callengine.Incoming && !answered[ci.ID] {
						answered[ci.ID] = true
						return bob.b.Answer(ctx, ci.ID, true)
					}
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
		rtcCallSteps(ctx, t, alice, room, bob.id, n, answer, "rtc-call-steps-app.txt",
			"MatrixRTC DM call steps over real Dendrite + LiveKit to a second mxcall that answers at once (first frame: its camera)")
	})
}

// rtcCallSteps places n video calls from alice to peer in room, each
// hung up after its first remote frame, and writes their steps to file.
// answer, if set, runs alongside each call (the callee picking up).
func rtcCallSteps(ctx context.Context, t *testing.T, alice *rtcUser, room, peer string, n int, answer func() error, file, title string) {
	t.Helper()
	var steps [][]time.Duration
	var rss []int64
	var cost []usage
	cpu0 := usageNow().cpu
	for i := 1; i <= n; i++ {
		answered := make(chan error, 1)
		if answer != nil {
			go func() { answered <- answer() }()
		} else {
			answered <- nil
		}
		u0 := usageNow()
		start := time.Now()
		if itLogLevel() == slog.LevelDebug { // the click, for the debug log's timeline
			fmt.Fprintf(os.Stderr, "time=%s level=DEBUG msg=\"bench: click\" call=%d\n", start.UTC().Format("2006-01-02T15:04:05.000Z"), i)
		}
		id, err := alice.b.PlaceCall(ctx, room, peer, true)
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		created := time.Since(start)
		var ringing time.Duration
		alice.until(ctx, t, fmt.Sprintf("call %d connected", i), func(ci callengine.CallInfo) bool {
			if ci.ID == id && ci.State == callengine.StateInviteSent && ringing == 0 {
				ringing = time.Since(start)
			}
			return ci.ID == id && ci.State == callengine.StateConnected
		})
		connected := time.Since(start)
		alice.frames(ctx, t, id, 1)
		first := time.Since(start)
		cost = append(cost, usageNow().since(u0))
		if ringing == 0 { // the partner was seen before the ring was out
			ringing = connected
		}
		if err := <-answered; err != nil {
			t.Fatalf("call %d: answering: %v", i, err)
		}
		steps = append(steps, []time.Duration{created, ringing, connected, first})
		rss = append(rss, rssKB())
		if err := alice.b.Hangup(ctx, id); err != nil {
			t.Fatalf("call %d: hangup: %v", i, err)
		}
		alice.ended(ctx, t, id, callengine.PartyLocal, callengine.ReasonUserHangup)
		waitIT(ctx, t, fmt.Sprintf("call %d: the partner gone", i), func() bool { return alice.b.callMembers(room) == 0 })
		cmem.GiveBack() // as the app after a call
	}
	writeSteps(t, file, formatSteps(title, []string{"created", "ringing", "connected", "first frame"}, steps, cost, rss, usageNow().cpu-cpu0))
}
