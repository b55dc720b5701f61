package ui

import (
	"bytes"
	"context"
	"log"
	"log/slog"
	"strings"
	"sync"
)

// RouteFyneLog sends what Fyne prints through the standard library's log
// package (fyne.LogError writes "Fyne error:", "  Cause:" and "  At:" as
// separate lines) to l, one record per error, at a level that says how much
// it matters to a user. Noise that a plain desktop produces is kept out of
// sight: a "C" or "POSIX" locale that Fyne cannot parse (it falls back to
// English anyway), the preferences file that Fyne re-reads while it writes
// it at exit (EOF), and a desktop without a notification service, which is
// said once, in words. Everything else is a warning. Lines that are not
// Fyne errors (Fyne's own thread checks among them) are logged as errors.
func RouteFyneLog(l *slog.Logger) {
	log.SetFlags(0)
	log.SetOutput(newFyneLogWriter(l))
}

type fyneLogWriter struct {
	l *slog.Logger

	mu       sync.Mutex
	pending  *fyneError
	notified bool // the missing notification service was reported
}

type fyneError struct{ reason, cause, at string }

func newFyneLogWriter(l *slog.Logger) *fyneLogWriter { return &fyneLogWriter{l: l} }

// Write takes one or more lines, as log.Logger writes them.
func (w *fyneLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, line := range bytes.Split(bytes.TrimRight(p, "\n"), []byte("\n")) {
		w.line(string(line))
	}
	return len(p), nil
}

func (w *fyneLogWriter) line(s string) {
	switch {
	case strings.HasPrefix(s, "Fyne error: "):
		w.flush()
		w.pending = &fyneError{reason: strings.TrimSpace(strings.TrimPrefix(s, "Fyne error: "))}
	case strings.HasPrefix(s, "  Cause:") && w.pending != nil:
		w.pending.cause = strings.TrimSpace(strings.TrimPrefix(s, "  Cause:"))
	case strings.HasPrefix(s, "  At:") && w.pending != nil:
		w.pending.at = strings.TrimSpace(strings.TrimPrefix(s, "  At:"))
		w.flush()
	case strings.TrimSpace(s) == "":
	default:
		w.flush()
		w.l.Error(strings.TrimSpace(s), "from", "fyne")
	}
}

// flush logs the pending Fyne error, if any.
func (w *fyneLogWriter) flush() {
	e := w.pending
	if e == nil {
		return
	}
	w.pending = nil
	level, msg := w.classify(e)
	w.l.Log(context.Background(), level, msg, "from", "fyne", "reason", e.reason, "cause", e.cause, "at", e.at)
}

func (w *fyneLogWriter) classify(e *fyneError) (slog.Level, string) {
	switch {
	case strings.HasPrefix(e.reason, "Error parsing user locale"), strings.HasPrefix(e.reason, "Failed to look up user locale"):
		return slog.LevelDebug, "locale not understood; using English"
	case strings.HasPrefix(e.reason, "Preferences load error") && e.cause == "EOF":
		return slog.LevelDebug, "Fyne read its preferences file while it was being written"
	case strings.Contains(e.cause, "org.freedesktop.Notifications"), strings.HasPrefix(e.reason, "Unable to connect to session D-Bus"):
		if w.notified {
			return slog.LevelDebug, "desktop notification not shown"
		}
		w.notified = true
		return slog.LevelInfo, "desktop notifications are unavailable (no notification service); calls still ring in their own window"
	}
	return slog.LevelWarn, "fyne: " + e.reason
}
