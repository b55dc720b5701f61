package ui

import (
	"bytes"
	"log"
	"log/slog"
	"strings"
	"testing"
)

// Fyne's noise on a plain Debian desktop becomes one clear line or none;
// other errors stay visible, one record each.
func TestFyneLogRouting(t *testing.T) {
	var out bytes.Buffer
	l := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelInfo}))
	lg := log.New(newFyneLogWriter(l), "", 0)
	fyneErr := func(reason, cause string) {
		lg.Println("Fyne error: ", reason)
		if cause != "" {
			lg.Println("  Cause:", cause)
		}
		lg.Printf("  At: %s:%d", "/x/fyne.go", 12)
	}
	fyneErr("Error parsing user locale C", "language: tag is not well-formed")
	fyneErr("Preferences load error:", "EOF")
	for range 3 {
		fyneErr("Failed to send message to bus", "The name org.freedesktop.Notifications was not provided by any .service files")
	}
	fyneErr("Failed to upload texture", "out of memory")
	lg.Println("*** Error in Fyne call thread, this should have been called in fyne.Do[AndWait] ***")

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("want 3 lines (notifications once, the texture error, the thread error), got %d:\n%s", len(lines), out.String())
	}
	for i, want := range []string{"level=INFO msg=\"desktop notifications are unavailable", "level=WARN msg=\"fyne: Failed to upload texture\"", "level=ERROR msg=\"*** Error in Fyne call thread"} {
		if !strings.Contains(lines[i], want) {
			t.Errorf("line %d = %s, want %s", i, lines[i], want)
		}
	}
	if !strings.Contains(lines[1], "cause=\"out of memory\"") || !strings.Contains(lines[1], "at=/x/fyne.go:12") {
		t.Errorf("cause or place lost: %s", lines[1])
	}
}
