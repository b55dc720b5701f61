package callengine

import (
	"context"
	"fmt"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// warmUpTimeout bounds the warm-up's local call: where no two local
// candidates can reach each other (a machine without any network) it
// gives up, having warmed what it could.
const warmUpTimeout = 3 * time.Second

// WarmUp runs, once and ahead of the first call, what a call does on the
// click path and after it: a call between two peer connections of the
// engine's API inside this process (audio and video transceivers, offer
// and answer, host candidates, ICE checks, the DTLS handshake, SRTP and
// the interceptors, until the first video packet arrived), closed at once,
// then WithWarmUp's function, on a goroutine of the engine's (Close waits
// for it).
//
// The first call of a process pays for code run for the first time and
// for tables and allocations that later calls find ready. On the 2-core
// test VM, where a page fault costs about 10 µs, the first call of a
// freshly started app made some 700 more page faults than later calls and
// took 30–50 ms more CPU. No ICE servers are given and both ends are
// local, so nothing is sent off this machine: the packets go between two
// sockets of this process. Failures are only logged at debug level: the
// call itself will report them.
func (e *Engine) WarmUp() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		if err := e.warmUp(e.sendCtx); err != nil && e.sendCtx.Err() == nil {
			e.opts.log.Debug("warm-up", "err", err)
		}
		if e.opts.warmUp != nil && e.sendCtx.Err() == nil {
			e.opts.warmUp()
		}
	}()
}

// warmUp is WarmUp's work; it returns once the answering side has read a
// video packet, or when ctx ends or warmUpTimeout has passed.
func (e *Engine) warmUp(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, warmUpTimeout)
	defer cancel()
	wrap := func(err error) error { return fmt.Errorf("callengine: warm-up: %w", err) }
	caller, err := e.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return wrap(err)
	}
	defer func() { _ = caller.Close() }()
	callee, err := e.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return wrap(err)
	}
	defer func() { _ = callee.Close() }()

	audio, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "warm-up")
	if err != nil {
		return wrap(err)
	}
	video, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", "warm-up")
	if err != nil {
		return wrap(err)
	}
	for _, tr := range []webrtc.TrackLocal{audio, video} {
		if _, err := caller.AddTrack(tr); err != nil {
			return wrap(err)
		}
	}
	got := make(chan struct{})
	callee.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		buf := make([]byte, 1500)
		for {
			if _, _, err := tr.Read(buf); err != nil {
				return // closed by the deferred Close
			}
			if tr.Kind() == webrtc.RTPCodecTypeVideo {
				select {
				case got <- struct{}{}:
				default:
				}
			}
		}
	})
	if err := exchange(ctx, caller, callee); err != nil {
		return wrap(err)
	}
	// Samples go out once the connection is up (SRTP drops them before);
	// send until the callee has one: a VP8 key frame's header with a
	// payload of a typical frame's size, and 20 ms of Opus silence.
	frame := make([]byte, 4000)
	frame[0] = 0x10 // key frame, shown, version 0
	silence := []byte{0xf8, 0xff, 0xfe}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		_ = video.WriteSample(media.Sample{Data: frame, Duration: 33 * time.Millisecond})
		_ = audio.WriteSample(media.Sample{Data: silence, Duration: 20 * time.Millisecond})
		select {
		case <-got:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// exchange runs offer and answer between two local peer connections with
// complete candidate lists (no trickling).
func exchange(ctx context.Context, caller, callee *webrtc.PeerConnection) error {
	local := func(pc *webrtc.PeerConnection, d webrtc.SessionDescription) (*webrtc.SessionDescription, error) {
		gathered := webrtc.GatheringCompletePromise(pc)
		if err := pc.SetLocalDescription(d); err != nil {
			return nil, err
		}
		select {
		case <-gathered:
			if ld := pc.LocalDescription(); ld != nil {
				return ld, nil
			}
			return &d, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	offer, err := caller.CreateOffer(nil)
	if err != nil {
		return err
	}
	o, err := local(caller, offer)
	if err != nil {
		return err
	}
	if err := callee.SetRemoteDescription(*o); err != nil {
		return err
	}
	answer, err := callee.CreateAnswer(nil)
	if err != nil {
		return err
	}
	a, err := local(callee, answer)
	if err != nil {
		return err
	}
	return caller.SetRemoteDescription(*a)
}
