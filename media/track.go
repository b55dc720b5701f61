package media

import (
	"errors"
	"io"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	pmedia "github.com/pion/webrtc/v4/pkg/media"

	"github.com/mxcall/mxcall/media/framecrypt"
)

// videoOwner is what feeds a video localTrack: a camera Source or a
// ScreenTrack. It takes keyframe requests and bandwidth estimates.
type videoOwner interface {
	RequestKeyframe()
	SetBandwidthEstimate(bps int)
	// bweWeight is the owner's share when one connection's estimate is
	// split among several video tracks.
	bweWeight() int
}

// localTrack is a webrtc.TrackLocal backed by a TrackLocalStaticSample
// that tells its owner when it is bound to a sender (so capture runs only
// while someone sends it) and hands it the sender's incoming RTCP
// (PLI/FIR, REMB, receiver reports).
//
// It reads RTCP through TrackLocalContext.RTCPReader itself, as pion's
// mediadevices tracks do: the caller need not (and should not) drain
// RTPSender.Read for these tracks.
type localTrack struct {
	sample *webrtc.TrackLocalStaticSample
	onBind func(bound int)
	onRTCP func([]rtcp.Packet)
	owner  videoOwner // registered in estimateTargets by SSRC (video only)
	crypt  *trackCrypt

	mu      sync.Mutex
	bound   map[string]bool // sender ID → bound
	readers map[string]bool // sender ID → RTCP reader running
	wg      sync.WaitGroup
}

func newLocalTrack(c webrtc.RTPCodecCapability, id, streamID string, onBind func(int), onRTCP func([]rtcp.Packet)) (*localTrack, error) {
	s, err := webrtc.NewTrackLocalStaticSample(c, id, streamID)
	if err != nil {
		return nil, err
	}
	codec := framecrypt.CodecOpus
	if c.MimeType == webrtc.MimeTypeVP8 {
		codec = framecrypt.CodecVP8
	}
	return &localTrack{sample: s, onBind: onBind, onRTCP: onRTCP, crypt: newTrackCrypt(codec, c.ClockRate),
		bound: map[string]bool{}, readers: map[string]bool{}}, nil
}

// Bind implements webrtc.TrackLocal.
func (t *localTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	p, err := t.sample.Bind(ctx)
	if err != nil {
		return p, err
	}
	if t.owner != nil {
		estimateTargets.Store(uint32(ctx.SSRC()), t.owner)
	}
	t.mu.Lock()
	t.bound[ctx.ID()] = true
	n := len(t.bound)
	startReader := ctx.RTCPReader() != nil && !t.readers[ctx.ID()]
	if startReader {
		t.readers[ctx.ID()] = true
		t.wg.Add(1)
	}
	t.mu.Unlock()
	if startReader {
		go t.readRTCP(ctx.ID(), ctx.RTCPReader())
	}
	if t.onBind != nil {
		t.onBind(n)
	}
	return p, nil
}

// Unbind implements webrtc.TrackLocal.
func (t *localTrack) Unbind(ctx webrtc.TrackLocalContext) error {
	err := t.sample.Unbind(ctx)
	if t.owner != nil {
		estimateTargets.Delete(uint32(ctx.SSRC()))
	}
	t.mu.Lock()
	delete(t.bound, ctx.ID())
	n := len(t.bound)
	t.mu.Unlock()
	if t.onBind != nil {
		t.onBind(n)
	}
	return err
}

// readRTCP runs until the sender's RTCP stream ends (sender stopped or
// PeerConnection closed).
func (t *localTrack) readRTCP(id string, r interceptor.RTCPReader) {
	defer t.wg.Done()
	defer func() {
		t.mu.Lock()
		delete(t.readers, id)
		t.mu.Unlock()
	}()
	buf := make([]byte, 1500)
	for {
		n, _, err := r.Read(buf, interceptor.Attributes{})
		if err != nil {
			if !errors.Is(err, io.EOF) {
				return
			}
			return
		}
		t.mu.Lock()
		live := t.bound[id]
		t.mu.Unlock()
		if !live || t.onRTCP == nil {
			continue
		}
		pkts, err := rtcp.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		t.onRTCP(pkts)
	}
}

func (t *localTrack) isBound() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.bound) > 0
}

// write sends one encoded frame, encrypted when encryption is on. A frame
// that cannot be encrypted is dropped (and reported as sent: the encoder
// goes on).
func (t *localTrack) write(data []byte, d time.Duration) error {
	data, ok := t.crypt.seal(data, d)
	if !ok {
		return nil
	}
	return t.sample.WriteSample(pmedia.Sample{Data: data, Duration: d})
}

// RequestKeyframe makes the next video frame a key frame (callengine asks
// when the connection is up); a no-op for audio.
func (t *localTrack) RequestKeyframe() {
	if t.owner != nil {
		t.owner.RequestKeyframe()
	}
}

// ID implements webrtc.TrackLocal.
func (t *localTrack) ID() string { return t.sample.ID() }

// RID implements webrtc.TrackLocal.
func (t *localTrack) RID() string { return t.sample.RID() }

// StreamID implements webrtc.TrackLocal.
func (t *localTrack) StreamID() string { return t.sample.StreamID() }

// Kind implements webrtc.TrackLocal.
func (t *localTrack) Kind() webrtc.RTPCodecType { return t.sample.Kind() }
