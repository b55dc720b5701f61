package backend

import (
	"context"
	"sync"
	"time"

	"github.com/mxcall/mxcall/matrixclient"
	"github.com/mxcall/mxcall/ui"
)

// Bounds of the device-trust cache.
const (
	trustMaxAge   = time.Minute      // refetch a peer's devices at most this often
	trustTimeout  = 15 * time.Second // one fetch (may ask the homeserver)
	trustWorkers  = 2                // fetches at once
	trustMaxQueue = 256              // peers waiting; more are dropped until next time
)

// trustCache knows, per peer, whether all of their devices are verified.
// Fetching a device list may do network I/O, so the room snapshot only
// reads the cache and asks for stale entries to be refreshed; a few
// workers fetch them in the background and report changes.
type trustCache struct {
	fetch   func(ctx context.Context, userID string) ([]matrixclient.Device, error)
	changed func() // after a fetch changed what get returns; on a worker goroutine
	now     func() time.Time

	mu      sync.Mutex
	known   map[string]trustEntry
	queued  map[string]bool
	queue   []string
	running int
	gen     int // bumped by reset: results of older fetches are dropped
	quit    chan struct{}
	closed  bool
}

type trustEntry struct {
	trust ui.Trust
	at    time.Time
}

func newTrustCache(fetch func(ctx context.Context, userID string) ([]matrixclient.Device, error), changed func()) *trustCache {
	return &trustCache{
		fetch:   fetch,
		changed: changed,
		now:     time.Now,
		known:   make(map[string]trustEntry),
		queued:  make(map[string]bool),
		quit:    make(chan struct{}),
	}
}

// get returns what is known about userID's devices (TrustUnknown before the
// first fetch finished).
func (c *trustCache) get(userID string) ui.Trust {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.known[userID].trust
}

// request queues a refresh of every peer whose entry is missing or older
// than trustMaxAge. It never blocks.
func (c *trustCache) request(userIDs []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	now := c.now()
	for _, u := range userIDs {
		if u == "" || c.queued[u] || len(c.queue) >= trustMaxQueue {
			continue
		}
		if e, ok := c.known[u]; ok && now.Sub(e.at) < trustMaxAge {
			continue
		}
		c.queued[u] = true
		c.queue = append(c.queue, u)
	}
	for c.running < trustWorkers && c.running < len(c.queue) {
		c.running++
		go c.work()
	}
}

// work fetches queued peers until the queue is empty.
func (c *trustCache) work() {
	for {
		c.mu.Lock()
		if len(c.queue) == 0 || c.closed {
			c.running--
			c.mu.Unlock()
			return
		}
		u := c.queue[0]
		c.queue = c.queue[1:]
		gen := c.gen
		c.mu.Unlock()

		t := c.fetchOne(u)

		c.mu.Lock()
		delete(c.queued, u)
		changed := false
		if gen == c.gen && !c.closed {
			changed = c.known[u].trust != t
			c.known[u] = trustEntry{trust: t, at: c.now()}
		}
		c.mu.Unlock()
		if changed && c.changed != nil {
			c.changed()
		}
	}
}

func (c *trustCache) fetchOne(userID string) ui.Trust {
	ctx, cancel := context.WithTimeout(context.Background(), trustTimeout)
	defer cancel()
	go func() {
		select {
		case <-c.quit:
			cancel()
		case <-ctx.Done():
		}
	}()
	devs, err := c.fetch(ctx, userID)
	if err != nil {
		return ui.TrustUnknown // tried again after trustMaxAge
	}
	return deviceTrust(devs)
}

// deviceTrust sums up a device list: verified only when every device is.
func deviceTrust(devs []matrixclient.Device) ui.Trust {
	if len(devs) == 0 {
		return ui.TrustUnknown
	}
	for _, d := range devs {
		if !d.Verified {
			return ui.TrustUnverified
		}
	}
	return ui.TrustVerified
}

// reset forgets everything (another account logged in).
func (c *trustCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.known = make(map[string]trustEntry)
	c.queue = nil
	c.queued = make(map[string]bool)
}

// close stops the workers (cancelling running fetches). Idempotent.
func (c *trustCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	c.queue = nil
	close(c.quit)
}

// forget drops what is known of userID (their devices changed, or we just
// verified them): the next snapshot fetches it again.
func (c *trustCache) forget(userID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.known, userID)
}

// stale marks what is known of users (of everyone when users is nil) as
// out of date: get keeps returning it, so the room list does not flicker,
// and the next request fetches it again.
func (c *trustCache) stale(users []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	mark := func(u string) {
		if e, ok := c.known[u]; ok {
			e.at = time.Time{}
			c.known[u] = e
		}
	}
	if users == nil {
		for u := range c.known {
			mark(u)
		}
	}
	for _, u := range users {
		mark(u)
	}
}
