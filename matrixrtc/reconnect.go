package matrixrtc

import (
	"context"
	"fmt"
	"time"

	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// Backoff between our own reconnection attempts.
const (
	firstRetry = 250 * time.Millisecond
	maxRetry   = 4 * time.Second
)

// lkEventKind is a LiveKit connection callback.
type lkEventKind int

const (
	lkDisconnected lkEventKind = iota + 1 // OnDisconnectedWithReason
	lkReconnecting                        // OnReconnecting: LiveKit's own resume or restart began
	lkReconnected                         // OnReconnected: it succeeded
)

// lkEvent is one LiveKit connection callback of the room of join gen.
type lkEvent struct {
	gen    int
	kind   lkEventKind
	reason lksdk.DisconnectionReason
}

// connectLiveKit joins a LiveKit room with a token.
func connectLiveKit(ctx context.Context, url, token string, cb *lksdk.RoomCallback, opts ...lksdk.ConnectOption) (*lksdk.Room, error) {
	room := lksdk.NewRoom(cb)
	if err := room.JoinWithContextAndToken(ctx, url, token, opts...); err != nil {
		return nil, err
	}
	return room, nil
}

// connectRoom gets a LiveKit token for focus (OpenID token, /sfu/get),
// connects and publishes the configured tracks and screen (nil: none).
// It touches none of the owner's state, so reconnection attempts run it
// on their own goroutine.
func (s *Session) connectRoom(ctx context.Context, gen int, focus Focus, sw *stopwatch, screen webrtc.TrackLocal) (*lksdk.Room, error) {
	creds, err := s.credentials(ctx, focus, sw)
	if err != nil {
		return nil, err
	}
	return s.connectWith(ctx, gen, creds, sw, screen)
}

// credentials gets a LiveKit URL and token for focus: an OpenID token
// from the homeserver, exchanged at the focus's token service. It touches
// none of the owner's state.
func (s *Session) credentials(ctx context.Context, focus Focus, sw *stopwatch) (Credentials, error) {
	mx := s.cfg.Matrix
	tok, err := mx.OpenIDToken(ctx)
	if err != nil {
		return Credentials{}, fmt.Errorf("matrixrtc: OpenID token: %w", err)
	}
	sw.mark("openid")
	creds, err := SFUGet(ctx, s.cfg.Discovery.Client, focus.Transport.ServiceURL, s.cfg.RoomID, tok, mx.DeviceID())
	if err != nil {
		return Credentials{}, err
	}
	sw.mark("sfu-get")
	return creds, nil
}

// connectWith connects to LiveKit with creds and publishes the configured
// tracks and screen (nil: none). It touches none of the owner's state.
func (s *Session) connectWith(ctx context.Context, gen int, creds Credentials, sw *stopwatch, screen webrtc.TrackLocal) (*lksdk.Room, error) {
	// Every key frame request the SFU sends reaches our tracks (see
	// keyframeTap); options of the config come after, and may replace it.
	// One peer connection carries both directions (LiveKit's single PC
	// mode, server 1.9+): a subscription is a renegotiation of a connection
	// that is up, not a second ICE and DTLS handshake on the way to the
	// first picture.
	tap := &keyframeTap{onRequest: func(uint32) { s.requestKeyframes("a key frame request from the SFU") }}
	opts := append([]lksdk.ConnectOption{lksdk.WithInterceptors([]interceptor.Factory{tap}), lksdk.WithIncludeDefaultInterceptors(true), lksdk.WithSinglePeerConnection()},
		s.cfg.ConnectOptions...)
	room, err := s.connect(ctx, creds.URL, creds.JWT, s.roomCallback(gen), opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: connecting to LiveKit: %w", ErrUnreachable, err)
	}
	sw.mark("livekit")
	if sif := room.SifTrailer(); len(sif) > 0 {
		sif = append([]byte(nil), sif...)
		s.sif.Store(&sif)
	}
	for _, t := range s.cfg.Tracks {
		src := livekit.TrackSource_MICROPHONE
		if t.Kind() == webrtc.RTPCodecTypeVideo {
			src = livekit.TrackSource_CAMERA
		}
		if err := s.publish(room, t, src); err != nil {
			room.Disconnect()
			return nil, err
		}
		sw.mark("publish-" + t.Kind().String())
	}
	if screen != nil {
		if err := s.publish(room, screen, livekit.TrackSource_SCREEN_SHARE); err != nil {
			room.Disconnect()
			return nil, err
		}
		sw.mark("publish-screen")
	}
	return room, nil
}

// publish publishes t in room as a track of source src, marked encrypted
// when the session's tracks are.
func (s *Session) publish(room *lksdk.Room, t webrtc.TrackLocal, src livekit.TrackSource) error {
	enc := livekit.Encryption_NONE
	if s.cfg.Encrypted {
		enc = livekit.Encryption_GCM
	}
	if _, err := room.LocalParticipant.PublishTrack(t, &lksdk.TrackPublicationOptions{Name: t.ID(), Source: src, Encryption: enc}); err != nil {
		return fmt.Errorf("matrixrtc: publishing %s: %w", t.ID(), err)
	}
	return nil
}

// roomCallback is the callbacks of the room of join gen. None blocks a
// LiveKit goroutine: connection events are queued for the owner,
// participant changes flag it, remote tracks go straight to OnRemoteTrack.
func (s *Session) roomCallback(gen int) *lksdk.RoomCallback {
	cb := lksdk.NewRoomCallback()
	s.watchParticipants(cb)
	cb.OnDisconnectedWithReason = func(reason lksdk.DisconnectionReason) {
		s.queueLiveKitEvent(lkEvent{gen: gen, kind: lkDisconnected, reason: reason})
	}
	cb.OnReconnecting = func() { s.queueLiveKitEvent(lkEvent{gen: gen, kind: lkReconnecting}) }
	cb.OnReconnected = func() {
		s.queueLiveKitEvent(lkEvent{gen: gen, kind: lkReconnected})
		s.participantsChanged()
	}
	// The debug log tells when media starts, counted from the connection
	// attempt (where the time to a call's first picture goes).
	t0 := time.Now()
	cb.OnLocalTrackSubscribed = func(pub *lksdk.LocalTrackPublication, _ *lksdk.LocalParticipant) {
		s.cfg.Log.Debug("matrixrtc: our track subscribed", "room", s.cfg.RoomID, "track", pub.Name(), "kind", pub.Kind(), "since_connect", ms(time.Since(t0)))
		// The SFU tells us when our track's first subscription is set up
		// (TrackSubscribed): its forwarding waits for a key frame, so make
		// one now rather than at its next (throttled) request.
		if pub.Kind() != lksdk.TrackKindAudio {
			s.requestKeyframes("our video is subscribed")
		}
	}
	on := s.cfg.OnRemoteTrack
	if on != nil {
		cb.OnTrackUnsubscribed = func(t *webrtc.TrackRemote, _ *lksdk.RemoteTrackPublication, _ *lksdk.RemoteParticipant) {
			s.trackEnded(t)
		}
	}
	cb.OnTrackSubscribed = func(t *webrtc.TrackRemote, pub *lksdk.RemoteTrackPublication, rp *lksdk.RemoteParticipant) {
		s.cfg.Log.Debug("matrixrtc: track subscribed", "room", s.cfg.RoomID, "identity", rp.Identity(), "kind", t.Kind().String(), "since_connect", ms(time.Since(t0)))
		// A remote video has just started (its first packet is in): its
		// publisher, new to the room or new to us, now gets our video
		// too, and its subscription may have been set up after our last
		// key frame, which the SFU asks for again only after its
		// throttle (500 ms to 1 s). Make one now: with an echo, or with
		// anyone whose own video follows ours, this is the key frame
		// that starts the picture.
		if t.Kind() != webrtc.RTPCodecTypeAudio {
			s.requestKeyframes("a remote video started")
		}
		if on == nil {
			return
		}
		rt := RemoteTrack{Identity: rp.Identity(), Track: t, RequestKeyframe: keyframeRequest(pub, rp, t),
			Screen: pub.Source() == livekit.TrackSource_SCREEN_SHARE, Ended: s.trackEnds(t)}
		if info := pub.TrackInfo(); info != nil && info.Encryption != livekit.Encryption_NONE {
			rt.Encrypted = true
		}
		if sif := s.sif.Load(); sif != nil {
			rt.SIFTrailer = *sif
		}
		on(rt)
	}
	return cb
}

// keyframeRequest asks the SFU, for us, for a key frame of remote track
// t. Not lksdk's RemoteParticipant.WritePLI alone: it writes on the
// subscriber connection, which single PC mode does not have (v2.19.0), so
// the request went nowhere. The track's receiver knows its connection.
func keyframeRequest(pub *lksdk.RemoteTrackPublication, rp *lksdk.RemoteParticipant, t *webrtc.TrackRemote) func() {
	return func() {
		if r := pub.Receiver(); r != nil {
			if tr := r.Transport(); tr != nil {
				_, _ = tr.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{SenderSSRC: uint32(t.SSRC()), MediaSSRC: uint32(t.SSRC())}})
				return
			}
		}
		rp.WritePLI(t.SSRC())
	}
}

// ms rounds d for the log.
func ms(d time.Duration) time.Duration { return d.Round(time.Millisecond) }

func (s *Session) queueLiveKitEvent(ev lkEvent) {
	s.lkMu.Lock()
	s.lkEvents = append(s.lkEvents, ev)
	s.lkMu.Unlock()
	select {
	case s.lkDirty <- struct{}{}:
	default:
	}
}

// handleLiveKitEvents (owner) acts on the queued connection events in
// the order LiveKit reported them.
func (s *Session) handleLiveKitEvents() {
	s.lkMu.Lock()
	evs := s.lkEvents
	s.lkEvents = nil
	s.lkMu.Unlock()
	for _, ev := range evs {
		if ev.gen == s.gen && s.reconnecting && ev.kind == lkDisconnected {
			s.deadGen = ev.gen // the attempt's room dropped before it was installed
			continue
		}
		if ev.gen != s.gen || !s.joined || s.room == nil {
			continue // an older room, or our own Disconnect
		}
		switch ev.kind {
		case lkReconnecting:
			// LiveKit resumes or restarts the connection itself (with
			// the token the SFU keeps refreshing). Give it half the
			// budget, then take over with a fresh token.
			if s.lkGrace == nil {
				s.lost()
				s.cfg.Log.Info("matrixrtc: LiveKit connection interrupted, LiveKit reconnects", "room", s.cfg.RoomID)
				s.lkGrace = time.NewTimer(s.cfg.ReconnectTimeout / 2)
			}
		case lkReconnected:
			if s.lkGrace != nil {
				s.lkGrace.Stop()
				s.lkGrace = nil
			}
			s.cfg.Log.Info("matrixrtc: LiveKit reconnected", "room", s.cfg.RoomID, "after", time.Since(s.lostAt).Round(time.Millisecond))
			s.lostAt = time.Time{}
		case lkDisconnected:
			s.disconnected(ev.reason)
		}
	}
}

// lost notes when the connection was lost, unless it already is.
func (s *Session) lost() {
	if s.lostAt.IsZero() {
		s.lostAt = time.Now()
	}
}

// retryable says whether a disconnection may be undone by connecting
// again: not when the server removed us, closed or deleted the room, or
// another connection took our identity. raw is the protocol's reason,
// which lksdk's coarser reason collapses (ROOM_DELETED, SERVER_SHUTDOWN).
func retryable(raw livekit.DisconnectReason, reason lksdk.DisconnectionReason) bool {
	switch raw {
	case livekit.DisconnectReason_CLIENT_INITIATED, livekit.DisconnectReason_DUPLICATE_IDENTITY,
		livekit.DisconnectReason_PARTICIPANT_REMOVED, livekit.DisconnectReason_ROOM_DELETED,
		livekit.DisconnectReason_ROOM_CLOSED, livekit.DisconnectReason_USER_REJECTED,
		livekit.DisconnectReason_USER_UNAVAILABLE:
		return false
	case livekit.DisconnectReason_UNKNOWN_REASON:
		switch reason {
		case lksdk.LeaveRequested, lksdk.DuplicateIdentity, lksdk.ParticipantRemoved, lksdk.RoomClosed,
			lksdk.RejectedByUser, lksdk.UserUnavailable:
			return false
		}
	}
	return true // SERVER_SHUTDOWN, SIGNAL_CLOSE, JOIN_FAILURE, CONNECTION_TIMEOUT, MEDIA_FAILURE, ...
}

// disconnected (owner) handles the loss of the current room: a final
// reason ends the session, any other starts our own reconnection.
func (s *Session) disconnected(reason lksdk.DisconnectionReason) {
	raw := s.room.DisconnectReason()
	s.room = nil // lksdk has cleaned it up
	s.endRemoteTracks()
	if s.lkGrace != nil {
		s.lkGrace.Stop()
		s.lkGrace = nil
	}
	s.updateParticipants()
	if !retryable(raw, reason) || s.cfg.ReconnectTimeout < 0 {
		s.cfg.Log.Info("matrixrtc: LiveKit disconnected the session", "room", s.cfg.RoomID, "reason", string(reason), "code", raw.String())
		s.end(fmt.Errorf("%w: %s (%s)", ErrDisconnected, reason, raw))
		return
	}
	s.lost()
	if time.Since(s.lostAt) >= s.cfg.ReconnectTimeout {
		s.end(fmt.Errorf("%w: no reconnection within %v (%s)", ErrDisconnected, s.cfg.ReconnectTimeout, raw))
		return
	}
	s.cfg.Log.Info("matrixrtc: LiveKit connection lost, reconnecting", "room", s.cfg.RoomID, "reason", string(reason), "code", raw.String())
	s.reconnecting, s.attempt = true, 0
	s.reconnect()
}

// liveKitGaveUp (owner): LiveKit's own reconnection took too long. Drop
// that room and reconnect ourselves with a fresh token.
func (s *Session) liveKitGaveUp() {
	if !s.joined || s.room == nil {
		return
	}
	s.cfg.Log.Info("matrixrtc: LiveKit did not reconnect, reconnecting with a new token", "room", s.cfg.RoomID)
	s.room.Disconnect()
	s.room = nil
	s.endRemoteTracks()
	s.updateParticipants()
	s.reconnecting, s.attempt = true, 0
	s.reconnect()
}

// reconnect (owner) starts one reconnection attempt on its own goroutine,
// bounded by what is left of ReconnectTimeout; its result comes back
// through reconnected.
func (s *Session) reconnect() {
	s.gen++
	gen, focus, screen := s.gen, s.focus, s.screen()
	ctx, cancel := context.WithDeadline(context.Background(), s.lostAt.Add(s.cfg.ReconnectTimeout))
	s.cancelAttempt = cancel
	s.attempts.Add(1)
	go func() {
		defer s.attempts.Done()
		room, err := s.connectRoom(ctx, gen, focus, nil, screen)
		if !s.post(func() { s.reconnected(gen, room, screen, err) }) && room != nil { //nolint:contextcheck // the owner's work outlives this attempt's context

			room.Disconnect() // the session was closed meanwhile
		}
	}()
}

// reconnected (owner) installs the room of a successful attempt (which
// published screen), or schedules the next attempt, or ends the session
// when the time is up.
func (s *Session) reconnected(gen int, room *lksdk.Room, screen webrtc.TrackLocal, err error) {
	if gen != s.gen || !s.reconnecting {
		if room != nil {
			room.Disconnect()
		}
		return
	}
	s.cancelAttempt()
	s.cancelAttempt = nil
	if err == nil && s.deadGen == gen {
		room.Disconnect()
		err = fmt.Errorf("%w: the new connection dropped at once", ErrDisconnected)
	}
	if err != nil {
		left := s.cfg.ReconnectTimeout - time.Since(s.lostAt)
		if left <= 0 {
			s.end(fmt.Errorf("%w: no reconnection within %v: %w", ErrDisconnected, s.cfg.ReconnectTimeout, err))
			return
		}
		wait := min(firstRetry<<min(s.attempt, 8), maxRetry, left)
		s.attempt++
		s.cfg.Log.Info("matrixrtc: reconnection failed, retrying", "room", s.cfg.RoomID, "attempt", s.attempt, "in", wait, "err", err)
		s.retry = time.NewTimer(wait)
		return
	}
	s.cfg.Log.Info("matrixrtc: reconnected", "room", s.cfg.RoomID, "after", time.Since(s.lostAt).Round(time.Millisecond), "attempts", s.attempt+1)
	s.room, s.reconnecting, s.lostAt = room, false, time.Time{}
	s.applyMuted()
	s.fixScreen(screen)
	s.participantsChanged()
}

// stopReconnecting (owner) stops timers and the attempt in flight.
func (s *Session) stopReconnecting() {
	for _, t := range []**time.Timer{&s.retry, &s.lkGrace} {
		if *t != nil {
			(*t).Stop()
			*t = nil
		}
	}
	if s.cancelAttempt != nil {
		s.cancelAttempt()
		s.cancelAttempt = nil
	}
	s.reconnecting, s.lostAt, s.attempt = false, time.Time{}, 0
}

// end (owner) ends a joined session that LiveKit lost: it leaves the call
// and reports err (wrapping ErrDisconnected) to OnEnded.
func (s *Session) end(err error) {
	ctx, cancel := context.WithTimeout(context.Background(), leaveTimeout)
	defer cancel()
	if lerr := s.cleanup(ctx); lerr != nil {
		s.cfg.Log.Warn("matrixrtc: leave after disconnection", "room", s.cfg.RoomID, "err", lerr)
	}
	if on := s.cfg.OnEnded; on != nil {
		go on(err)
	}
}
