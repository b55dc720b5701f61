//go:build linux && cgo

package ontop

/*
#cgo LDFLAGS: -lX11
#include <X11/Xlib.h>
#include <X11/Xatom.h>
#include <string.h>

static int mx_x_failed;

static int mx_x_error(Display *d, XErrorEvent *e) {
	(void)d; (void)e;
	mx_x_failed = 1;
	return 0;
}

// mx_keep_above marks win as _NET_WM_STATE_ABOVE: the property (read by
// the window manager when the window is mapped) and the EWMH client
// message (for a window that is mapped already). Its own display
// connection keeps GLFW's untouched. X errors (a window that is gone)
// would reach Xlib's default handler, which exits the process: an
// ignoring handler is installed for the duration. It runs on the UI
// thread, like every GLFW call, so nothing else sees it.
static int mx_keep_above(unsigned long win) {
	Display *d = XOpenDisplay(NULL);
	if (!d) return -1;
	mx_x_failed = 0;
	XErrorHandler old = XSetErrorHandler(mx_x_error);
	Atom state = XInternAtom(d, "_NET_WM_STATE", False);
	Atom above = XInternAtom(d, "_NET_WM_STATE_ABOVE", False);
	XChangeProperty(d, (Window)win, state, XA_ATOM, 32, PropModeAppend, (unsigned char *)&above, 1);
	XEvent ev;
	memset(&ev, 0, sizeof ev);
	ev.xclient.type = ClientMessage;
	ev.xclient.window = (Window)win;
	ev.xclient.message_type = state;
	ev.xclient.format = 32;
	ev.xclient.data.l[0] = 1; // _NET_WM_STATE_ADD
	ev.xclient.data.l[1] = (long)above;
	ev.xclient.data.l[3] = 1; // source: a normal application
	XSendEvent(d, DefaultRootWindow(d), False, SubstructureRedirectMask | SubstructureNotifyMask, &ev);
	XSync(d, False);
	XSetErrorHandler(old);
	XCloseDisplay(d);
	return mx_x_failed ? -2 : 0;
}
*/
import "C"

// X11 keeps the X11 window with this ID above the others.
func X11(window uintptr) error {
	if window == 0 || C.mx_keep_above(C.ulong(window)) != 0 {
		return ErrFailed
	}
	return nil
}
