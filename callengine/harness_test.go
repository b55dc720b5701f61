package callengine

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/mxcall/mxcall/callengine/calltest"
)

// room is an in-memory Matrix room: every event sent by a member is
// delivered, as JSON, to every member (the sender too, as a homeserver
// echoes it), each through its own ordered queue.
type room struct {
	id string

	mu      sync.Mutex
	members []*member
	sent    []RoomEvent
	paused  bool
	held    []RoomEvent
	// rewrite, if set, may change or drop (nil) an event a member sends.
	rewrite func(from *member, evType string, content map[string]any) map[string]any
}

type member struct {
	t      testing.TB
	rooms  map[string]*room
	userID string
	eng    *Engine
	q      *mailbox
	done   chan struct{}

	mu      sync.Mutex
	updates []CallInfo
	changed chan struct{}
	rtp     sync.Map // callID -> *atomic.Int64 packets received
	rtpKind sync.Map // callID + "/" + kind -> *atomic.Int64 packets received
	// callID + "/" + purpose + "/" + kind -> *trackCount
	rtpPurpose sync.Map
}

// trackCount counts, for one call, purpose and kind, the remote tracks
// handed over, those that ended (ReadRTP failed) and their packets.
type trackCount struct {
	tracks, ended, packets atomic.Int64
}

func newRoom(id string) *room { return &room{id: id} }

// sig is the Signaller of one member.
type sig struct{ m *member }

func (s sig) SendCallEvent(ctx context.Context, roomID, evType string, content any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	raw, err := json.Marshal(content)
	if err != nil {
		return err
	}
	r := s.m.rooms[roomID]
	if r == nil {
		return fmt.Errorf("%s is not in room %s", s.m.userID, roomID)
	}
	if r.rewrite != nil {
		var obj map[string]any
		if err := json.Unmarshal(raw, &obj); err != nil {
			return err
		}
		obj = r.rewrite(s.m, evType, obj)
		if obj == nil {
			return nil
		}
		if raw, err = json.Marshal(obj); err != nil {
			return err
		}
	}
	r.deliver(RoomEvent{RoomID: roomID, Sender: s.m.userID, Type: evType, Content: raw})
	return nil
}

func (r *room) deliver(ev RoomEvent) {
	r.mu.Lock()
	r.sent = append(r.sent, ev)
	if r.paused {
		r.held = append(r.held, ev)
		r.mu.Unlock()
		return
	}
	r.mu.Unlock()
	r.fanout(ev)
}

func (r *room) fanout(ev RoomEvent) {
	r.mu.Lock()
	members := append([]*member(nil), r.members...)
	r.mu.Unlock()
	for _, m := range members {
		ev := ev
		ev.Received = time.Now()
		m.q.post(func() { m.eng.HandleEvents(context.Background(), []RoomEvent{ev}) })
	}
}

// pause holds events until resume (for glare).
func (r *room) pause() {
	r.mu.Lock()
	r.paused = true
	r.mu.Unlock()
}

func (r *room) resume() {
	r.mu.Lock()
	r.paused = false
	held := r.held
	r.held = nil
	r.mu.Unlock()
	for _, ev := range held {
		r.fanout(ev)
	}
}

// eventsOfType returns the events of one type sent so far.
func (r *room) eventsOfType(evType string) []RoomEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []RoomEvent
	for _, ev := range r.sent {
		if ev.Type == evType {
			out = append(out, ev)
		}
	}
	return out
}

// loopbackSettings keeps pion on 127.0.0.1.
func loopbackSettings() webrtc.SettingEngine { return calltest.LoopbackSettings() }

// join adds a member with a fresh engine. Options come after the test
// defaults, so they win.
func (r *room) join(tb testing.TB, userID string, opts ...Option) *member {
	tb.Helper()
	t := tb
	m := &member{t: t, rooms: map[string]*room{r.id: r}, userID: userID, q: newMailbox(), done: make(chan struct{}), changed: make(chan struct{}, 1)}
	base := []Option{
		WithSettingEngine(loopbackSettings()),
		WithCandidateTimings(50*time.Millisecond, 100*time.Millisecond, 50*time.Millisecond),
		WithOnUpdate(m.onUpdate),
		WithOnTrack(m.onTrack),
	}
	eng, err := New(userID, sig{m}, append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	m.eng = eng
	go func() {
		defer close(m.done)
		m.q.run(nil)
	}()
	r.mu.Lock()
	r.members = append(r.members, m)
	r.mu.Unlock()
	t.Cleanup(m.close)
	return m
}

// alsoIn makes m a member of another room too.
func (m *member) alsoIn(r *room) {
	m.rooms[r.id] = r
	r.mu.Lock()
	r.members = append(r.members, m)
	r.mu.Unlock()
}

func (m *member) close() {
	m.q.close()
	<-m.done
	_ = m.eng.Close()
}

func (m *member) onUpdate(ci CallInfo) {
	m.mu.Lock()
	m.updates = append(m.updates, ci)
	m.mu.Unlock()
	select {
	case m.changed <- struct{}{}:
	default:
	}
}

func (m *member) onTrack(rt RemoteTrack) {
	v, _ := m.rtp.LoadOrStore(rt.CallID, new(atomic.Int64))
	n := v.(*atomic.Int64)
	k, _ := m.rtpKind.LoadOrStore(rt.CallID+"/"+rt.Track.Kind().String(), new(atomic.Int64))
	nk := k.(*atomic.Int64)
	tc := m.purposeCount(rt.CallID, rt.Purpose, rt.Track.Kind().String())
	tc.tracks.Add(1)
	defer tc.ended.Add(1)
	for {
		if _, _, err := rt.Track.ReadRTP(); err != nil {
			return
		}
		n.Add(1)
		nk.Add(1)
		tc.packets.Add(1)
	}
}

// purposeCount returns the counters of callID's remote tracks of one
// purpose and kind ("audio" or "video").
func (m *member) purposeCount(callID, purpose, kind string) *trackCount {
	v, _ := m.rtpPurpose.LoadOrStore(callID+"/"+purpose+"/"+kind, new(trackCount))
	return v.(*trackCount)
}

// waitPurposePackets waits (a hang guard, not a timing check) until m has
// received n more packets of one purpose and kind in callID than it had
// when called.
func (m *member) waitPurposePackets(callID, purpose, kind string, n int64) {
	m.t.Helper()
	tc := m.purposeCount(callID, purpose, kind)
	start := tc.packets.Load()
	deadline := time.Now().Add(10 * time.Second)
	for tc.packets.Load() < start+n {
		if time.Now().After(deadline) {
			m.t.Fatalf("%s: only %d %s %s packets in 10 s, want %d", m.userID, tc.packets.Load()-start, purpose, kind, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitCount waits (a hang guard) until get reaches want.
func (m *member) waitCount(what string, get func() int64, want int64) {
	m.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for get() < want {
		if time.Now().After(deadline) {
			m.t.Fatalf("%s: %s is %d after 10 s, want %d", m.userID, what, get(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// videoPackets is how many video packets m received in callID.
func (m *member) videoPackets(callID string) int64 {
	v, ok := m.rtpKind.Load(callID + "/video")
	if !ok {
		return 0
	}
	return v.(*atomic.Int64).Load()
}

// waitVideo waits (a hang guard, not a timing check) until m has received
// n more video packets in callID than it had when called.
func (m *member) waitVideo(callID string, n int64) {
	m.t.Helper()
	start := m.videoPackets(callID)
	deadline := time.Now().Add(10 * time.Second)
	for m.videoPackets(callID) < start+n {
		if time.Now().After(deadline) {
			m.t.Fatalf("%s: only %d video packets in 10 s, want %d", m.userID, m.videoPackets(callID)-start, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (m *member) packets(callID string) int64 {
	v, ok := m.rtp.Load(callID)
	if !ok {
		return 0
	}
	return v.(*atomic.Int64).Load()
}

// waitFor waits until some update satisfies ok and returns it.
func (m *member) waitFor(what string, ok func(CallInfo) bool) CallInfo {
	m.t.Helper()
	return m.waitUntil(0, 10*time.Second, what, ok)
}

// mark returns how many updates m has seen so far, for waitAfter.
func (m *member) mark() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.updates)
}

// waitAfter waits for an update after the first `from` updates that
// satisfies ok.
func (m *member) waitAfter(from int, what string, ok func(CallInfo) bool) CallInfo {
	m.t.Helper()
	return m.waitUntil(from, 15*time.Second, what, ok)
}

// waitUntil waits up to timeout for an update after the first `from`
// updates that satisfies ok.
func (m *member) waitUntil(from int, timeout time.Duration, what string, ok func(CallInfo) bool) CallInfo {
	m.t.Helper()
	deadline := time.After(timeout)
	for {
		m.mu.Lock()
		for _, u := range m.updates[min(from, len(m.updates)):] {
			if ok(u) {
				m.mu.Unlock()
				return u
			}
		}
		m.mu.Unlock()
		select {
		case <-m.changed:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			m.t.Fatalf("%s: timed out waiting for %s; updates: %v", m.userID, what, m.summary())
		}
	}
}

func (m *member) waitState(callID string, s State) CallInfo {
	m.t.Helper()
	return m.waitFor(fmt.Sprintf("call %s %s", callID, s), func(ci CallInfo) bool {
		return (callID == "" || ci.ID == callID) && ci.State == s
	})
}

func (m *member) ringing() CallInfo {
	m.t.Helper()
	return m.waitFor("ringing", func(ci CallInfo) bool { return ci.State == StateRinging })
}

func (m *member) sawState(s State) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, u := range m.updates {
		if u.State == s {
			return true
		}
	}
	return false
}

func (m *member) summary() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := ""
	for _, u := range m.updates {
		s += fmt.Sprintf(" [%s %s %s %s/%s]", u.ID, u.Direction, u.State, u.EndedBy, u.EndReason)
	}
	return s
}

// waitPackets waits until the member received n RTP packets in callID.
func (m *member) waitPackets(callID string, n int64) {
	m.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for m.packets(callID) < n {
		if time.Now().After(deadline) {
			m.t.Fatalf("%s: only %d RTP packets in %s", m.userID, m.packets(callID), callID)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// testMedia is an audio and a video track that write samples until the
// test ends.
type testMedia struct {
	Media
}

func newTestMedia(tb testing.TB, stream string) *testMedia {
	tb.Helper()
	tr := calltest.NewTracks(tb, stream)
	return &testMedia{Media: Media{Audio: tr.Audio, Video: tr.Video}}
}
