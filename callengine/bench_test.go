package callengine

import (
	"context"
	"testing"
	"time"
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
