package backend

import "sync"

// subscribers is a set of callbacks that all get every value sent.
type subscribers[T any] struct {
	mu   sync.Mutex
	fns  map[int]func(T)
	next int
}

// add registers fn and returns the function that removes it.
func (s *subscribers[T]) add(fn func(T)) (cancel func()) {
	s.mu.Lock()
	if s.fns == nil {
		s.fns = make(map[int]func(T))
	}
	id := s.next
	s.next++
	s.fns[id] = fn
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.fns, id)
		s.mu.Unlock()
	}
}

// send calls every subscriber with v, outside the lock.
func (s *subscribers[T]) send(v T) {
	s.mu.Lock()
	fns := make([]func(T), 0, len(s.fns))
	for _, f := range s.fns {
		fns = append(fns, f)
	}
	s.mu.Unlock()
	for _, f := range fns {
		f(v)
	}
}
