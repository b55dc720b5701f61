package matrixrtc

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// stopwatch records when each step of a join ended, counted from its
// start, for the debug log (where a call's set-up time goes). Steps may
// end on several goroutines. A nil stopwatch records nothing.
type stopwatch struct {
	start time.Time
	mu    sync.Mutex
	b     strings.Builder
}

func newStopwatch() *stopwatch { return &stopwatch{start: time.Now()} }

// mark records that step name ended now.
func (w *stopwatch) mark(name string) {
	if w == nil {
		return
	}
	at := time.Since(w.start)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.b.Len() > 0 {
		w.b.WriteByte(' ')
	}
	fmt.Fprintf(&w.b, "%s@%.1fms", name, float64(at)/float64(time.Millisecond))
}

// String lists the steps in the order they ended.
func (w *stopwatch) String() string {
	if w == nil {
		return ""
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
