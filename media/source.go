package media

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gen2brain/malgo"
	"github.com/pion/mediadevices/pkg/driver"
	"github.com/pion/mediadevices/pkg/frame"
	"github.com/pion/mediadevices/pkg/prop"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	"gopkg.in/hraban/opus.v2"

	"github.com/mxcall/mxcall/media/vpx"
)

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

// Source is the local side of a call: a VP8 video track fed by a camera
// (or the test pattern) and an Opus audio track fed by a microphone (or
// silence / a tone). Both tracks share one StreamID; hand them to
// callengine as Media{Audio: s.Audio(), Video: s.Video()}.
//
// Capture runs only while a track is bound to a PeerConnection sender and
// not muted: the camera is released the moment video is muted, the call
// ends (sender stopped / PeerConnection closed) or the Source is closed.
// Switching devices keeps the same tracks, so no renegotiation and no
// ReplaceTrack is needed.
type Source struct {
	cfg   config
	log   *slog.Logger
	video *localTrack
	audio *localTrack

	mu          sync.Mutex
	closed      bool
	previewing  bool
	videoMuted  bool
	audioMuted  bool
	camera      string
	microphone  string
	vStop       chan struct{} // closed to stop the running video capture
	aStop       chan struct{}
	vKick       chan struct{}
	aKick       chan struct{}
	done        chan struct{}
	wg          sync.WaitGroup
	vFallback   atomic.Bool
	aFallback   atomic.Bool
	camOpen     atomic.Bool
	micOpen     atomic.Bool
	keyframe    atomic.Bool
	keyframes   atomic.Int64
	targetKbps  atomic.Int64
	bwe         bandwidth
	preview     *FrameSlot
	framesSent  atomic.Int64
	audioFrames atomic.Int64
	estimates   atomic.Int64
}

// NewSource creates the local tracks. Nothing is captured until a track is
// bound to a sender.
func NewSource(opts ...Option) (*Source, error) {
	c := config{width: 640, height: 480, fps: 30}
	for _, o := range opts {
		o(&c)
	}
	if c.width <= 0 || c.height <= 0 {
		c.width, c.height = 640, 480
	}
	if c.fps <= 0 {
		c.fps = 30
	}
	if c.maxKbps <= 0 {
		c.maxKbps = 1500
		if c.width*c.height > 640*480 {
			c.maxKbps = 2500
		}
	}
	if c.streamID == "" {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		c.streamID = "mxcall-" + hex.EncodeToString(b)
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	s := &Source{
		cfg: c, log: c.log.With("component", "media.source"),
		camera: c.camera, microphone: c.microphone,
		vKick: make(chan struct{}, 1), aKick: make(chan struct{}, 1), done: make(chan struct{}),
	}
	s.bwe = bandwidth{max: c.maxKbps, min: 100}
	s.bwe.cur = c.maxKbps * 2 / 3
	s.targetKbps.Store(int64(s.bwe.cur))
	if c.preview {
		s.preview = NewFrameSlot()
	}
	var err error
	s.video, err = newLocalTrack(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000},
		"video", c.streamID, func(int) { s.changed() }, s.videoRTCP)
	if err != nil {
		return nil, err
	}
	s.video.owner = s
	s.audio, err = newLocalTrack(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2},
		"audio", c.streamID, func(int) { s.changed() }, nil)
	if err != nil {
		return nil, err
	}
	s.wg.Add(2)
	go s.videoLoop()
	go s.audioLoop()
	return s, nil
}

// Video returns the VP8 video track.
func (s *Source) Video() webrtc.TrackLocal { return s.video }

// Audio returns the Opus audio track.
func (s *Source) Audio() webrtc.TrackLocal { return s.audio }

// StreamID returns the StreamID both tracks share.
func (s *Source) StreamID() string { return s.cfg.streamID }

// Fallback reports whether video comes from the generated test pattern
// because no camera could be opened (or WithTestPattern was given).
func (s *Source) Fallback() bool {
	if s.cfg.forcePattern {
		return true
	}
	if s.vFallback.Load() {
		return true
	}
	return len(cameras()) == 0
}

// AudioFallback reports whether audio is silence or a tone because no
// microphone could be opened (or WithTone was given).
func (s *Source) AudioFallback() bool {
	if s.cfg.toneHz > 0 {
		return true
	}
	if s.aFallback.Load() {
		return true
	}
	return len(audioDevices(malgo.Capture)) == 0
}

// CameraOpen reports whether a camera device is currently held open.
func (s *Source) CameraOpen() bool { return s.camOpen.Load() }

// MicrophoneOpen reports whether a microphone is currently held open.
func (s *Source) MicrophoneOpen() bool { return s.micOpen.Load() }

// Preview returns the self-view slot (nil without WithPreview).
func (s *Source) Preview() *FrameSlot { return s.preview }

// SetVideoMuted stops (and releases the camera) or resumes video capture.
func (s *Source) SetVideoMuted(muted bool) {
	s.mu.Lock()
	s.videoMuted = muted
	s.mu.Unlock()
	s.changed()
}

// SetAudioMuted stops (and releases the microphone) or resumes audio.
func (s *Source) SetAudioMuted(muted bool) {
	s.mu.Lock()
	s.audioMuted = muted
	s.mu.Unlock()
	s.changed()
}

// SelectCamera switches to the camera with the given Device.ID ("" =
// default) without changing the track: the next frame comes from the new
// camera (a keyframe). It returns the (unchanged) video track, which can
// be handed to ReplaceTrack harmlessly but need not be.
func (s *Source) SelectCamera(id string) (webrtc.TrackLocal, error) {
	if id != "" && !hasCamera(id) {
		return nil, fmt.Errorf("%w: camera %q", ErrNoDevice, id)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	s.camera = id
	s.restartLocked(&s.vStop, s.vKick)
	return s.video, nil
}

// SelectMicrophone switches to the microphone with the given Device.ID
// ("" = default); like SelectCamera it keeps the track.
func (s *Source) SelectMicrophone(id string) (webrtc.TrackLocal, error) {
	if _, err := findAudioDevice(malgo.Capture, id); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	s.microphone = id
	s.restartLocked(&s.aStop, s.aKick)
	return s.audio, nil
}

// RequestKeyframe makes the next video frame a keyframe.
func (s *Source) RequestKeyframe() { s.keyframe.Store(true) }

// Keyframes returns how many keyframes were forced by request (PLI/FIR
// from the peer or RequestKeyframe).
func (s *Source) Keyframes() int64 { return s.keyframes.Load() }

// SetBandwidthEstimate feeds an external estimate of the available send
// bandwidth for video (e.g. from pion's TWCC/GCC interceptor), in bit/s.
// The video bitrate follows it, never above the configured cap.
func (s *Source) SetBandwidthEstimate(bps int) {
	s.targetKbps.Store(int64(s.bwe.estimate(bps / 1000)))
	s.estimates.Add(1)
}

// BandwidthEstimates returns how many external estimates were applied.
func (s *Source) BandwidthEstimates() int64 { return s.estimates.Load() }

// VideoBitrate returns the current video target bitrate in kbit/s.
func (s *Source) VideoBitrate() int { return int(s.targetKbps.Load()) }

// FramesSent returns how many video frames were written to the track.
func (s *Source) FramesSent() int64 { return s.framesSent.Load() }

// Close stops capture, releases all devices and ends the Source's
// goroutines. Close the PeerConnections first: their senders read RTCP
// through the tracks until they stop. Close is idempotent.
func (s *Source) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	s.stopLocked(&s.vStop)
	s.stopLocked(&s.aStop)
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

func (s *Source) stopLocked(stop *chan struct{}) {
	if *stop != nil {
		close(*stop)
		*stop = nil
	}
}

func (s *Source) restartLocked(stop *chan struct{}, kick chan struct{}) {
	s.stopLocked(stop)
	select {
	case kick <- struct{}{}:
	default:
	}
}

// changed re-evaluates whether capture should run.
func (s *Source) changed() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.wantVideoLocked() {
		s.stopLocked(&s.vStop)
	}
	if !s.wantAudioLocked() {
		s.stopLocked(&s.aStop)
	}
	for _, k := range []chan struct{}{s.vKick, s.aKick} {
		select {
		case k <- struct{}{}:
		default:
		}
	}
}

func (s *Source) wantVideoLocked() bool {
	return !s.closed && !s.videoMuted && (s.previewing || s.video.isBound())
}

// SetPreviewing keeps the camera running for Preview() even while the
// video track is not sent (a settings screen, the moment before a call is
// answered). Frames are encoded only while the track is bound. Use it with
// WithPreview.
func (s *Source) SetPreviewing(on bool) {
	s.mu.Lock()
	s.previewing = on
	s.mu.Unlock()
	s.changed()
}
func (s *Source) wantAudioLocked() bool { return !s.closed && !s.audioMuted && s.audio.isBound() }

// loop runs capture sessions one after another while wanted.
func (s *Source) loop(kick chan struct{}, want func() bool, stopField *chan struct{}, run func(stop chan struct{})) {
	defer s.wg.Done()
	for {
		select {
		case <-s.done:
			return
		case <-kick:
		}
		for {
			s.mu.Lock()
			if !want() || *stopField != nil {
				s.mu.Unlock()
				break
			}
			stop := make(chan struct{})
			*stopField = stop
			s.mu.Unlock()
			run(stop)
			s.mu.Lock()
			if *stopField == stop {
				*stopField = nil // the run ended by itself (device lost)
			}
			s.mu.Unlock()
		}
	}
}

func (s *Source) videoLoop() {
	s.loop(s.vKick, s.wantVideoLocked, &s.vStop, s.captureVideo)
}

func (s *Source) audioLoop() {
	s.loop(s.aKick, s.wantAudioLocked, &s.aStop, s.captureAudio)
}

func hasCamera(id string) bool {
	for _, d := range cameras() {
		if d.ID() == id {
			return true
		}
	}
	return false
}

// videoEncoder owns the encoder for one capture session.
type videoEncoder struct {
	s    *Source
	enc  *vpx.Encoder
	conv *vpx.Converter
	last time.Time
	t0   time.Time
	warn time.Time
}

// warnf logs a per-frame failure at most every 5 s.
func (v *videoEncoder) warnf(err error) {
	if time.Since(v.warn) < 5*time.Second {
		return
	}
	v.warn = time.Now()
	v.s.log.Warn("video encode/send", "err", err)
}

func (v *videoEncoder) close() {
	if v.enc != nil {
		_ = v.enc.Close()
	}
	if v.conv != nil {
		_ = v.conv.Close()
	}
}

// send encodes one I420 frame and writes it to the track.
func (v *videoEncoder) send(y, u, vv []byte, w, h int, now time.Time) error {
	s := v.s
	if v.enc == nil || v.enc.Config().Width != w || v.enc.Config().Height != h {
		if v.enc != nil {
			_ = v.enc.Close()
		}
		var err error
		v.enc, err = vpx.NewEncoder(vpx.EncoderConfig{Width: w, Height: h, FPS: s.cfg.fps, BitrateKbps: int(s.targetKbps.Load())})
		if err != nil {
			return err
		}
		v.t0 = now
		v.last = now.Add(-time.Second / time.Duration(s.cfg.fps))
	}
	if s.video.isBound() {
		if s.keyframe.Swap(false) {
			v.enc.RequestKeyframe()
			s.keyframes.Add(1)
		}
		v.enc.SetBitrate(int(s.targetKbps.Load()))
		data, _, err := v.enc.Encode(y, u, vv, now.Sub(v.t0).Milliseconds())
		if err != nil {
			return err
		}
		d := now.Sub(v.last)
		if len(data) > 0 {
			if err := s.video.write(data, d); err != nil {
				return err
			}
			s.framesSent.Add(1)
		}
	} else {
		v.enc.RequestKeyframe() // the first frame sent after binding
	}
	v.last = now
	if s.preview != nil {
		if v.conv == nil {
			v.conv = vpx.NewConverter(1)
		}
		_ = v.conv.ConvertI420(y, u, vv, s.preview.writeBuffer(w, h))
		s.preview.publish()
	}
	return nil
}

func (s *Source) captureVideo(stop chan struct{}) {
	enc := &videoEncoder{s: s}
	defer enc.close()
	if !s.cfg.forcePattern {
		s.mu.Lock()
		id := s.camera
		s.mu.Unlock()
		err := s.captureCamera(stop, id, enc)
		if err == nil {
			return
		}
		s.log.Info("no camera, sending the test pattern", "err", err)
	}
	s.vFallback.Store(true)
	s.sendPattern(stop, enc)
}

var errNoCamera = errors.New("no camera")

func (s *Source) sendPattern(stop chan struct{}, enc *videoEncoder) {
	p := newPattern(s.cfg.width, s.cfg.height)
	tick := time.NewTicker(time.Second / time.Duration(s.cfg.fps))
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		case now := <-tick.C:
			p.draw(n)
			if err := enc.send(p.y, p.u, p.v, p.w, p.h, now); err != nil {
				enc.warnf(err)
			}
		}
	}
}

// camMu serialises opening a camera with rescanning for cameras.
var camMu sync.Mutex

// openCamera opens the camera with this ID (or the first one for "").
func openCamera(id string) (driver.Driver, error) {
	camMu.Lock()
	defer camMu.Unlock()
	for _, c := range cameras() {
		if id == "" || c.ID() == id {
			if err := c.Open(); err != nil {
				return nil, fmt.Errorf("open camera: %w", err)
			}
			return c, nil
		}
	}
	return nil, errNoCamera
}

// captureCamera runs until stop (nil error) or until the camera fails.
func (s *Source) captureCamera(stop chan struct{}, id string, enc *videoEncoder) error {
	d, err := openCamera(id)
	if err != nil {
		return err
	}
	s.camOpen.Store(true)
	var closeOnce sync.Once
	closeCam := func() {
		closeOnce.Do(func() {
			_ = d.Close()
			s.camOpen.Store(false)
		})
	}
	defer closeCam()
	rec, ok := d.(driver.VideoRecorder)
	if !ok {
		return errNoCamera
	}
	p, ok := bestVideoProp(d.Properties(), s.cfg.width, s.cfg.height, s.cfg.fps)
	if !ok {
		return fmt.Errorf("%w: camera has no usable format", ErrNoDevice)
	}
	r, err := rec.VideoRecord(p)
	if err != nil {
		return fmt.Errorf("camera record: %w", err)
	}
	s.vFallback.Store(false)
	watchDone := make(chan struct{})
	defer close(watchDone)
	go func() { // unblock a pending Read when asked to stop
		select {
		case <-stop:
			closeCam()
		case <-watchDone:
		}
	}()
	var buf i420
	for {
		img, release, err := r.Read()
		select {
		case <-stop:
			if release != nil {
				release()
			}
			return nil
		default:
		}
		if err != nil {
			return fmt.Errorf("camera read: %w", err)
		}
		ok := buf.from(img)
		release()
		if !ok {
			continue
		}
		if err := enc.send(buf.y, buf.u, buf.v, buf.w, buf.h, time.Now()); err != nil {
			enc.warnf(err)
		}
	}
}

// bestVideoProp picks the camera mode closest to w x h at ≥ fps (and
// decodable by mediadevices' frame decoders).
func bestVideoProp(props []prop.Media, w, h, fps int) (prop.Media, bool) {
	best, bestScore := prop.Media{}, -1
	for _, p := range props {
		switch p.FrameFormat {
		case frame.FormatI420, frame.FormatYUYV, frame.FormatYUY2, frame.FormatUYVY, frame.FormatNV12, frame.FormatNV21, frame.FormatMJPEG:
		default:
			continue
		}
		score := abs(p.Width-w) + abs(p.Height-h)
		if p.FrameRate > 0 && int(p.FrameRate) < fps {
			score += 10000
		}
		if p.FrameFormat == frame.FormatMJPEG {
			score += 50 // decoding JPEG costs CPU; prefer raw formats at equal size
		}
		if bestScore < 0 || score < bestScore {
			best, bestScore = p, score
		}
	}
	if bestScore < 0 {
		return best, false
	}
	if best.FrameRate == 0 || int(best.FrameRate) > fps {
		best.FrameRate = float32(fps)
	}
	return best, true
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// i420 is a reusable packed I420 frame.
type i420 struct {
	w, h    int
	y, u, v []byte
}

// from converts img (cropped to even size) into the buffer.
func (b *i420) from(img image.Image) bool {
	r := img.Bounds()
	w, h := r.Dx()&^1, r.Dy()&^1
	if w == 0 || h == 0 {
		return false
	}
	if b.w != w || b.h != h {
		b.w, b.h = w, h
		b.y, b.u, b.v = make([]byte, w*h), make([]byte, w*h/4), make([]byte, w*h/4)
	}
	switch m := img.(type) {
	case *image.YCbCr:
		for row := 0; row < h; row++ {
			copy(b.y[row*w:row*w+w], m.Y[m.YOffset(r.Min.X, r.Min.Y+row):])
		}
		for row := 0; row < h/2; row++ {
			for col := 0; col < w/2; col++ {
				x, y := r.Min.X+2*col, r.Min.Y+2*row
				ci := m.COffset(x, y)
				b.u[row*w/2+col] = m.Cb[ci]
				b.v[row*w/2+col] = m.Cr[ci]
			}
		}
	default:
		for row := 0; row < h; row++ {
			for col := 0; col < w; col++ {
				cr, cg, cb, _ := img.At(r.Min.X+col, r.Min.Y+row).RGBA()
				yuv := rgbToYUV(uint8(cr>>8), uint8(cg>>8), uint8(cb>>8))
				b.y[row*w+col] = yuv[0]
				if row%2 == 0 && col%2 == 0 {
					b.u[row/2*w/2+col/2] = yuv[1]
					b.v[row/2*w/2+col/2] = yuv[2]
				}
			}
		}
	}
	return true
}

// videoRTCP handles RTCP the peer sent about our video.
func (s *Source) videoRTCP(pkts []rtcp.Packet) {
	for _, p := range pkts {
		switch p := p.(type) {
		case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
			s.RequestKeyframe()
		case *rtcp.ReceiverEstimatedMaximumBitrate:
			s.targetKbps.Store(int64(s.bwe.remb(int(p.Bitrate) / 1000)))
		case *rtcp.ReceiverReport:
			for _, r := range p.Reports {
				s.targetKbps.Store(int64(s.bwe.loss(float64(r.FractionLost) / 256)))
			}
		}
	}
}

// captureAudio runs one audio session: microphone, tone or silence →
// Opus (20 ms, VoIP mode, in-band FEC) → track.
func (s *Source) captureAudio(stop chan struct{}) {
	enc, err := opus.NewEncoder(sampleRate, 1, opus.AppVoIP)
	if err != nil {
		s.log.Error("opus encoder", "err", err)
		<-stop
		return
	}
	_ = enc.SetBitrate(32000)
	_ = enc.SetInBandFEC(true)
	_ = enc.SetPacketLossPerc(5)
	out := make([]byte, 1500)
	send := func(pcm []int16) {
		n, err := enc.Encode(pcm, out)
		if err != nil {
			s.log.Warn("opus encode", "err", err)
			return
		}
		if err := s.audio.write(out[:n], audioFrameTime); err == nil {
			s.audioFrames.Add(1)
		}
	}
	if s.cfg.toneHz <= 0 {
		s.mu.Lock()
		id := s.microphone
		s.mu.Unlock()
		if m, err := openMic(id); err == nil {
			s.aFallback.Store(false)
			s.micOpen.Store(true)
			defer func() {
				m.close()
				s.micOpen.Store(false)
			}()
			for {
				select {
				case <-stop:
					return
				case pcm := <-m.frames:
					send(pcm)
				}
			}
		} else {
			s.log.Info("no microphone, sending silence", "err", err)
		}
	}
	s.aFallback.Store(true)
	t := tone{freq: s.cfg.toneHz, amp: 0.3}
	pcm := make([]int16, frameSamples)
	tick := time.NewTicker(audioFrameTime)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			if t.freq > 0 {
				t.fill(pcm)
			}
			send(pcm)
		}
	}
}

// bandwidth is a small send-side bitrate controller: loss-based (as in
// GCC's loss controller: > 10 % loss cuts, < 2 % loss grows 5 % per
// report), capped by REMB and external estimates and by the configured max.
type bandwidth struct {
	mu       sync.Mutex
	cur      int
	max, min int
	limit    int // latest REMB/external cap, 0 = none
}

func (b *bandwidth) clamp() int {
	hi := b.max
	if b.limit > 0 && b.limit < hi {
		hi = max(b.limit, b.min)
	}
	b.cur = min(max(b.cur, b.min), hi)
	return b.cur
}

func (b *bandwidth) loss(frac float64) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case frac > 0.10:
		b.cur = int(float64(b.cur) * (1 - 0.5*frac))
	case frac < 0.02:
		b.cur = int(float64(b.cur)*1.05) + 1
	}
	return b.clamp()
}

func (b *bandwidth) remb(kbps int) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.limit = kbps
	return b.clamp()
}

func (b *bandwidth) estimate(kbps int) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.limit = kbps
	b.cur = kbps
	return b.clamp()
}
