package callengine

import "sync"

// mailbox is an unbounded FIFO of functions run by one goroutine. Posting
// never blocks, so pion callbacks can post while the owner goroutine is
// inside a pion call that waits for them.
type mailbox struct {
	mu     sync.Mutex
	q      []func()
	closed bool
	wake   chan struct{}
}

func newMailbox() *mailbox { return &mailbox{wake: make(chan struct{}, 1)} }

// post queues f; it reports false (and drops f) once the mailbox is closed.
func (m *mailbox) post(f func()) bool {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return false
	}
	m.q = append(m.q, f)
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
	return true
}

// close stops accepting work; run returns after draining what was queued.
func (m *mailbox) close() {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// run executes queued functions until the mailbox is closed and drained,
// or until stop (if not nil) reports true after a function ran.
func (m *mailbox) run(stop func() bool) {
	for range m.wake {
		for {
			m.mu.Lock()
			if len(m.q) == 0 {
				closed := m.closed
				m.mu.Unlock()
				if closed {
					return
				}
				break
			}
			f := m.q[0]
			m.q[0] = nil
			m.q = m.q[1:]
			m.mu.Unlock()
			f()
			if stop != nil && stop() {
				m.close()
				m.drop()
				return
			}
		}
	}
}

// drop discards queued work (after the owner stopped).
func (m *mailbox) drop() {
	m.mu.Lock()
	m.q = nil
	m.mu.Unlock()
}
