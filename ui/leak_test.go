package ui_test

import (
	"image"
	"runtime"
	"sync"
	"testing"
	"time"
	"weak"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/mxcall/mxcall/callengine"
	"github.com/mxcall/mxcall/ui"
	"github.com/mxcall/mxcall/ui/fake"
)

// perCallVideo gives every call its own remote and local frame slot, as
// the real backend does (a decoder's slot per call, the call's camera
// preview), instead of the fake's two shared ones.
type perCallVideo struct {
	*fake.Backend
	mu     sync.Mutex
	remote map[string]*fake.FrameSlot
	local  *fake.FrameSlot // the current call's
}

func (m *perCallVideo) RemoteVideo(callID string) ui.FrameSource {
	if m.Backend.RemoteVideo(callID) == nil {
		return nil // not connected yet
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.remote[callID]
	if s == nil {
		s = &fake.FrameSlot{}
		m.remote[callID] = s
	}
	return s
}

func (m *perCallVideo) LocalVideo() ui.FrameSource {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.local
}

// takeSlots returns (and forgets) the slots of callID.
func (m *perCallVideo) takeSlots(callID string) (remote, local *fake.FrameSlot) {
	m.mu.Lock()
	defer m.mu.Unlock()
	remote, local = m.remote[callID], m.local
	delete(m.remote, callID)
	m.local = nil
	return remote, local
}

// TestCallScreensReleaseVideo opens many video calls one after another,
// each showing frames, ends them and goes back to the room list. Once a
// call's screen is gone, nothing may keep its pictures: the frame sources
// of the call and the video views' frame buffers must become unreachable.
// (Fyne keeps widgets that left the window in its renderer cache for a
// minute or more, so the views themselves may live on; their pictures must
// not.)
func TestCallScreensReleaseVideo(t *testing.T) {
	app := test.NewTempApp(t)
	be := fake.New()
	be.Stored = &ui.Session{UserID: "@me:example.org", Homeserver: "https://example.org"}
	be.SetRooms(ui.RoomsSnapshot{Rooms: []ui.Room{bob}, Sync: ui.SyncOK})
	media := &perCallVideo{Backend: be, remote: map[string]*fake.FrameSlot{}}
	b := be.UI()
	b.Media = media
	u := ui.New(app, b, ui.WithRunner(func(f func()) { f() }), ui.WithClock(func() time.Time { return t0 }),
		ui.WithEndDelay(0), ui.WithStatic())
	u.Start()
	u.Window().Resize(fyne.NewSize(640, 480))

	type held struct {
		what string
		ptr  func() bool // reports whether it is still reachable
	}
	var kept []held
	keep := func(what string, p any) {
		switch p := p.(type) {
		case *fake.FrameSlot:
			w := weak.Make(p)
			kept = append(kept, held{what, func() bool { return w.Value() != nil }})
		case *image.RGBA:
			w := weak.Make(p)
			kept = append(kept, held{what, func() bool { return w.Value() != nil }})
		}
	}
	const calls = 5
	for i := 1; i <= calls; i++ {
		media.mu.Lock()
		media.local = &fake.FrameSlot{}
		media.mu.Unlock()
		u.PlaceCall(bob, true)
		c := u.Call()
		id := c.Info().ID
		if err := be.Update(id, func(ci *callengine.CallInfo) { ci.State = callengine.StateConnected; ci.ConnectedAt = t0 }); err != nil {
			t.Fatal(err)
		}
		remote, local := media.takeSlots(id)
		if remote == nil || local == nil {
			t.Fatalf("call %d: the call screen asked for no video", i)
		}
		for f := 0; f < 3; f++ {
			remote.Put(image.NewRGBA(image.Rect(0, 0, 640, 480)))
			local.Put(image.NewRGBA(image.Rect(0, 0, 640, 480)))
			// The remote view's poll paints the self-view too (Lead).
			if !c.Remote.Poll() || c.Local.Repaints() != uint64(f+1) {
				t.Fatalf("call %d: frame %d not shown", i, f)
			}
		}
		keep("remote frame source", remote)
		keep("local frame source", local)
		for _, v := range []*ui.VideoView{c.Remote, c.Local} {
			for _, img := range ui.VideoBuffers(v) {
				keep("a video view's frame buffer", img)
			}
		}
		if err := be.Hangup(t.Context(), id); err != nil {
			t.Fatal(err)
		}
		test.Tap(c.BackBtn)
		if u.Call() != nil {
			t.Fatalf("call %d: still on the call screen after Back", i)
		}
	}
	runtime.GC()
	runtime.GC()
	for _, h := range kept {
		if h.ptr() {
			t.Errorf("%s is still reachable after its call screen was left", h.what)
		}
	}
}
