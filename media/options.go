package media

import "log/slog"

// Option configures a Source.
type Option func(*config)

type config struct {
	streamID     string
	width        int
	height       int
	fps          int
	maxKbps      int
	camera       string
	microphone   string
	forcePattern bool
	toneHz       float64
	preview      bool
	log          *slog.Logger
}

// WithStreamID sets the MediaStream ID both tracks share (default random).
func WithStreamID(id string) Option { return func(c *config) { c.streamID = id } }

// WithVideoSize sets the wanted capture and encode size (default 640x480).
// A camera that cannot do it gives its closest size.
func WithVideoSize(w, h int) Option { return func(c *config) { c.width, c.height = w&^1, h&^1 } }

// WithFrameRate sets the wanted frame rate (default 30).
func WithFrameRate(fps int) Option { return func(c *config) { c.fps = fps } }

// WithMaxVideoBitrate caps the video bitrate in kbit/s (default 1500 at
// 480p, 2500 at 720p). Bandwidth estimates never raise it above the cap.
func WithMaxVideoBitrate(kbps int) Option { return func(c *config) { c.maxKbps = kbps } }

// WithCamera chooses the camera by Device.ID ("" = default).
func WithCamera(id string) Option { return func(c *config) { c.camera = id } }

// WithMicrophone chooses the microphone by Device.ID ("" = default).
func WithMicrophone(id string) Option { return func(c *config) { c.microphone = id } }

// WithTestPattern sends the generated test pattern even if a camera exists.
func WithTestPattern() Option { return func(c *config) { c.forcePattern = true } }

// WithTone sends a sine tone of the given frequency instead of the
// microphone (tests, "sound check"). Without it, a missing microphone
// falls back to silence.
func WithTone(hz float64) Option { return func(c *config) { c.toneHz = hz } }

// WithPreview makes the Source also publish its own outgoing pictures into
// Preview() (self view), at the cost of one conversion per frame.
func WithPreview() Option { return func(c *config) { c.preview = true } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }
