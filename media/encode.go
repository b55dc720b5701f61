package media

import (
	"sync"
	"time"

	"github.com/pion/rtcp"

	"github.com/mxcall/mxcall/media/vpx"
)

// videoEncoder owns the encoder for one capture session.
type videoEncoder struct {
	s    *Source
	enc  *vpx.Encoder
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
			s.log.Debug("media: key frame on request", "n", s.keyframes.Add(1))
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
		if s.preview.writeFrame().CopyPacked(y, u, vv, w, h) == nil {
			s.preview.publish()
		}
	}
	return nil
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
