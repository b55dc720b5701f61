package ui

import (
	"errors"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver"

	"github.com/mxcall/mxcall/ui/internal/winstate"
)

// windowCheckEvery is how often the main window's visibility is looked
// up: a restored window gets its video back within this time.
const windowCheckEvery = 250 * time.Millisecond

// watchWindow keeps cfg.hidden up to date with whether w can be seen
// (minimised or hidden windows cannot), until stop is closed: the video
// views take, convert and paint no frames while it is set. Fyne paints a
// minimised window all the same, and has no API to tell. Where the
// platform cannot tell either, the window counts as visible.
func (c *config) watchWindow(w fyne.Window, stop <-chan struct{}) {
	nw, ok := w.(driver.NativeWindow)
	if !ok {
		return
	}
	check := func() bool { // on the UI goroutine; false: give up
		var vis bool
		err := winstate.ErrUnsupported
		nw.RunNative(func(ctx any) {
			if x, ok := ctx.(driver.X11WindowContext); ok {
				vis, err = winstate.X11Viewable(x.WindowHandle)
			}
		})
		if err != nil {
			c.hidden.Store(false)
			return !errors.Is(err, winstate.ErrUnsupported)
		}
		c.hidden.Store(!vis)
		return true
	}
	go func() {
		t := time.NewTicker(windowCheckEvery)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				done := make(chan bool, 1)
				c.do(func() { done <- check() })
				select {
				case ok := <-done:
					if !ok {
						return
					}
				case <-stop:
					return
				}
			}
		}
	}()
}
