package backend

import (
	"context"
	"fmt"
	"image"
	"io"

	"github.com/pion/webrtc/v4"

	"github.com/mxcall/mxcall/callengine"
	"github.com/mxcall/mxcall/media"
	"github.com/mxcall/mxcall/media/screen"
	"github.com/mxcall/mxcall/ui"
)

// ScreenSource is what a screen share sends: a video track fed by a
// capture of a screen or window (or, in tests, media's test pattern:
// a *media.Source made with media.WithTestPattern satisfies it). Its
// track's StreamID must differ from the camera's. Capture should run only
// while the track is bound to a sender, as media.Source's does; tracks
// that implement callengine.KeyframeRequester get key frames asked for.
type ScreenSource interface {
	// Video is the share's video track (VP8, as media's tracks).
	Video() webrtc.TrackLocal
	// Close releases the capture; it must be idempotent.
	Close() error
}

// StartScreenshare shares the screen or window sourceID (an ID from
// ScreenSources) in callID: in a MatrixRTC call as a LiveKit screen-share
// track (rtcshare.go), in a legacy call through ShareScreen. The capture
// comes from Config.ScreenCapture (default: media.OpenScreenTrack). When
// the capture ends by itself (the shared window was closed), the share
// stops.
func (b *Backend) StartScreenshare(ctx context.Context, callID, sourceID string) error {
	if b.rtc.has(callID) {
		return b.rtc.startScreenshare(ctx, callID, sourceID)
	}
	tr, err := b.rtc.cfg.newScreen(ctx, sourceID)
	if err != nil {
		return fmt.Errorf("backend: screen capture: %w", err)
	}
	if err := b.ShareScreen(ctx, callID, tr); err != nil {
		return err
	}
	b.stopWhenGone(callID, tr, func(ctx context.Context) error { return b.StopScreenshare(ctx, callID) }) //nolint:contextcheck // the watch outlives the request that started the share
	return nil
}

// ScreenSources lists the screens and windows that can be shared
// (media/screen; on Wayland without XWayland its error says so).
func (b *Backend) ScreenSources(ctx context.Context) ([]ui.ScreenSource, error) {
	srcs, err := screen.ListSources(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ui.ScreenSource, 0, len(srcs))
	for _, s := range srcs {
		out = append(out, ui.ScreenSource{ID: s.ID, Title: s.Title, Window: s.Kind == screen.KindWindow})
	}
	return out, nil
}

// ScreenThumbnail is a picture of the source id, at most maxWidth wide.
func (b *Backend) ScreenThumbnail(ctx context.Context, id string, maxWidth int) (*image.RGBA, error) {
	return screen.Thumbnail(ctx, id, maxWidth)
}

// ShareScreen shares src in the legacy (m.call.invite) call callID: a
// second video stream with purpose m.screenshare, added by renegotiation.
// The backend owns src from then on: it closes it when the share stops,
// when the call ends, and at once when sharing cannot start (no such call,
// already sharing, call not connected). MatrixRTC calls are not handled
// here (ErrNotSupported): StartScreenshare shares in them.
func (b *Backend) ShareScreen(ctx context.Context, callID string, src ScreenSource) error {
	if src == nil {
		return fmt.Errorf("%w: nil screen source", callengine.ErrInvalidArgument)
	}
	eng, err := b.engine()
	if err != nil {
		_ = src.Close()
		return err
	}
	if b.rtc.has(callID) {
		_ = src.Close()
		return fmt.Errorf("%w: screen sharing", ErrNotSupported)
	}
	cm := b.existingMedia(callID)
	if cm == nil {
		_ = src.Close()
		return fmt.Errorf("backend: share in %s: %w", callID, callengine.ErrNoSuchCall)
	}
	if err := eng.StartScreenshare(ctx, callID, src.Video()); err != nil {
		_ = src.Close()
		return err
	}
	cm.setScreen(src) // closes src if the call's media is gone meanwhile
	return nil
}

// StopScreenshare stops our screen share in callID (renegotiating, or
// unpublishing it in a MatrixRTC call) and closes its source. Without a
// share it does nothing.
func (b *Backend) StopScreenshare(ctx context.Context, callID string) error {
	defer b.shareReleased()
	if b.rtc.has(callID) {
		return b.rtc.stopScreenshare(ctx, callID)
	}
	eng, err := b.engine()
	if err != nil {
		return err
	}
	err = eng.StopScreenshare(ctx, callID)
	// The sender has stopped (or the call is gone): the capture can go.
	if cm := b.existingMedia(callID); cm != nil {
		cm.setScreen(nil)
	}
	return err
}

// RemoteScreen is the decoded screen share of the peer in the legacy call
// callID, nil while the peer shares nothing (CallInfo.RemoteScreenshare).
func (b *Backend) RemoteScreen(callID string) ui.FrameSource {
	eng, err := b.engine()
	if err != nil {
		return nil
	}
	if ci, ok := eng.Call(callID); !ok || !ci.RemoteScreenshare {
		return nil
	}
	cm := b.existingMedia(callID)
	if cm == nil {
		return nil
	}
	return cm.screenFrames
}

// onScreenTrack decodes the peer's screen share into the call's screen
// slot until the track ends (the peer stopped sharing), then empties the
// slot unless a newer share took it over.
func (b *Backend) onScreenTrack(cm *callMedia, rt callengine.RemoteTrack) {
	sink, err := media.NewVideoSink(rt.Track, media.RTCPWriterFor(rt.Receiver))
	if err != nil {
		b.log.Warn("remote screen share", "err", err)
		return
	}
	if !cm.setScreenVideo(sink) {
		return // the call ended meanwhile; the sink is closed
	}
	cm.screenFrames.set(sink.Frames())
	b.log.Info("remote screen share", "call_id", rt.CallID, "stream", rt.Track.StreamID())
	<-sink.Done()
	cm.dropScreenVideo(sink)
	b.shareReleased()
}

// shareReleased tells Config.ShareReleased that a share's pipeline is
// closed.
func (b *Backend) shareReleased() {
	if b.cfg.ShareReleased != nil {
		b.cfg.ShareReleased()
	}
}

// setScreen makes src (nil: none) our screen share's source, closing the
// one it replaces; once the call's media is released it closes src.
func (m *callMedia) setScreen(src ScreenSource) {
	m.mu.Lock()
	old, closed := m.screen, m.closed
	if closed {
		old = src
	} else {
		m.screen = src
	}
	m.mu.Unlock()
	if old != nil && (closed || old != src) {
		_ = old.Close()
	}
}

// setScreenVideo makes v the sink of the peer's screen share, closing the
// one it replaces; false (having closed v) once released.
func (m *callMedia) setScreenVideo(v io.Closer) bool {
	m.mu.Lock()
	old, closed := m.screenVideo, m.closed
	if closed {
		old = v
	} else {
		m.screenVideo = v
	}
	m.mu.Unlock()
	closeAll(old)
	return !closed
}

// dropScreenVideo closes v and empties the screen slot if v is still the
// peer's screen share sink.
func (m *callMedia) dropScreenVideo(v io.Closer) {
	m.mu.Lock()
	mine := m.screenVideo == v
	if mine {
		m.screenVideo = nil
	}
	m.mu.Unlock()
	if mine {
		m.screenFrames.set(nil)
		closeAll(v)
	}
}
