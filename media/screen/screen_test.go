package screen

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestWaylandWithoutXWayland(t *testing.T) {
	t.Setenv("DISPLAY", "")
	t.Setenv("WAYLAND_DISPLAY", "wayland-0")
	want := ErrWayland
	if !supported {
		want = ErrNotSupported
	}
	if _, err := ListSources(context.Background()); !errors.Is(err, want) {
		t.Errorf("ListSources: %v, want %v", err, want)
	}
	if _, err := Thumbnail(context.Background(), "screen:root", 240); !errors.Is(err, want) {
		t.Errorf("Thumbnail: %v, want %v", err, want)
	}
	for _, id := range []string{"screen:root", "window:0x400001"} {
		if _, err := Open(context.Background(), id, Options{}); !errors.Is(err, want) {
			t.Errorf("Open(%s): %v, want %v", id, err, want)
		}
	}
	if supported && (ErrWayland.Error() == "" || !strings.Contains(ErrWayland.Error(), "X11 session or XWayland")) {
		t.Errorf("message %q does not say what is needed", ErrWayland)
	}
}

func TestNoDisplay(t *testing.T) {
	t.Setenv("DISPLAY", "")
	t.Setenv("WAYLAND_DISPLAY", "")
	want := ErrNoDisplay
	if !supported {
		want = ErrNotSupported
	}
	if _, err := ListSources(context.Background()); !errors.Is(err, want) {
		t.Errorf("ListSources: %v, want %v", err, want)
	}
	if _, err := Open(context.Background(), "screen:root", Options{}); !errors.Is(err, want) {
		t.Errorf("Open: %v, want %v", err, want)
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{KindUnknown: "unknown", KindScreen: "screen", KindWindow: "window", Kind(9): "unknown"} {
		if k.String() != want {
			t.Errorf("%d: %q", int(k), k.String())
		}
	}
}
