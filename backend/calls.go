package backend

import (
	"context"
	"fmt"
	"image"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/mxcall/mxcall/callengine"
	"github.com/mxcall/mxcall/media"
	"github.com/mxcall/mxcall/ui"
)

// callMedia is what one call uses: our Source, the peer's sinks and the
// speaker. Its mutex guards every field but frames (set once); the setters
// close what they replace, and after close they close what they are given,
// so nothing set late (a track arriving as the call ends) stays open. It is
// released once the engine has closed the call's peer connection (the
// Ended update comes after that), so tracks are never closed under a live
// connection.
type callMedia struct {
	frames       *frameSource
	screenFrames *frameSource // the peer's screen share (RemoteScreen)

	mu          sync.Mutex
	start       time.Time // when we placed or answered the call
	src         *media.Source
	screen      ScreenSource // our screen share while we share
	video       io.Closer    // *media.VideoSink
	screenVideo io.Closer    // *media.VideoSink of the peer's screen share
	audio       io.Closer    // *media.AudioSink
	player      io.Closer    // *media.Player
	closed      bool
}

func newCallMedia() *callMedia {
	return &callMedia{frames: newFrameSource(), screenFrames: newFrameSource()}
}

// setSource makes src the call's media source from start on, closing the
// one it replaces. It reports false (and closes src) once the call's media
// is released.
func (m *callMedia) setSource(src *media.Source, start time.Time) bool {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		_ = src.Close()
		return false
	}
	old := m.src
	m.src, m.start = src, start
	m.mu.Unlock()
	if old != nil && old != src {
		_ = old.Close()
	}
	return true
}

// dropSource closes the call's media source, if it is src.
func (m *callMedia) dropSource(src *media.Source) {
	m.mu.Lock()
	mine := m.src == src
	if mine {
		m.src = nil
	}
	m.mu.Unlock()
	if mine && src != nil {
		_ = src.Close()
	}
}

// source returns the call's media source (nil before it has one).
func (m *callMedia) source() *media.Source {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.src
}

// setVideo makes v the remote video sink, closing the one it replaces (pion
// hands over a new track after the peer holds and resumes, say). It returns
// when the call started, and false (having closed v) once released.
func (m *callMedia) setVideo(v io.Closer) (time.Time, bool) {
	m.mu.Lock()
	old, start, closed := m.video, m.start, m.closed
	if closed {
		old = v
	} else {
		m.video = v
	}
	m.mu.Unlock()
	closeAll(old)
	return start, !closed
}

// setAudio makes a and p the remote audio sink and its speaker, closing
// the ones they replace (so no playback device stays open); false (having
// closed both) once released.
func (m *callMedia) setAudio(a, p io.Closer) bool {
	m.mu.Lock()
	oldA, oldP, closed := m.audio, m.player, m.closed
	if closed {
		oldA, oldP = a, p
	} else {
		m.audio, m.player = a, p
	}
	m.mu.Unlock()
	closeAll(oldA, oldP)
	return !closed
}

// close releases everything, sinks before the speaker and the source,
// and empties the frame source: the UI may hold it a while longer (an
// ended call stays on screen), and it must not keep the decoder's slot and
// its pictures alive. Idempotent.
func (m *callMedia) close() {
	m.mu.Lock()
	video, screenVideo, audio, player, src, screen := m.video, m.screenVideo, m.audio, m.player, m.src, m.screen
	m.video, m.screenVideo, m.audio, m.player, m.src, m.screen = nil, nil, nil, nil, nil, nil
	m.closed = true
	m.mu.Unlock()
	closeAll(video, screenVideo, audio, player)
	if src != nil {
		_ = src.Close()
	}
	if screen != nil {
		_ = screen.Close()
	}
	m.frames.set(nil)
	m.screenFrames.set(nil)
}

// closeAll closes each non-nil closer.
func closeAll(cs ...io.Closer) {
	for _, c := range cs {
		if c != nil {
			_ = c.Close()
		}
	}
}

func (b *Backend) newSource(video bool) (*media.Source, error) {
	b.mu.Lock()
	s := b.settings
	b.mu.Unlock()
	opts := []media.Option{media.WithLogger(b.log), media.WithPreview(), media.WithMicrophone(s.Microphone)}
	if video {
		opts = append(opts, media.WithCamera(s.Camera))
		if s.Resolution.Width > 0 {
			opts = append(opts, media.WithVideoSize(s.Resolution.Width, s.Resolution.Height))
		}
	}
	src, err := media.NewSource(append(opts, b.cfg.MediaOptions...)...)
	if err == nil && video {
		// The camera and the encoder start now, not when the connection
		// is up: the self-view shows while the call rings, and the first
		// frame sent is a key frame the moment media can flow (on a first
		// call, opening the camera and the encoder then took 190 ms).
		src.SetPreviewing(true)
	}
	return src, err
}

func tracks(src *media.Source, video bool) callengine.Media {
	m := callengine.Media{Audio: src.Audio()}
	if video {
		m.Video = src.Video()
	}
	return m
}

// PlaceCall captures media and calls peerUserID in roomID: a MatrixRTC
// call that rings when the settings allow it, the room is not encrypted
// and the homeserver (or the configuration) offers a focus; else a legacy
// (m.call.invite) call.
func (b *Backend) PlaceCall(ctx context.Context, roomID, peerUserID string, video bool) (string, error) {
	eng, err := b.engine()
	if err != nil {
		return "", err
	}
	if peerUserID == "" {
		if peerUserID, err = b.mc.CallPeer(roomID); err != nil {
			return "", err
		}
	}
	if id, ok, err := b.placeRTC(ctx, roomID, peerUserID, video); ok || err != nil {
		return id, err
	}
	start := time.Now()
	src, err := b.newSource(video)
	if err != nil {
		return "", fmt.Errorf("backend: camera/microphone: %w", err)
	}
	id, err := eng.PlaceCall(ctx, roomID, peerUserID, video, tracks(src, video))
	if err != nil {
		_ = src.Close()
		return "", err
	}
	cm := newCallMedia()
	cm.setSource(src, start)
	b.mu.Lock()
	b.calls[id] = cm
	b.mu.Unlock()
	if ci, ok := eng.Call(id); ok && ci.State == callengine.StateEnded {
		b.releaseMedia(id) // it ended before we registered its media
	}
	return id, nil
}

// Answer captures media and answers callID (a MatrixRTC ring: joins its
// call, unless the room is encrypted).
func (b *Backend) Answer(ctx context.Context, callID string, video bool) error {
	eng, err := b.engine()
	if err != nil {
		return err
	}
	if b.rtc.has(callID) {
		return b.rtc.answer(ctx, callID, video)
	}
	src, err := b.newSource(video)
	if err != nil {
		_ = eng.HangupWithReason(ctx, callID, callengine.ReasonUserMediaFailed)
		return fmt.Errorf("backend: camera/microphone: %w", err)
	}
	cm := b.media(callID)
	if !cm.setSource(src, time.Now()) {
		return fmt.Errorf("backend: answer %s: %w", callID, callengine.ErrNoSuchCall)
	}
	if err := eng.Answer(ctx, callID, video, tracks(src, video)); err != nil {
		cm.dropSource(src)
		if ci, ok := eng.Call(callID); !ok || ci.State == callengine.StateEnded {
			b.releaseMedia(callID) // its Ended update may have come and gone
		}
		return err
	}
	return nil
}

// Reject declines callID.
func (b *Backend) Reject(ctx context.Context, callID string) error {
	eng, err := b.engine()
	if err != nil {
		return err
	}
	if b.rtc.has(callID) {
		return b.rtc.reject(ctx, callID)
	}
	return eng.Reject(ctx, callID)
}

// Hangup ends callID.
func (b *Backend) Hangup(ctx context.Context, callID string) error {
	eng, err := b.engine()
	if err != nil {
		return err
	}
	if b.rtc.has(callID) {
		return b.rtc.hangup(ctx, callID)
	}
	return eng.Hangup(ctx, callID)
}

// SetAudioMuted mutes our microphone (and stops reading it).
func (b *Backend) SetAudioMuted(ctx context.Context, callID string, muted bool) error {
	eng, err := b.engine()
	if err != nil {
		return err
	}
	if b.rtc.has(callID) {
		return b.rtc.setMuted(ctx, callID, false, muted)
	}
	if src := b.source(callID); src != nil {
		src.SetAudioMuted(muted)
	}
	return eng.SetAudioMuted(ctx, callID, muted)
}

// SetVideoMuted turns our camera off (released at once) or on.
func (b *Backend) SetVideoMuted(ctx context.Context, callID string, muted bool) error {
	eng, err := b.engine()
	if err != nil {
		return err
	}
	if b.rtc.has(callID) {
		return b.rtc.setMuted(ctx, callID, true, muted)
	}
	if src := b.source(callID); src != nil {
		src.SetVideoMuted(muted)
	}
	return eng.SetVideoMuted(ctx, callID, muted)
}

// SetHold puts callID on hold or resumes it.
func (b *Backend) SetHold(ctx context.Context, callID string, hold bool) error {
	eng, err := b.engine()
	if err != nil {
		return err
	}
	if b.rtc.has(callID) {
		return fmt.Errorf("%w: hold", ErrNotSupported)
	}
	return eng.SetHold(ctx, callID, hold)
}

// SubscribeCalls sends every call update until cancel.
func (b *Backend) SubscribeCalls(fn func(callengine.CallInfo)) (cancel func()) {
	return b.callSubs.add(fn)
}

// onCallUpdate runs on the engine's update goroutine.
func (b *Backend) onCallUpdate(ci callengine.CallInfo) {
	switch ci.State {
	case callengine.StateEnded:
		go b.releaseMedia(ci.ID) // the peer connection is already closed
	case callengine.StateConnected:
		// Frames encoded before SRTP was ready were dropped: start the
		// peer's picture with a fresh keyframe instead of waiting for its PLI.
		if src := b.source(ci.ID); src != nil {
			src.RequestKeyframe()
		}
	}
	b.callSubs.send(ci)
}

// media returns (creating) the media record of a call.
func (b *Backend) media(callID string) *callMedia {
	b.mu.Lock()
	defer b.mu.Unlock()
	cm := b.calls[callID]
	if cm == nil {
		cm = newCallMedia()
		b.calls[callID] = cm
	}
	return cm
}

func (b *Backend) existingMedia(callID string) *callMedia {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls[callID]
}

// source returns the media source of a call, nil if it has none.
func (b *Backend) source(callID string) *media.Source {
	if cm := b.existingMedia(callID); cm != nil {
		return cm.source()
	}
	return nil
}

func (b *Backend) releaseMedia(callID string) {
	b.mu.Lock()
	cm := b.calls[callID]
	delete(b.calls, callID)
	b.mu.Unlock()
	if cm != nil {
		cm.close()
	}
}

func (b *Backend) releaseAllMedia() {
	b.mu.Lock()
	calls := b.calls
	b.calls = make(map[string]*callMedia)
	b.mu.Unlock()
	for _, cm := range calls {
		cm.close()
	}
}

// onTrack decodes a remote track: video into the call's frame slot (a
// screen share's into its own, see onScreenTrack), audio to the chosen
// speaker. It runs on the track's own goroutine.
func (b *Backend) onTrack(rt callengine.RemoteTrack) {
	cm := b.existingMedia(rt.CallID)
	if cm == nil {
		return
	}
	if rt.Purpose == callengine.PurposeScreenshare {
		if rt.Track.Kind() == webrtc.RTPCodecTypeVideo {
			b.onScreenTrack(cm, rt)
		}
		return
	}
	if rt.Purpose != callengine.PurposeUserMedia {
		return
	}
	switch rt.Track.Kind() {
	case webrtc.RTPCodecTypeVideo:
		sink, err := media.NewVideoSink(rt.Track, media.RTCPWriterFor(rt.Receiver))
		if err != nil {
			b.log.Warn("remote video", "err", err)
			return
		}
		start, ok := cm.setVideo(sink)
		if !ok {
			return // the call ended meanwhile; setVideo closed the sink
		}
		cm.frames.set(sink.Frames())
		select {
		case <-sink.Frames().Updated():
			logFirstFrame(b.log.With("call_id", rt.CallID), sink, start)
		case <-sink.Done():
		}
	case webrtc.RTPCodecTypeAudio:
		b.mu.Lock()
		speaker := b.settings.Speaker
		b.mu.Unlock()
		player, err := media.NewPlayer(speaker)
		if err != nil {
			player, err = media.NewPlayer("")
		}
		if err != nil {
			b.log.Warn("speaker", "err", err)
			return
		}
		sink, err := media.NewAudioSink(rt.Track, player)
		if err != nil {
			_ = player.Close()
			b.log.Warn("remote audio", "err", err)
			return
		}
		cm.setAudio(sink, player)
	}
}

// logFirstFrame logs a remote video's first picture: when, after the
// call's start, and (at debug level) where the time went since its sink
// started.
func logFirstFrame(log *slog.Logger, sink *media.VideoSink, start time.Time) {
	log.Info("first remote video frame", "since_start", time.Since(start).Round(time.Millisecond))
	if !log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	st := sink.Stats()
	since := func(t time.Time) time.Duration { return t.Sub(st.Start).Round(100 * time.Microsecond) }
	log.Debug("first remote video frame: steps since the sink started",
		"first_packet", since(st.FirstPacket), "first_keyframe", since(st.FirstKeyframe),
		"first_frame", since(st.FirstFrame), "skipped", st.Skipped, "plis", st.PLIs)
}

// ---- Media ----

// Devices lists devices of one kind.
func (b *Backend) Devices(_ context.Context, kind ui.DeviceKind) ([]ui.Device, error) {
	want := map[ui.DeviceKind]media.DeviceKind{
		ui.Camera: media.DeviceCamera, ui.Microphone: media.DeviceMicrophone, ui.Speaker: media.DeviceSpeaker,
	}[kind]
	var out []ui.Device
	for _, d := range media.ListDevices() {
		if d.Kind == want {
			out = append(out, ui.Device{ID: d.ID, Label: d.Label})
		}
	}
	return out, nil
}

// Resolutions lists the capture sizes offered.
func (b *Backend) Resolutions() []ui.Resolution {
	return []ui.Resolution{{Width: 640, Height: 480}, {Width: 1280, Height: 720}}
}

// Settings returns the current device choices.
func (b *Backend) Settings() ui.Settings {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.settings
}

// ApplySettings stores device choices; a running call switches camera and
// microphone without renegotiation.
func (b *Backend) ApplySettings(_ context.Context, s ui.Settings) error {
	b.mu.Lock()
	old := b.settings
	b.settings = s
	cms := make([]*callMedia, 0, len(b.calls))
	for _, cm := range b.calls {
		cms = append(cms, cm)
	}
	b.mu.Unlock()
	var srcs []*media.Source
	for _, c := range b.rtc.all() {
		if src := c.media.source(); src != nil {
			srcs = append(srcs, src)
		}
	}
	for _, cm := range cms {
		if src := cm.source(); src != nil {
			srcs = append(srcs, src)
		}
	}
	for _, src := range srcs {
		if s.Camera != old.Camera {
			if _, err := src.SelectCamera(s.Camera); err != nil {
				return err
			}
		}
		if s.Microphone != old.Microphone {
			if _, err := src.SelectMicrophone(s.Microphone); err != nil {
				return err
			}
		}
	}
	return nil
}

// RemoteVideo is the decoded remote video of callID.
func (b *Backend) RemoteVideo(callID string) ui.FrameSource {
	if c := b.rtc.get(callID); c != nil {
		return c.media.frames
	}
	cm := b.existingMedia(callID)
	if cm == nil {
		return nil
	}
	return cm.frames
}

// LocalVideo is our own picture: the active call's, else the preview's.
func (b *Backend) LocalVideo() ui.FrameSource {
	if src := b.rtc.anySource(); src != nil {
		return slotSource(src.Preview())
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, cm := range b.calls {
		if src := cm.source(); src != nil {
			return slotSource(src.Preview())
		}
	}
	if b.preview != nil {
		return slotSource(b.preview.Preview())
	}
	return nil
}

// StartPreview runs the camera for the settings screen until stop.
func (b *Backend) StartPreview(_ context.Context) (func(), error) {
	src, err := b.newSource(true)
	if err != nil {
		return nil, err
	}
	src.SetPreviewing(true)
	b.setPreview(src)
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			if b.preview == src {
				b.preview = nil
			}
			b.mu.Unlock()
			_ = src.Close() // releases the camera
		})
	}, nil
}

// setPreview makes src (nil for none) the settings screen's camera
// preview and closes the one it replaces.
func (b *Backend) setPreview(src *media.Source) {
	b.mu.Lock()
	old := b.preview
	b.preview = src
	b.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
}

// ---- frames ----

// frameSource adapts the media package's FrameSlot (filled by the call's
// video sink once its track arrives) to ui.FrameSource.
type frameSource struct {
	mu   sync.Mutex
	slot *media.FrameSlot
}

func newFrameSource() *frameSource { return &frameSource{} }

func (f *frameSource) set(s *media.FrameSlot) {
	f.mu.Lock()
	f.slot = s
	f.mu.Unlock()
}

// FrameInto copies the newest frame into dst.
func (f *frameSource) FrameInto(dst *image.RGBA, after uint64) (*image.RGBA, uint64, bool) {
	f.mu.Lock()
	s := f.slot
	f.mu.Unlock()
	return slotSource(s).FrameInto(dst, after)
}

// FrameFit is FrameInto with the frame shrunk (in YUV) to fit maxW×maxH.
func (f *frameSource) FrameFit(dst *image.RGBA, after uint64, maxW, maxH int) (*image.RGBA, uint64, bool) {
	f.mu.Lock()
	s := f.slot
	f.mu.Unlock()
	return slotAdapter{s}.FrameFit(dst, after, maxW, maxH)
}

type slotAdapter struct{ s *media.FrameSlot }

// FrameFit converts the slot's newest frame, when it is newer, at the
// size it is shown (see media.FrameSlot.FrameFit).
func (a slotAdapter) FrameFit(dst *image.RGBA, after uint64, maxW, maxH int) (*image.RGBA, uint64, bool) {
	if a.s == nil {
		return dst, after, false
	}
	return a.s.FrameFit(dst, after, maxW, maxH)
}

func slotSource(s *media.FrameSlot) ui.FitFrameSource { return slotAdapter{s} }

// FrameInto converts the slot's newest frame into dst when it is newer.
func (a slotAdapter) FrameInto(dst *image.RGBA, after uint64) (*image.RGBA, uint64, bool) {
	return a.FrameFit(dst, after, 0, 0)
}
