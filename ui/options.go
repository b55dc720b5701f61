package ui

import (
	"log/slog"
	"sync/atomic"
	"time"

	"fyne.io/fyne/v2"
)

// config holds what Options change; screens read it.
type config struct {
	now       func() time.Time
	run       func(func())
	videoRate int
	endDelay  time.Duration
	static    bool
	statsLog  *slog.Logger
	statsIvl  time.Duration
	// roomsShown is called once, when the room list first shows rooms.
	roomsShown func(rooms int)
	// callGone is called when a call screen is taken down.
	callGone func()
	// quittingFn is called once when quitting starts (WithQuitting).
	quittingFn func()
	// quitting is set once the app starts to quit; see do.
	quitting atomic.Bool
	// hidden is set while the main window is minimised or hidden
	// (watchWindow): video views then take no frames.
	hidden atomic.Bool
}

// do runs f on the Fyne goroutine (fyne.Do) unless the app has started to
// quit, when f is dropped. Once Fyne's event loop has stopped, fyne.Do runs
// f at once on the calling goroutine, against windows whose GLFW is already
// terminated: widget updates then log "Error in Fyne call thread" and
// window calls panic. Every update that starts on another goroutine goes
// through here.
func (c *config) do(f func()) {
	if c.quitting.Load() {
		return
	}
	fyne.Do(func() {
		if !c.quitting.Load() {
			f()
		}
	})
}

func defaultConfig() *config {
	return &config{
		now:       time.Now,
		run:       func(f func()) { go f() },
		videoRate: DefaultVideoRate,
		endDelay:  3 * time.Second,
	}
}

// Option changes how the UI runs; tests use them for determinism.
type Option func(*config)

// WithClock sets the clock used for call timers.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithRunner sets how backend calls are started. The default runs each on
// a new goroutine; tests pass func(f func()) { f() } to run them inline.
func WithRunner(run func(func())) Option { return func(c *config) { c.run = run } }

// WithVideoRate sets how many times a second video views look for a new
// frame (default DefaultVideoRate).
func WithVideoRate(hz int) Option { return func(c *config) { c.videoRate = hz } }

// WithEndDelay sets how long an ended call stays on screen before the room
// list returns (default 3 s; 0 waits for the user's "Back").
func WithEndDelay(d time.Duration) Option { return func(c *config) { c.endDelay = d } }

// WithStatic starts no background goroutines of the UI's own: video views
// are pulled only by VideoView.Poll, the call timer moves only with call
// updates, and the homeserver is looked up only when Enter is pressed in
// the user ID field. Tests use it to be deterministic under the race
// detector (Fyne's test driver runs fyne.Do on the calling goroutine).
func WithStatic() Option { return func(c *config) { c.static = true } }

// WithStatsLog makes the call view log, every interval while a video call
// is shown, how many remote and local frames per second it put on screen
// (message "video repaint", level Info). main.go can turn it on for
// measurements; it costs one goroutine per call view.
func WithStatsLog(l *slog.Logger, every time.Duration) Option {
	return func(c *config) { c.statsLog, c.statsIvl = l, every }
}

// WithRoomsShown makes the UI call fn (on the UI goroutine) once, when the
// room list first shows at least one room: the moment the app is usable
// after a start or a login. main.go logs start-up time with it.
func WithRoomsShown(fn func(rooms int)) Option {
	return func(c *config) { c.roomsShown = fn }
}

// WithCallScreenGone makes the UI call fn (on the UI goroutine; it must
// not block) whenever a call's screen is taken down and the pictures it
// held are let go: the moment to hand memory the call used back to the
// system. main.go does that with it.
func WithCallScreenGone(fn func()) Option {
	return func(c *config) { c.callGone = fn }
}

// WithQuitting makes the UI call fn (on the UI goroutine; it must not
// block) once, when quitting starts: the main window was closed or a
// signal came. main.go bounds how long the rest of the shutdown may take
// with it.
func WithQuitting(fn func()) Option {
	return func(c *config) { c.quittingFn = fn }
}
