package ui

import (
	"log/slog"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver"

	"github.com/mxcall/mxcall/ui/internal/ontop"
)

// keepOnTop asks the desktop to keep w (shown) above other windows (the
// incoming-call window, the screen-sharing bar); Fyne
// has no API for it. Best effort: where it is not possible (macOS,
// native Wayland, Fyne's test driver) w stays an ordinary focused window.
func keepOnTop(w fyne.Window) {
	nw, ok := w.(driver.NativeWindow)
	if !ok {
		return
	}
	err := ontop.ErrUnsupported
	nw.RunNative(func(ctx any) {
		switch c := ctx.(type) {
		case driver.X11WindowContext:
			err = ontop.X11(c.WindowHandle)
		case driver.WindowsWindowContext:
			err = ontop.Windows(c.HWND)
		}
	})
	if err != nil {
		slog.Debug("window not kept on top", "title", w.Title(), "err", err)
	}
}
