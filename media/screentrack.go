package media

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/mxcall/mxcall/media/framecrypt"
	"github.com/mxcall/mxcall/media/screen"
	"github.com/mxcall/mxcall/media/vpx"
)

// ScreenOptions configures a ScreenTrack. Zero fields take the defaults.
type ScreenOptions struct {
	// StreamID is the MediaStream ID of the share (default a new random
	// one: a share is its own stream, apart from the camera's, so that
	// VoIP v1's sdp_stream_metadata can mark it m.screenshare).
	StreamID string
	// FPS is the capture and encode rate (default 5: screens change
	// little, text must be sharp).
	FPS int
	// MaxWidth and MaxHeight bound the sent size (default 1920x1080;
	// larger screens are shrunk). Used by OpenScreenTrack.
	MaxWidth, MaxHeight int
	// MaxKbps caps the bitrate (default 2500 kbit/s); bandwidth estimates
	// (REMB, loss, the send-side estimate) lower it, never raise it above.
	MaxKbps int
	// Preview makes the track publish what it sends into Preview().
	Preview bool
	// Log is the logger (default slog.Default()).
	Log *slog.Logger
}

func (o ScreenOptions) withDefaults() ScreenOptions {
	if o.StreamID == "" {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		o.StreamID = "mxcall-screen-" + hex.EncodeToString(b)
	}
	if o.FPS <= 0 {
		o.FPS = 5
	}
	if o.MaxWidth <= 0 || o.MaxHeight <= 0 {
		o.MaxWidth, o.MaxHeight = 1920, 1080
	}
	if o.MaxKbps <= 0 {
		o.MaxKbps = 2500
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return o
}

// ScreenTrack sends a screen or window (a screen.VideoSource) as a VP8
// video track tuned for screen content: screen-content mode, a few frames
// a second at up to 1920x1080, a keyframe first and whenever the track is
// bound again or the peer asks (PLI/FIR), the bitrate following REMB,
// receiver-report loss and the send-side estimate (AddBandwidthEstimation)
// under MaxKbps, as the camera's does.
//
// Capture runs only while the track is bound to a sender. When the source
// ends by itself (the shared window was closed: screen.ErrSourceGone),
// the track stops sending, Done is closed and Err tells why; nothing more
// is sent, never a black picture. Hand Video() to callengine like the
// camera's track; it reads its sender's RTCP itself (do not drain
// RTPSender.Read). Close the PeerConnections first, then the ScreenTrack.
type ScreenTrack struct {
	opts  ScreenOptions
	log   *slog.Logger
	src   screen.VideoSource
	video *localTrack

	bwe        bandwidth
	targetKbps atomic.Int64
	keyframe   atomic.Bool
	keyframes  atomic.Int64
	framesSent atomic.Int64
	estimates  atomic.Int64
	preview    *FrameSlot

	mu     sync.Mutex
	closed bool
	err    error
	stop   context.CancelFunc // ends the running capture session
	kick   chan struct{}
	done   chan struct{} // closed when the track ends (Close or source end)
	wg     sync.WaitGroup
	width  atomic.Int64
	height atomic.Int64
}

// OpenScreenTrack opens the screen or window with this screen.Source ID
// (screen.Open, at opts.FPS and within opts.MaxWidth×MaxHeight) and
// returns a track that sends it. Its errors are screen.Open's
// (screen.ErrNoSource, screen.ErrWayland, screen.ErrNotSupported …).
func OpenScreenTrack(ctx context.Context, id string, opts ScreenOptions) (*ScreenTrack, error) {
	opts = opts.withDefaults()
	src, err := screen.Open(ctx, id, screen.Options{FPS: opts.FPS, MaxWidth: opts.MaxWidth, MaxHeight: opts.MaxHeight})
	if err != nil {
		return nil, err
	}
	t, err := NewScreenTrack(src, opts) //nolint:contextcheck // the share outlives the request that opened it
	if err != nil {
		_ = src.Close()
		return nil, err
	}
	return t, nil
}

// NewScreenTrack returns a track that sends src's frames; the track owns
// src from now on and closes it with itself. Nothing is captured until the
// track is bound to a sender.
func NewScreenTrack(src screen.VideoSource, opts ScreenOptions) (*ScreenTrack, error) {
	opts = opts.withDefaults()
	t := &ScreenTrack{opts: opts, log: opts.Log.With("component", "media.screen"), src: src,
		kick: make(chan struct{}, 1), done: make(chan struct{})}
	t.bwe = bandwidth{max: opts.MaxKbps, min: 150}
	t.bwe.cur = opts.MaxKbps * 2 / 3
	t.targetKbps.Store(int64(t.bwe.cur))
	if opts.Preview {
		t.preview = NewFrameSlot()
	}
	var err error
	t.video, err = newLocalTrack(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000},
		"screen", opts.StreamID, func(int) { t.changed() }, t.videoRTCP)
	if err != nil {
		return nil, err
	}
	t.video.owner = t
	t.wg.Add(1)
	go t.loop()
	return t, nil
}

// Video returns the VP8 track to send.
func (t *ScreenTrack) Video() webrtc.TrackLocal { return t.video }

// StreamID returns the share's MediaStream ID.
func (t *ScreenTrack) StreamID() string { return t.opts.StreamID }

// Source describes what is shared.
func (t *ScreenTrack) Source() screen.Source { return t.src.Source() }

// Done is closed when the track has ended: closed, or its source ended
// by itself (see Err).
func (t *ScreenTrack) Done() <-chan struct{} { return t.done }

// Err returns why the track ended by itself (wrapping
// screen.ErrSourceGone when the shared window was closed), nil while it
// runs or after Close.
func (t *ScreenTrack) Err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

// Size returns the size of the last frame sent (0, 0 before the first).
func (t *ScreenTrack) Size() (w, h int) { return int(t.width.Load()), int(t.height.Load()) }

// Preview returns the slot of what is sent (nil without
// ScreenOptions.Preview).
func (t *ScreenTrack) Preview() *FrameSlot { return t.preview }

// RequestKeyframe makes the next frame a keyframe.
func (t *ScreenTrack) RequestKeyframe() { t.keyframe.Store(true) }

// Keyframes returns how many keyframes were forced by request.
func (t *ScreenTrack) Keyframes() int64 { return t.keyframes.Load() }

// SetBandwidthEstimate feeds an external estimate of the bandwidth for
// this track, in bit/s (see Source.SetBandwidthEstimate).
func (t *ScreenTrack) SetBandwidthEstimate(bps int) {
	t.targetKbps.Store(int64(t.bwe.estimate(bps / 1000)))
	t.estimates.Add(1)
}

func (t *ScreenTrack) bweWeight() int { return screenWeight }

// BandwidthEstimates returns how many external estimates were applied.
func (t *ScreenTrack) BandwidthEstimates() int64 { return t.estimates.Load() }

// VideoBitrate returns the current target bitrate in kbit/s.
func (t *ScreenTrack) VideoBitrate() int { return int(t.targetKbps.Load()) }

// FramesSent returns how many frames were written to the track.
func (t *ScreenTrack) FramesSent() int64 { return t.framesSent.Load() }

// SetEncryption encrypts every frame with enc (MatrixRTC; see
// Source.SetEncryption); nil turns it off.
func (t *ScreenTrack) SetEncryption(enc *framecrypt.Encryptor) { t.video.crypt.enc.Store(enc) }

// Close stops capture, closes the source and ends the track's goroutine.
// Close the PeerConnections first. It is idempotent.
func (t *ScreenTrack) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	if t.stop != nil {
		t.stop()
	}
	t.endLocked(nil)
	t.mu.Unlock()
	err := t.src.Close()
	t.wg.Wait()
	return err
}

// endLocked closes done once, keeping the first reason.
func (t *ScreenTrack) endLocked(err error) {
	select {
	case <-t.done:
		return
	default:
	}
	t.err = err
	close(t.done)
}

// changed is called when the track is bound or unbound.
func (t *ScreenTrack) changed() {
	t.mu.Lock()
	if !t.video.isBound() && t.stop != nil {
		t.stop()
	}
	t.mu.Unlock()
	select {
	case t.kick <- struct{}{}:
	default:
	}
}

// loop runs a capture session while the track is bound, until it ends.
func (t *ScreenTrack) loop() {
	defer t.wg.Done()
	for {
		select {
		case <-t.done:
			return
		case <-t.kick:
		}
		t.mu.Lock()
		if !t.video.isBound() || t.closed {
			t.mu.Unlock()
			continue
		}
		ctx, cancel := context.WithCancel(context.Background())
		t.stop = cancel
		t.mu.Unlock()
		err := t.session(ctx)
		cancel()
		t.mu.Lock()
		t.stop = nil
		if err != nil && !t.closed {
			t.log.Info("screen share ended", "err", err)
			t.endLocked(err)
		}
		t.mu.Unlock()
	}
}

// session captures and sends until ctx ends (unbound or closed: nil) or
// the source fails (its error).
func (t *ScreenTrack) session(ctx context.Context) error {
	var enc *vpx.Encoder
	defer func() {
		if enc != nil {
			_ = enc.Close()
		}
	}()
	var t0, last time.Time
	var warned time.Time
	var prev vpx.I420 // the last picture captured, to see a still screen
	still := 0        // frames in a row equal to prev
	for {
		f, err := t.src.ReadFrame(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, screen.ErrClosed) {
				return nil
			}
			return err
		}
		if samePicture(&prev, f) {
			still++
		} else {
			still = 0
			_ = prev.CopyPacked(f.Y, f.U, f.V, f.Width, f.Height)
		}
		// A screen that has not changed for a second: one frame a second
		// (the encoder would otherwise spend the whole bitrate, and most
		// of the CPU, refining a picture that is already sharp).
		if enc != nil && still > t.opts.FPS && still%t.opts.FPS != 0 && !t.keyframe.Load() {
			continue
		}
		if enc == nil || enc.Config().Width != f.Width || enc.Config().Height != f.Height {
			if enc != nil {
				_ = enc.Close()
			}
			// A new encoder (the first frame, a resized window) starts with a keyframe.
			enc, err = vpx.NewEncoder(screenEncoderConfig(f.Width, f.Height, t.opts.FPS, int(t.targetKbps.Load())))
			if err != nil {
				return err
			}
			t0, last = f.Time, f.Time.Add(-time.Second/time.Duration(t.opts.FPS))
			t.width.Store(int64(f.Width))
			t.height.Store(int64(f.Height))
		}
		if t.keyframe.Swap(false) {
			enc.RequestKeyframe()
			t.keyframes.Add(1)
		}
		enc.SetBitrate(int(t.targetKbps.Load()))
		data, _, err := enc.Encode(f.Y, f.U, f.V, f.Time.Sub(t0).Milliseconds())
		if err == nil && len(data) > 0 {
			err = t.video.write(data, f.Time.Sub(last))
			if err == nil {
				t.framesSent.Add(1)
			}
		}
		if err != nil && time.Since(warned) > 5*time.Second {
			warned = time.Now()
			t.log.Warn("screen encode/send", "err", err)
		}
		last = f.Time
		if t.preview != nil && t.preview.writeFrame().CopyPacked(f.Y, f.U, f.V, f.Width, f.Height) == nil {
			t.preview.publish()
		}
	}
}

// samePicture reports whether f shows what p holds.
func samePicture(p *vpx.I420, f *screen.Frame) bool {
	return p.Width == f.Width && p.Height == f.Height && bytes.Equal(p.Y, f.Y[:len(p.Y)]) &&
		bytes.Equal(p.U, f.U[:len(p.U)]) && bytes.Equal(p.V, f.V[:len(p.V)])
}

// screenEncoderConfig is the VP8 configuration of a share.
func screenEncoderConfig(w, h, fps, kbps int) vpx.EncoderConfig {
	return vpx.EncoderConfig{Width: w, Height: h, FPS: fps, BitrateKbps: kbps, ScreenContent: true}
}

// videoRTCP handles RTCP the peer sent about the share.
func (t *ScreenTrack) videoRTCP(pkts []rtcp.Packet) {
	for _, p := range pkts {
		switch p := p.(type) {
		case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
			t.RequestKeyframe()
		case *rtcp.ReceiverEstimatedMaximumBitrate:
			t.targetKbps.Store(int64(t.bwe.remb(int(p.Bitrate) / 1000)))
		case *rtcp.ReceiverReport:
			for _, r := range p.Reports {
				t.targetKbps.Store(int64(t.bwe.loss(float64(r.FractionLost) / 256)))
			}
		}
	}
}
