package ui_test

import (
	"errors"
	"image"
	"runtime"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/mxcall/mxcall/callengine"
	"github.com/mxcall/mxcall/ui"
	"github.com/mxcall/mxcall/ui/fake"
)

// openPicker taps "Share screen" in the call view and returns the picker.
func openPicker(t *testing.T, e *env) *ui.SharePicker {
	t.Helper()
	c := e.ui.Call()
	if !c.Share.Visible() {
		t.Fatal("no Share screen control in a connected call")
	}
	test.Tap(c.Share)
	p := e.ui.SharePicker()
	if p == nil {
		t.Fatalf("Share screen opened no picker; actions %v", e.be.Actions())
	}
	return p
}

// Share screen opens a picker of screens and windows with thumbnails;
// Share shares the chosen one: the picker closes, the call view says we
// share and offers Stop, and a separate window (kept on top) says so with
// a Stop button of its own; Stop there stops the share and takes both
// away.
func TestShareScreen(t *testing.T) {
	e := newEnv(t, true)
	id := videoCall(t, e)
	c := e.ui.Call()
	if c.Share.Text != "Share screen" {
		t.Fatalf("share control %q", c.Share.Text)
	}
	e.ui.Window().Resize(fyne.NewSize(800, 600))
	p := openPicker(t, e)
	srcs := p.Sources()
	if len(srcs) != len(fake.ScreenSources) || srcs[0] != fake.ScreenSources[0] {
		t.Fatalf("picker lists %+v", srcs)
	}
	if p.Selected() != fake.ScreenSources[0] || p.Share.Disabled() {
		t.Fatalf("selected %+v, Share disabled %v: the first screen should be ready to share", p.Selected(), p.Share.Disabled())
	}
	for _, s := range srcs {
		if p.Thumbnail(s.ID) == nil {
			t.Errorf("no thumbnail of %s", s.ID)
		}
	}
	e.assertScreen("share_picker", e.ui.Window().Canvas())

	win := fake.ScreenSources[2]
	if !p.Select(win.ID) {
		t.Fatal("could not select a window")
	}
	test.Tap(p.Share)
	if got := e.be.Sharing(id); got != win.ID {
		t.Fatalf("sharing %q, want %q; actions %v", got, win.ID, e.be.Actions())
	}
	if e.ui.SharePicker() != nil {
		t.Fatal("picker stays open after sharing started")
	}
	if !c.Sharing() || c.Share.Text != "Stop sharing" || !hasButton(c, "Stop") {
		t.Fatalf("call view: sharing %v, control %q, Stop shown %v", c.Sharing(), c.Share.Text, hasButton(c, "Stop"))
	}
	bar, w, ok := e.ui.SharingBar()
	if !ok || bar.Text() != "You are sharing your screen" || w == e.ui.Window() {
		t.Fatal("no sharing bar window")
	}
	e.ui.Window().Resize(fyne.NewSize(640, 480))
	e.assertScreen("call_sharing", e.ui.Window().Canvas())
	w.Resize(fyne.NewSize(360, 56))
	test.AssertRendersToImage(t, "sharing_bar.png", w.Canvas())

	test.Tap(bar.Stop)
	if e.be.Sharing(id) != "" || !contains(e.be.Actions(), "unshare "+id) {
		t.Fatalf("Stop did not stop the share: %v", e.be.Actions())
	}
	if _, _, ok := e.ui.SharingBar(); ok || c.Sharing() || hasButton(c, "Stop") || c.Share.Text != "Share screen" {
		t.Fatal("the share is still shown after Stop")
	}

	// Again, stopped from the call view's own Stop this time.
	test.Tap(openPicker(t, e).Share)
	if e.be.Sharing(id) != fake.ScreenSources[0].ID {
		t.Fatal("second share did not start")
	}
	test.Tap(c.StopShare)
	if _, _, ok := e.ui.SharingBar(); ok || e.be.Sharing(id) != "" {
		t.Fatal("the call view's Stop did not stop the share")
	}
}

// Cancel closes the picker without sharing.
func TestSharePickerCancel(t *testing.T) {
	e := newEnv(t, true)
	id := videoCall(t, e)
	p := openPicker(t, e)
	test.Tap(p.Cancel)
	if e.ui.SharePicker() != nil || e.be.Sharing(id) != "" || e.ui.Call().Sharing() {
		t.Fatal("Cancel did not just close the picker")
	}
}

// When the backend cannot list anything (Wayland without XWayland, say),
// the picker says why, in its words, and offers no Share.
func TestSharePickerUnsupported(t *testing.T) {
	e := newEnv(t, true)
	videoCall(t, e)
	msg := "Screen sharing needs an X11 session (or XWayland): this is a Wayland session without DISPLAY"
	e.be.ScreenErr = errors.New(msg)
	e.ui.Window().Resize(fyne.NewSize(800, 600))
	p := openPicker(t, e)
	if p.Message.Text != msg || !p.Share.Disabled() || len(p.Sources()) != 0 {
		t.Fatalf("message %q, Share disabled %v, sources %v", p.Message.Text, p.Share.Disabled(), p.Sources())
	}
	test.AssertRendersToMarkup(t, "share_picker_error.xml", e.ui.Window().Canvas())
}

// A share that fails to start leaves the picker open with the error, and
// Share usable again.
func TestShareFails(t *testing.T) {
	e := newEnv(t, true)
	videoCall(t, e)
	e.be.ShareErr = errors.New("the window was closed")
	p := openPicker(t, e)
	test.Tap(p.Share)
	if e.ui.SharePicker() != p || p.Share.Disabled() || !strings.Contains(p.Message.Text, "the window was closed") {
		t.Fatalf("picker open %v, Share disabled %v, message %q", e.ui.SharePicker() == p, p.Share.Disabled(), p.Message.Text)
	}
	if _, _, ok := e.ui.SharingBar(); ok || e.ui.Call().Sharing() {
		t.Fatal("a failed share is shown as sharing")
	}
}

// The share ends with the call: the bar goes, and so does an open picker.
func TestShareEndsWithCall(t *testing.T) {
	e := newEnv(t, true)
	id := videoCall(t, e)
	test.Tap(openPicker(t, e).Share)
	if _, _, ok := e.ui.SharingBar(); !ok {
		t.Fatal("not sharing")
	}
	if err := e.be.End(id, callengine.PartyRemote, callengine.ReasonUserHangup); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := e.ui.SharingBar(); ok {
		t.Fatal("sharing bar stays after the call ended")
	}
	if c := e.ui.Call(); c.Share.Visible() || hasButton(c, "Stop") || c.Sharing() {
		t.Fatal("an ended call offers or shows sharing")
	}

	e = newEnv(t, true)
	id = videoCall(t, e)
	openPicker(t, e)
	if err := e.be.End(id, callengine.PartyRemote, callengine.ReasonUserHangup); err != nil {
		t.Fatal(err)
	}
	if e.ui.SharePicker() != nil {
		t.Fatal("picker stays open after the call ended")
	}
}

// The peer's shared screen fills the call view, their camera goes picture
// in picture at the bottom left (ours stays at the bottom right); when
// they stop, the view is as before, and a new share shows again.
func TestReceiveShare(t *testing.T) {
	e := newEnv(t, true)
	id := videoCall(t, e)
	c := e.ui.Call()
	full := c.Remote.Size()
	shot := image.NewRGBA(image.Rect(0, 0, 640, 360))
	fake.ScreenScene(shot, 0, 0)
	e.be.RemoteScreenSlot.Put(shot)
	for round := 1; round <= 2; round++ {
		if err := e.be.SetRemoteShare(id, true); err != nil {
			t.Fatal(err)
		}
		if !c.ShowsRemoteScreen() || !c.Screen.Visible() {
			t.Fatalf("round %d: the peer's share is not shown", round)
		}
		if !c.Screen.Poll() || !c.Screen.Showing() {
			t.Fatalf("round %d: no frame of the share on screen", round)
		}
		if r := c.Remote; r.Size().Width >= full.Width/2 || r.Position().X > full.Width/2 || !r.Visible() {
			t.Fatalf("round %d: the peer's camera is at %v size %v, want a picture in picture on the left", round, r.Position(), r.Size())
		}
		if round == 1 {
			e.assertScreen("call_receiving_share", e.ui.Window().Canvas())
		}
		if err := e.be.SetRemoteShare(id, false); err != nil {
			t.Fatal(err)
		}
		if c.ShowsRemoteScreen() || c.Screen.Visible() || c.Screen.Showing() {
			t.Fatalf("round %d: the share stays after the peer stopped", round)
		}
		if c.Remote.Size() != full || c.Remote.Position() != (fyne.Position{}) {
			t.Fatalf("round %d: the peer's camera did not go back to full size: %v", round, c.Remote.Size())
		}
		e.be.RemoteScreenSlot.Put(shot) // the next share's first frame
	}
}

// In a group call a participant's share is a tile of its own, shown large
// with everyone else in a column beside it; back to the grid when it
// goes.
func TestGroupShareTile(t *testing.T) {
	e := newGroupEnv(t)
	id, c := joinTeam(t, e)
	ps, _ := participants(e, 4)
	shot := image.NewRGBA(image.Rect(0, 0, 640, 360))
	fake.ScreenScene(shot, 0, 1)
	slot := &fake.FrameSlot{}
	slot.Put(shot)
	share := ui.Participant{ID: ps[1].ID + "#screen", Name: ps[1].Name, Video: slot, Screen: true}
	e.be.SetParticipants(id, append(ps, share))
	pollTiles(t, c)
	main := c.Grid.Presenting()
	if main == nil || main.Participant().ID != share.ID {
		t.Fatal("the share is not the large tile")
	}
	if got := main.Name(); got != "Alice Liddell's screen" {
		t.Errorf("share tile named %q", got)
	}
	if mic, cam := main.Badges(); mic || cam || main.Highlighted() {
		t.Error("the share tile has mute badges or a speaker's border")
	}
	for _, tile := range c.Grid.Tiles() {
		if tile != main && (tile.Size().Width*2 > main.Size().Width || tile.Position().X < main.Size().Width) {
			t.Errorf("tile %s at %v size %v: not in a column beside the share (%v)", tile.Participant().ID, tile.Position(), tile.Size(), main.Size())
		}
	}
	e.assertScreen("grid_share", e.ui.Window().Canvas())

	e.be.SetParticipants(id, ps)
	if c.Grid.Presenting() != nil || len(c.Grid.Tiles()) != 4 {
		t.Fatal("the share tile stays after the share stopped")
	}
	if t0, t1 := c.Grid.Tiles()[0], c.Grid.Tiles()[1]; t0.Size() != t1.Size() {
		t.Fatal("not back to the grid")
	}
}

// sharePickerRefreshers counts the goroutines taking thumbnails.
func sharePickerRefreshers() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Count(string(buf), "ui.(*SharePicker).startThumbnails.func")
}

// While the picker is open its thumbnails are taken again and again (on
// one goroutine); once it closes, that goroutine ends and no thumbnail is
// taken any more.
func TestSharePickerThumbnailsStop(t *testing.T) {
	test.NewTempApp(t)
	be := fake.New()
	base := sharePickerRefreshers()
	p := ui.NewSharePicker(be, ui.WithRunner(func(f func()) { f() }))
	n := len(fake.ScreenSources)
	for i := 0; i < 1000 && be.Thumbnails() < 2*n; i++ { // two rounds: ≈ ThumbnailRefresh
		time.Sleep(5 * time.Millisecond)
	}
	if be.Thumbnails() < 2*n {
		t.Fatalf("thumbnails taken %d times, want them refreshed (%d)", be.Thumbnails(), 2*n)
	}
	if got := sharePickerRefreshers(); got != base+1 {
		t.Fatalf("%d thumbnail goroutines, want 1", got-base)
	}
	p.Close()
	p.Close() // idempotent
	for i := 0; i < 1000 && sharePickerRefreshers() != base; i++ {
		time.Sleep(5 * time.Millisecond)
	}
	if got := sharePickerRefreshers(); got != base {
		t.Fatalf("%d thumbnail goroutines left after Close", got-base)
	}
	taken := be.Thumbnails()
	time.Sleep(ui.ThumbnailRefresh + 200*time.Millisecond)
	if be.Thumbnails() != taken {
		t.Fatal("thumbnails still taken after Close")
	}
}

// Quitting closes an open picker (its thumbnails stop) and the sharing
// bar goes with the windows.
func TestQuitClosesSharePicker(t *testing.T) {
	e := newEnv(t, true)
	videoCall(t, e)
	p := openPicker(t, e)
	ui.Quit(e.ui)
	if e.ui.SharePicker() != nil {
		t.Fatal("picker still open after quitting")
	}
	p.Cancel.OnTapped() // a late click does nothing
}

// When the backend ends our share by itself (the shared window was
// closed: CallInfo.Screensharing goes false), the bar and the call view's
// indicator go.
func TestShareEndedByBackend(t *testing.T) {
	e := newEnv(t, true)
	id := videoCall(t, e)
	test.Tap(openPicker(t, e).Share)
	if _, _, ok := e.ui.SharingBar(); !ok {
		t.Fatal("not sharing")
	}
	if err := e.be.EndShare(id); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := e.ui.SharingBar(); ok || e.ui.Call().Sharing() {
		t.Fatal("the share is still shown after the backend ended it")
	}
}
