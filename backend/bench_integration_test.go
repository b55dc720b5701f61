//go:build integration && goolm

package backend

import (
	"cmp"
	"fmt"
	"image"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mxcall/mxcall/callengine"
	"github.com/mxcall/mxcall/internal/cmem"
)

// callSteps are the times of one call's steps after PlaceCall was called.
type callSteps struct {
	created, inviteSent, answered, connected, firstFrame time.Duration
}

// TestIntegrationCallSteps measures where the time of a call goes, from
// the click (PlaceCall) to the first decoded remote frame, over real
// Dendrite with the echo partner (test pattern and tone, loopback), and
// the process's CPU time and RSS. It asserts nothing about time (machines
// are noisy); it writes call-steps.txt into the directory MXCALL_BENCH_OUT
// (default the test's log directory) and logs it. scripts/bench-call.sh runs it with
// MXCALL_BENCH_CALLS=20; the test command runs 3 calls so it stays working.
//
// Steps: created = PlaceCall returned (the call's goroutine then captures
// media and makes the peer connection and offer); invite sent = the offer
// has its candidates and the invite's PUT starts; answered = the answer
// came back through the homeserver (the invite's and the answer's PUT and
// sync delivery, the partner's answering); connected = ICE and DTLS up;
// first frame = the first echoed picture decoded. MXCALL_BENCH_DEBUG=1
// logs both sides at debug level, to see inside a step.
func TestIntegrationCallSteps(t *testing.T) {
	ctx, hs := startIT(t)
	n := 3
	if s := os.Getenv("MXCALL_BENCH_CALLS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 {
			t.Fatalf("MXCALL_BENCH_CALLS=%q: want a number ≥ 1", s)
		}
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: itLogLevel()}))
	a, p, roomID, bob := soakSetup(ctx, t, hs, log.With("who", "app"), log.With("who", "partner"))
	type stamp struct {
		ci callengine.CallInfo
		at time.Time
	}
	updates := make(chan stamp, 1024)
	defer a.SubscribeCalls(func(ci callengine.CallInfo) { updates <- stamp{ci, time.Now()} })()

	var steps []callSteps
	var rss []int64
	var cost []usage
	cpu0 := usageNow().cpu
	var dst *image.RGBA
	for i := 1; i <= n; i++ {
		var s callSteps
		u0 := usageNow()
		start := time.Now()
		id, err := a.PlaceCall(ctx, roomID, bob, true)
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		s.created = time.Since(start)
		for s.connected == 0 {
			select {
			case u := <-updates:
				if u.ci.ID != id {
					continue
				}
				switch u.ci.State {
				case callengine.StateInviteSent:
					s.inviteSent = u.at.Sub(start)
				case callengine.StateConnecting:
					if s.answered == 0 {
						s.answered = u.at.Sub(start)
					}
				case callengine.StateConnected:
					s.connected = u.at.Sub(start)
				case callengine.StateEnded:
					t.Fatalf("call %d ended (%v) before connecting", i, u.ci.EndReason)
				}
			case <-ctx.Done():
				t.Fatalf("call %d never connected", i)
			}
		}
		for s.firstFrame == 0 {
			if fs := a.RemoteVideo(id); fs != nil {
				var ok bool
				if dst, _, ok = fs.FrameInto(dst, 0); ok {
					s.firstFrame = time.Since(start)
					break
				}
			}
			select {
			case <-ctx.Done():
				t.Fatalf("call %d: no remote frame", i)
			case <-time.After(time.Millisecond):
			}
		}
		steps = append(steps, s)
		cost = append(cost, usageNow().since(u0))
		rss = append(rss, rssKB())
		if err := a.Hangup(ctx, id); err != nil {
			t.Fatalf("call %d: hangup: %v", i, err)
		}
		waitIT(ctx, t, fmt.Sprintf("call %d: ended at the partner", i), func() bool {
			ci, ok := p.eng.Call(id)
			return ok && ci.State == callengine.StateEnded
		})
		waitIT(ctx, t, fmt.Sprintf("call %d: media released", i), func() bool { return a.existingMedia(id) == nil })
		cmem.GiveBack() // as the app after a call: the next call finds no warmer memory than there
	}
	cpu := usageNow().cpu - cpu0
	table := make([][]time.Duration, len(steps))
	for i, s := range steps {
		table[i] = []time.Duration{s.created, s.inviteSent, s.answered, s.connected, s.firstFrame}
	}
	writeSteps(t, "call-steps.txt", formatSteps("call steps over real Dendrite to the echo partner",
		[]string{"created", "invite sent", "answered", "connected", "first frame"}, table, cost, rss, cpu))
}

// writeSteps logs a report and writes it to name in MXCALL_BENCH_OUT's
// directory (default the test's log directory).
func writeSteps(t *testing.T, name, report string) {
	t.Helper()
	t.Log("\n" + report)
	dir := cmpOr(os.Getenv("MXCALL_BENCH_OUT"), cmpOr(os.Getenv("MXCALL_LOG_DIR"), t.TempDir()))
	if err := os.WriteFile(filepath.Join(dir, name), []byte(report), 0o644); err != nil {
		t.Error(err)
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// formatSteps reports, for each named step (times after the click, in
// order), the median over calls 2..n (warm) and call 1 on its own (a fresh
// client's first call); steps[i][j] is call i's step j.
func formatSteps(title string, names []string, steps [][]time.Duration, cost []usage, rss []int64, cpu time.Duration) string {
	var b strings.Builder
	warm := steps
	if len(steps) > 1 {
		warm = steps[1:]
	}
	med := func(j int) time.Duration {
		return median(warm, func(s []time.Duration) time.Duration { return s[j] })
	}
	fmt.Fprintf(&b, "%s, %d calls (medians of calls 2..%d; one process: app backend + partner):\n", title, len(steps), len(steps))
	for j, name := range names {
		m, step := med(j), med(j)
		if j > 0 {
			step -= med(j - 1)
		}
		fmt.Fprintf(&b, "  %-12s %7.1f ms after the click (step %+7.1f ms); first call %7.1f ms\n", name,
			ms(m), ms(step), ms(steps[0][j]))
	}
	if len(cost) == len(steps) {
		wc := cost
		if len(cost) > 1 {
			wc = cost[1:]
		}
		fmt.Fprintf(&b, "  click → first frame: CPU %.0f ms, %d page faults (medians; first call %.0f ms, %d)\n",
			ms(median(wc, func(c usage) time.Duration { return c.cpu })), median(wc, func(c usage) int64 { return c.faults }),
			ms(cost[0].cpu), cost[0].faults)
	}
	fmt.Fprintf(&b, "  CPU %.0f ms per call (user+system, whole process); RSS after each call %v MB\n",
		ms(cpu)/float64(len(steps)), mbList(rss))
	return b.String()
}

// median is the median of field over xs (the upper one of an even count).
func median[X any, T cmp.Ordered](xs []X, field func(X) T) T {
	v := make([]T, len(xs))
	for i, x := range xs {
		v[i] = field(x)
	}
	slices.Sort(v)
	return v[len(v)/2]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func mbList(kb []int64) []string {
	out := make([]string, len(kb))
	for i, k := range kb {
		out[i] = fmt.Sprintf("%.0f", float64(k)/1024)
	}
	return out
}

// usage is the process's CPU time (user and system) and minor page
// faults so far, or between two points (since).
type usage struct {
	cpu    time.Duration
	faults int64
}

func usageNow() usage {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return usage{}
	}
	return usage{cpu: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), faults: ru.Minflt}
}

func (u usage) since(v usage) usage { return usage{cpu: u.cpu - v.cpu, faults: u.faults - v.faults} }

func rssKB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			return v
		}
	}
	return 0
}
