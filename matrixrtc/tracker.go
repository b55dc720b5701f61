package matrixrtc

import (
	"encoding/json"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// TrackerConfig configures a Tracker. Callbacks run on the tracker's own
// goroutine, one at a time, and must not block.
type TrackerConfig struct {
	// UserID and DeviceID are ours: our own rings are not reported, and
	// our devices joining the call end a ring.
	UserID, DeviceID string
	// OnRing reports a new incoming ring.
	OnRing func(Ring)
	// OnRingEnded reports that an incoming ring stopped, and why.
	OnRingEnded func(r Ring, why RingEnd)
	// OnDeclined reports a decline by sender of the ring notificationID
	// (one of ours, when we rang; others' declines are reported too).
	OnDeclined func(roomID, notificationID, sender string)
	// OnMembers reports the live call memberships of a room's call (the
	// room-wide slot, ours included) whenever they change.
	OnMembers func(roomID string, members []Membership)
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Log receives the tracker's logs (default slog.Default()).
	Log *slog.Logger
}

// Tracker follows the MatrixRTC state of every room from the events sync
// delivers: who is in each room's call, and which rings are live. One
// goroutine owns its state; Handle hands it events.
type Tracker struct {
	cfg  TrackerConfig
	in   chan []RoomEvent
	quit chan struct{}
	done chan struct{}
	once sync.Once

	mu    sync.Mutex // guards the copies readers take
	views map[string][]Membership
	live  []Ring

	// Owned by the run goroutine.
	rooms map[string]*trackedRoom
	dirty map[string]bool // rooms whose call may have changed since the last tick
	rings map[string]Ring // by notification event ID
	timer *time.Timer
}

// trackedRoom is the MatrixRTC-relevant state of one room.
type trackedRoom struct {
	// state holds the room's m.room.member and call membership events by
	// "type|state key" (sticky memberships by "sticky|sender|key").
	state   map[string]StateEvent
	members []Membership // the room-wide slot, as last reported
}

// NewTracker starts a Tracker. Close it.
func NewTracker(cfg TrackerConfig) *Tracker {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	t := &Tracker{cfg: cfg, in: make(chan []RoomEvent, 64), quit: make(chan struct{}), done: make(chan struct{}),
		views: map[string][]Membership{}, rooms: map[string]*trackedRoom{}, dirty: map[string]bool{}, rings: map[string]Ring{}}
	go t.run()
	return t
}

// Handle feeds events from one sync response (or late decryptions), in
// timeline order. It does not wait for the callbacks; events handed in
// after Close are dropped.
func (t *Tracker) Handle(evs []RoomEvent) {
	if len(evs) == 0 {
		return
	}
	select {
	case t.in <- evs:
	case <-t.quit:
	}
}

// Members returns the live call memberships of roomID's room-wide slot,
// as last reported through OnMembers.
func (t *Tracker) Members(roomID string) []Membership {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.views[roomID])
}

// Rings returns the live incoming rings, oldest first.
func (t *Tracker) Rings() []Ring {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.live)
}

// Close stops the tracker's goroutine; live rings are not reported as
// ended. It is idempotent.
func (t *Tracker) Close() error {
	t.once.Do(func() { close(t.quit) })
	<-t.done
	return nil
}

func (t *Tracker) run() {
	defer close(t.done)
	for {
		var timerC <-chan time.Time
		if t.timer != nil {
			timerC = t.timer.C
		}
		select {
		case evs := <-t.in:
			for _, ev := range evs {
				t.handle(ev)
			}
		case <-timerC:
			t.timer = nil
			for id, r := range t.rooms {
				if len(r.members) > 0 {
					t.dirty[id] = true // a membership may have expired
				}
			}
		case <-t.quit:
			if t.timer != nil {
				t.timer.Stop()
			}
			return
		}
		t.tick()
	}
}

// handle applies one event.
func (t *Tracker) handle(ev RoomEvent) {
	switch ev.Type {
	case "m.room.member":
		if ev.StateKey == nil {
			return
		}
		// Only whether the user is joined matters: keep no more.
		se := ev.stateEvent(*ev.StateKey)
		se.Content = leftContent
		if memberJoined(ev.Content) {
			se.Content = joinedContent
		}
		t.room(ev.RoomID).state[ev.Type+"|"+*ev.StateKey] = se
		t.dirty[ev.RoomID] = true
	case TypeCallMember:
		if ev.StateKey == nil {
			return
		}
		t.room(ev.RoomID).state[ev.Type+"|"+*ev.StateKey] = ev.stateEvent(*ev.StateKey)
		t.dirty[ev.RoomID] = true
	case TypeRTCMember:
		var c struct {
			StickyKey string `json:"msc4354_sticky_key"`
		}
		if ev.StateKey != nil || json.Unmarshal(ev.Content, &c) != nil || c.StickyKey == "" {
			return
		}
		t.room(ev.RoomID).state["sticky|"+ev.Sender+"|"+c.StickyKey] = ev.stateEvent("")
		t.dirty[ev.RoomID] = true
	case TypeRTCNotification, TypeCallNotify:
		if ev.StateKey == nil {
			t.ring(ev)
		}
	case TypeRTCDecline:
		if ev.StateKey == nil {
			t.decline(ev)
		}
	case TypeLeftRoom:
		if r := t.rooms[ev.RoomID]; r != nil {
			clear(r.state) // reported as an empty call by the next tick
			t.dirty[ev.RoomID] = true
		}
	}
}

var (
	joinedContent = json.RawMessage(`{"membership":"join"}`)
	leftContent   = json.RawMessage(`{"membership":"leave"}`)
)

func (ev RoomEvent) stateEvent(key string) StateEvent {
	return StateEvent{Type: ev.Type, StateKey: key, Sender: ev.Sender, OriginServerTS: ev.OriginServerTS, Content: ev.Content}
}

func (t *Tracker) room(id string) *trackedRoom {
	r := t.rooms[id]
	if r == nil {
		r = &trackedRoom{state: map[string]StateEvent{}}
		t.rooms[id] = r
	}
	return r
}

// ring starts an incoming ring when the notification is one, fresh, not
// ours, and its sender is in the call.
func (t *Tracker) ring(ev RoomEvent) {
	if ev.Sender == t.cfg.UserID || ev.EventID == "" {
		return
	}
	if _, ok := t.rings[ev.EventID]; ok {
		return
	}
	r, ok := parseRing(ev, t.cfg.Now())
	if !ok {
		return
	}
	now := t.cfg.Now()
	if !now.Before(r.Expires) {
		return // stale: from an old timeline
	}
	members := t.liveMembers(ev.RoomID, now)
	if !hasUser(members, r.Sender) {
		t.cfg.Log.Info("matrixrtc: ignoring a ring from someone not in the call", "room", r.RoomID, "sender", r.Sender)
		return
	}
	if hasUser(members, t.cfg.UserID) {
		return // one of our devices is already in the call
	}
	t.rings[r.EventID] = r
	t.publishRings() // Rings() lists it by the time OnRing reports it
	if on := t.cfg.OnRing; on != nil {
		on(r)
	}
}

// parseRing reads a ring from an rtc.notification or the older
// call.notify. Its expiry is counted from the earlier of sender_ts and the
// time the server saw it, capped at MaxRingLifetime.
func parseRing(ev RoomEvent, now time.Time) (Ring, bool) {
	if len(ev.Content) > MaxContentBytes {
		return Ring{}, false
	}
	var c struct {
		NotificationType string  `json:"notification_type"`
		NotifyType       string  `json:"notify_type"`
		SenderTS         int64   `json:"sender_ts"`
		Lifetime         float64 `json:"lifetime"`
		Intent           string  `json:"m.call.intent"`
		Application      string  `json:"application"`
	}
	if json.Unmarshal(ev.Content, &c) != nil {
		return Ring{}, false
	}
	r := Ring{RoomID: ev.RoomID, EventID: ev.EventID, Sender: ev.Sender, Video: c.Intent != "audio"}
	if ev.Type == TypeCallNotify {
		if c.NotifyType != "ring" || (c.Application != "" && c.Application != ApplicationCall) {
			return Ring{}, false
		}
		r.Legacy = true
	} else if c.NotificationType != "ring" {
		return Ring{}, false
	}
	lifetime := DefaultRingLifetime
	if c.Lifetime > 0 {
		lifetime = min(time.Duration(c.Lifetime*float64(time.Millisecond)), MaxRingLifetime)
	}
	start := now
	if ev.OriginServerTS > 0 {
		start = time.UnixMilli(ev.OriginServerTS)
	}
	if !ev.Received.IsZero() && ev.Age > 0 {
		// Our clock's view of when the server saw it, immune to skew.
		if seen := ev.Received.Add(-ev.Age); seen.Before(start) || ev.OriginServerTS <= 0 {
			start = seen
		}
	}
	if c.SenderTS > 0 {
		if st := time.UnixMilli(c.SenderTS); st.Before(start) {
			start = st
		}
	}
	r.Expires = start.Add(lifetime)
	return r, true
}

// decline handles an rtc.decline: ours ends our incoming ring; anyone's is
// reported (the caller leaves on it).
func (t *Tracker) decline(ev RoomEvent) {
	var c struct {
		RelatesTo struct {
			RelType string `json:"rel_type"`
			EventID string `json:"event_id"`
		} `json:"m.relates_to"`
	}
	if len(ev.Content) > MaxContentBytes || json.Unmarshal(ev.Content, &c) != nil ||
		c.RelatesTo.RelType != "m.reference" || c.RelatesTo.EventID == "" {
		return
	}
	if r, ok := t.rings[c.RelatesTo.EventID]; ok && ev.Sender == t.cfg.UserID && r.RoomID == ev.RoomID {
		t.endRing(r, RingDeclined)
		return
	}
	if on := t.cfg.OnDeclined; on != nil && ev.Sender != t.cfg.UserID {
		on(ev.RoomID, c.RelatesTo.EventID, ev.Sender)
	}
}

func (t *Tracker) endRing(r Ring, why RingEnd) {
	delete(t.rings, r.EventID)
	t.publishRings()
	if on := t.cfg.OnRingEnded; on != nil {
		on(r, why)
	}
}

// liveMembers computes the room-wide slot's live memberships now.
func (t *Tracker) liveMembers(roomID string, now time.Time) []Membership {
	r := t.rooms[roomID]
	if r == nil {
		return nil
	}
	evs := make([]StateEvent, 0, len(r.state))
	for _, ev := range r.state {
		evs = append(evs, ev)
	}
	return NewMemberships(roomID, evs, now).Slot(SlotRoom)
}

func hasUser(ms []Membership, user string) bool {
	return slices.ContainsFunc(ms, func(m Membership) bool { return m.Sender == user })
}

// tick re-evaluates every room's call and every ring after a change or a
// timer, reports what changed, and arms the timer for the next expiry.
func (t *Tracker) tick() {
	now := t.cfg.Now()
	var next time.Time
	later := func(at time.Time) {
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	for id := range t.dirty {
		delete(t.dirty, id)
		r := t.rooms[id]
		if r == nil {
			continue
		}
		members := t.liveMembers(id, now)
		if len(r.state) == 0 {
			delete(t.rooms, id) // a room we left
		}
		if sameMembers(members, r.members) {
			continue
		}
		r.members = members
		t.mu.Lock()
		if len(members) == 0 {
			delete(t.views, id)
		} else {
			t.views[id] = slices.Clone(members)
		}
		t.mu.Unlock()
		if on := t.cfg.OnMembers; on != nil {
			on(id, slices.Clone(members))
		}
	}
	for _, r := range t.rooms {
		for _, m := range r.members {
			later(m.Expires)
		}
	}
	for _, r := range t.sortedRings() {
		members := t.liveMembers(r.RoomID, now)
		switch {
		case !now.Before(r.Expires):
			t.endRing(r, RingTimedOut)
		case !hasUser(members, r.Sender):
			t.endRing(r, RingCallerLeft)
		case slices.ContainsFunc(members, func(m Membership) bool { return m.Sender == t.cfg.UserID && m.DeviceID == t.cfg.DeviceID }):
			t.endRing(r, RingAnsweredHere)
		case hasUser(members, t.cfg.UserID):
			t.endRing(r, RingAnsweredElsewhere)
		default:
			later(r.Expires)
		}
	}
	if t.timer != nil {
		t.timer.Stop()
		t.timer = nil
	}
	if !next.IsZero() {
		t.timer = time.NewTimer(max(next.Sub(now), 0) + time.Millisecond)
	}
}

// publishRings updates the copy of the live rings that Rings returns.
func (t *Tracker) publishRings() {
	live := t.sortedRings()
	t.mu.Lock()
	t.live = live
	t.mu.Unlock()
}

func (t *Tracker) sortedRings() []Ring {
	out := make([]Ring, 0, len(t.rings))
	for _, r := range t.rings {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Ring) int {
		if c := a.Expires.Compare(b.Expires); c != 0 {
			return c
		}
		if a.EventID < b.EventID {
			return -1
		}
		return 1
	})
	return out
}

// sameMembers compares two snapshots by who is in them and until when.
func sameMembers(a, b []Membership) bool {
	return slices.EqualFunc(a, b, func(x, y Membership) bool {
		return x.Sender == y.Sender && x.DeviceID == y.DeviceID && x.MemberID == y.MemberID &&
			x.Expires.Equal(y.Expires) && slices.Equal(x.Transports, y.Transports)
	})
}
