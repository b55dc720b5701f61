package media

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/gen2brain/malgo"
	"github.com/pion/webrtc/v4"
)

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

func (s *Source) bweWeight() int { return cameraWeight }

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
