//go:build linux && cgo

package winstate

/*
#cgo LDFLAGS: -lX11
#include <X11/Xlib.h>

static Display *mx_vis_dpy;
static int mx_vis_failed;

static int mx_vis_error(Display *d, XErrorEvent *e) {
	(void)d; (void)e;
	mx_vis_failed = 1;
	return 0;
}

// mx_viewable returns 1 when win is mapped and viewable, 0 when it is not
// (unmapped: minimised, hidden), <0 on failure. It keeps one display
// connection of its own (GLFW's stays untouched) and must be called on
// the UI thread, like every GLFW call, so Xlib is never used from two
// threads at once; X errors (a window that is gone) go to an ignoring
// handler for the duration instead of Xlib's default, which exits.
static int mx_viewable(unsigned long win) {
	if (!mx_vis_dpy) {
		mx_vis_dpy = XOpenDisplay(NULL);
		if (!mx_vis_dpy) return -1;
	}
	mx_vis_failed = 0;
	XErrorHandler old = XSetErrorHandler(mx_vis_error);
	XWindowAttributes a;
	Status st = XGetWindowAttributes(mx_vis_dpy, (Window)win, &a);
	XSetErrorHandler(old);
	if (!st || mx_vis_failed) return -2;
	return a.map_state == IsViewable;
}
*/
import "C"

// X11Viewable reports whether the X11 window with this ID is mapped and
// viewable. Call it on the UI thread (inside fyne.Do).
func X11Viewable(window uintptr) (bool, error) {
	if window == 0 {
		return true, ErrFailed
	}
	switch C.mx_viewable(C.ulong(window)) {
	case 1:
		return true, nil
	case 0:
		return false, nil
	}
	return true, ErrFailed
}
