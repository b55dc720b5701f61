package callengine

import (
	"context"
	"fmt"

	"github.com/pion/webrtc/v4"
)

// WarmUp runs, once and ahead of the first call, the set-up a call does on
// the click path: a peer connection of the engine's API with audio and
// video transceivers, an offer and the gathering of host candidates,
// closed at once, on a goroutine of the engine's (Close waits for it).
// The first peer connection of a process pays for code,
// tables and allocations that later ones find ready (measured here: about
// 10 ms more for the first one); the first call of a freshly started app
// was some 60 ms slower than the calls after it. No ICE servers are
// given, so nothing is sent anywhere: only local sockets are opened and
// closed. Failures are only logged: the call itself will report them.
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
	}()
}

// warmUp is WarmUp's work; it returns when the gathering is complete or
// ctx ends.
func (e *Engine) warmUp(ctx context.Context) error {
	pc, err := e.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return fmt.Errorf("callengine: warm-up: %w", err)
	}
	defer func() { _ = pc.Close() }()
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		if _, err := pc.AddTransceiverFromKind(kind); err != nil {
			return fmt.Errorf("callengine: warm-up: %w", err)
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return fmt.Errorf("callengine: warm-up: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return fmt.Errorf("callengine: warm-up: %w", err)
	}
	select {
	case <-gathered:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
