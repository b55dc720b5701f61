package media

import (
	"errors"
	"fmt"
	"image"
	"sync"
	"time"

	"github.com/pion/mediadevices/pkg/driver"
	"github.com/pion/mediadevices/pkg/frame"
	"github.com/pion/mediadevices/pkg/prop"
	"gopkg.in/hraban/opus.v2"
)

func hasCamera(id string) bool {
	for _, d := range cameras() {
		if d.ID() == id {
			return true
		}
	}
	return false
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
