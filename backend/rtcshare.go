package backend

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/mxcall/mxcall/callengine"
	"github.com/mxcall/mxcall/media"
	"github.com/mxcall/mxcall/media/framecrypt"
)

// Screen sharing in MatrixRTC calls: our share is a LiveKit screen-share
// track of its own (matrixrtc.Session.PublishScreenshare), encrypted with
// the camera's key in encrypted rooms; others' shares are tiles of their
// own (ui.Participant.Screen).

// ScreenTrack is the video of a screen share: a VP8 track that encodes
// what is shared. *media.Source is one (its video track).
type ScreenTrack interface {
	// Video is the track to publish.
	Video() webrtc.TrackLocal
	// SetEncryption makes it encrypt its frames (nil: none), as the
	// camera does in an encrypted call.
	SetEncryption(enc *framecrypt.Encryptor)
	// RequestKeyframe makes the next frame a key frame.
	RequestKeyframe()
	// Close stops capturing. Idempotent.
	Close() error
}

// ScreenCapture opens the screen or window sourceID (an ID from
// ScreenSources) for sharing.
type ScreenCapture func(ctx context.Context, sourceID string) (ScreenTrack, error)

// openScreen is the default ScreenCapture: media's screen capture and
// encoder (X11; an error elsewhere, and on Wayland without XWayland).
func openScreen(ctx context.Context, sourceID string) (ScreenTrack, error) {
	return media.OpenScreenTrack(ctx, sourceID, media.ScreenOptions{})
}

// screenKey is the media key (rtcMedia.peers) of identity's screen share.
func screenKey(identity string) string { return identity + screenSuffix }

// screenSuffix ends the media keys of screen shares; LiveKit identities
// ("@user:server:DEVICE" or base64) never contain '#'.
const screenSuffix = "#screen"

func isScreenKey(key string) bool { return strings.HasSuffix(key, screenSuffix) }

// startScreenshare shares sourceID in callID: the share is published next
// to our camera once the call's session has joined.
func (r *rtcCalls) startScreenshare(ctx context.Context, callID, sourceID string) error {
	c := r.get(callID)
	if c == nil {
		return fmt.Errorf("backend: share in %s: %w", callID, callengine.ErrNoSuchCall)
	}
	capture := r.cfg.newScreen
	if capture == nil {
		capture = openScreen
	}
	tr, err := capture(ctx, sourceID)
	if err != nil {
		return fmt.Errorf("backend: screen capture: %w", err)
	}
	if cr := c.crypto.Load(); cr != nil {
		tr.SetEncryption(cr.enc)
	}
	var sess rtcSession
	err = c.exec(ctx, func() error {
		switch {
		case c.sess == nil || c.info.State != callengine.StateConnected && c.info.State != callengine.StateInviteSent:
			return fmt.Errorf("backend: share in %s (%v): %w", callID, c.info.State, callengine.ErrWrongState)
		case c.screen != nil:
			return fmt.Errorf("backend: share in %s: already sharing: %w", callID, callengine.ErrWrongState)
		}
		c.screen, sess = tr, c.sess
		return nil
	})
	if err != nil {
		_ = tr.Close()
		return err
	}
	if err := sess.PublishScreenshare(ctx, tr.Video()); err != nil {
		_ = c.exec(context.WithoutCancel(ctx), func() error {
			if c.screen == tr {
				c.screen = nil
			}
			return nil
		})
		_ = tr.Close()
		return fmt.Errorf("backend: share in %s: %w", callID, err)
	}
	tr.RequestKeyframe()
	// Stopped (or ended) while it was being published: take it down.
	err = c.exec(context.WithoutCancel(ctx), func() error {
		if c.screen != tr {
			return callengine.ErrWrongState
		}
		return nil
	})
	if err != nil {
		_ = sess.UnpublishScreenshare(context.WithoutCancel(ctx))
		_ = tr.Close()
		return fmt.Errorf("backend: share in %s: stopped while starting: %w", callID, err)
	}
	r.cfg.log.Info("screen share started", "call_id", callID, "source", sourceID, "encrypted", c.crypto.Load() != nil)
	c.post(func() {
		if c.screen == tr {
			c.info.Screensharing = true
			c.update()
		}
	})
	stopWhenGone(r.cfg.log, callID, tr, func(ctx context.Context) error { return r.stopScreenshare(ctx, callID) }) //nolint:contextcheck // the watch outlives the request that started the share
	return nil
}

// stopWhenGone stops a share (with stop) when its capture ends by itself:
// a capture with Done and Err (media.ScreenTrack) whose window was
// closed. Done closes when the capture is closed too, so the watch ends
// with the share.
func stopWhenGone(log *slog.Logger, callID string, tr ScreenTrack, stop func(context.Context) error) {
	ended, ok := tr.(interface {
		Done() <-chan struct{}
		Err() error
	})
	if !ok {
		return
	}
	go func() {
		<-ended.Done()
		if err := ended.Err(); err != nil {
			log.Info("the shared screen or window is gone: stopping the share", "call_id", callID, "err", err)
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			_ = stop(ctx)
		}
	}()
}

// stopWhenGone is the package function for a legacy call's share.
func (b *Backend) stopWhenGone(callID string, tr ScreenTrack, stop func(context.Context) error) {
	stopWhenGone(b.log, callID, tr, stop)
}

// stopScreenshare stops our share in callID (a no-op when not sharing).
func (r *rtcCalls) stopScreenshare(ctx context.Context, callID string) error {
	c := r.get(callID)
	if c == nil {
		return nil // the call ended, and with it the share
	}
	var tr ScreenTrack
	var sess rtcSession
	err := c.exec(ctx, func() error {
		tr, sess = c.screen, c.sess
		c.screen = nil
		if tr != nil {
			c.info.Screensharing = false
			c.update()
		}
		return nil
	})
	if err != nil || tr == nil {
		return nil //nolint:nilerr // an ended call shares nothing
	}
	defer func() { _ = tr.Close() }()
	if err := sess.UnpublishScreenshare(ctx); err != nil {
		return fmt.Errorf("backend: stop sharing in %s: %w", callID, err)
	}
	r.cfg.log.Info("screen share stopped", "call_id", callID)
	return nil
}
