package backend

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

// verifyExpirySleeper is the goroutine mautrix's verification helper
// starts for each verification: it sleeps until the transaction would
// expire (10 minutes) and cannot be stopped. The trust integration test
// leaves one behind, which outlives it into the unit tests run after it
// in the same binary.
const verifyExpirySleeper = "verificationhelper.(*VerificationHelper).expireTransactionAt"

// checkRoutines is pion's test.CheckRoutines (no goroutines but the
// test's at its start and, after a grace of up to 10 s, at its end) that
// also tolerates verifyExpirySleeper.
func checkRoutines(t *testing.T) func() {
	t.Helper()
	wait := func(what string) {
		t.Helper()
		for try := 0; ; try++ {
			time.Sleep(200 * time.Millisecond)
			runtime.GC()
			left := leftRoutines()
			if len(left) == 0 {
				return
			}
			if try >= 50 {
				t.Fatalf("%s:\n%s", what, strings.Join(left, "\n\n"))
			}
		}
	}
	wait("Unexpected routines on test startup")
	return func() { wait("Unexpected routines on test end") }
}

func leftRoutines() []string {
	buf := make([]byte, 2<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var left []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if g == "" || strings.Contains(g, "testing.Main(") || strings.Contains(g, "testing.(*T).Run(") ||
			strings.Contains(g, "backend.leftRoutines(") || strings.Contains(g, verifyExpirySleeper) {
			continue
		}
		left = append(left, g)
	}
	return left
}
