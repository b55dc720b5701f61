package ontop

import (
	"errors"
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
