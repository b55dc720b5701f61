package ontop

import (
	"errors"
	"os"
	"runtime"
	"testing"
)

func TestBadHandles(t *testing.T) {
	if err := X11(0); err == nil {
		t.Error("X11(0) succeeded")
	}
	if runtime.GOOS != "windows" {
		if err := Windows(1); !errors.Is(err, ErrUnsupported) {
			t.Errorf("Windows() off Windows: %v", err)
		}
	}
}

// Without an X display the call fails cleanly instead of crashing.
func TestNoDisplay(t *testing.T) {
	t.Setenv("DISPLAY", "")
	if err := X11(0x400001); err == nil {
		t.Error("X11 succeeded without a display")
	}
}

// With a display, a window that does not exist is an X error: reported,
// not the process killed by Xlib's default handler. Needs $DISPLAY (the
// GUI tests run it under Xvfb); skipped without one.
func TestBadWindowWithDisplay(t *testing.T) {
	if os.Getenv("DISPLAY") == "" {
		t.Skip("no X display")
	}
	if err := X11(0x7fffff0); !errors.Is(err, ErrFailed) {
		t.Errorf("X11(bogus window): %v, want ErrFailed", err)
	}
}
