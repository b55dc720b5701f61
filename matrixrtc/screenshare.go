package matrixrtc

import (
	"context"
	"errors"
	"fmt"

	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/webrtc/v4"
)

// PublishScreenshare publishes track, one video track, as our screen share
// (LiveKit TrackSource SCREEN_SHARE, beside the camera), end-to-end
// encrypted like the session's other tracks when SessionConfig.Encrypted
// is set (the track must then encrypt its frames with the same key, as
// the camera does). It stays published across reconnections until
// UnpublishScreenshare or Leave. It fails with ErrWrongState when the
// session is not joined or already shares, and ErrInvalidArgument for a
// track that is not video. It is published under a track ID of its own
// ("screenshare"), and never closed here: its owner closes it after
// UnpublishScreenshare.
func (s *Session) PublishScreenshare(ctx context.Context, track webrtc.TrackLocal) error {
	if track == nil || track.Kind() != webrtc.RTPCodecTypeVideo {
		return fmt.Errorf("%w: a screen share is one video track", ErrInvalidArgument)
	}
	// LiveKit tells publications apart by the track's ID (the cid of
	// its AddTrack request): a second VP8 track of mxcall's media has the
	// camera's ("video"), and the SFU would never confirm it.
	track = &screenTrack{TrackLocal: track}
	return s.do(ctx, func() error {
		switch {
		case !s.joined:
			return fmt.Errorf("%w: screen share before join", ErrWrongState)
		case s.screen() != nil:
			return fmt.Errorf("%w: already sharing a screen", ErrWrongState)
		}
		if s.room != nil { // else reconnecting: the next room publishes it
			if err := s.publish(s.room, track, livekit.TrackSource_SCREEN_SHARE); err != nil {
				return err
			}
		}
		s.setScreen(track)
		s.participantsChanged()
		return nil
	})
}

// UnpublishScreenshare stops our screen share: its track is unpublished,
// and the others see it go. A no-op when not sharing.
func (s *Session) UnpublishScreenshare(ctx context.Context) error {
	return s.do(ctx, func() error {
		if s.screen() == nil {
			return nil
		}
		s.setScreen(nil)
		return unpublishScreens(s.room)
	})
}

// Screensharing reports whether we publish a screen share.
func (s *Session) Screensharing(ctx context.Context) (bool, error) {
	var on bool
	err := s.do(ctx, func() error { on = s.screen() != nil; return nil })
	return on, err
}

// unpublishScreens unpublishes every screen-share track of ours in room
// (nil: none).
func unpublishScreens(room *lksdk.Room) error {
	if room == nil {
		return nil
	}
	var errs []error
	for _, pub := range room.LocalParticipant.TrackPublications() {
		if pub.Source() == livekit.TrackSource_SCREEN_SHARE {
			if err := room.LocalParticipant.UnpublishTrack(pub.SID()); err != nil {
				errs = append(errs, fmt.Errorf("matrixrtc: unpublishing the screen share: %w", err))
			}
		}
	}
	return errors.Join(errs...)
}

// fixScreen (owner) makes a room a reconnection attempt installed match
// the share wanted now: the attempt published published, and the share
// may have been stopped or started meanwhile.
func (s *Session) fixScreen(published webrtc.TrackLocal) {
	if published == s.screen() {
		return
	}
	if published != nil {
		if err := unpublishScreens(s.room); err != nil {
			s.cfg.Log.Warn("matrixrtc: screen share after reconnecting", "room", s.cfg.RoomID, "err", err)
		}
	}
	if sh := s.screen(); sh != nil {
		if err := s.publish(s.room, sh, livekit.TrackSource_SCREEN_SHARE); err != nil {
			s.cfg.Log.Warn("matrixrtc: screen share after reconnecting", "room", s.cfg.RoomID, "err", err)
			s.setScreen(nil)
		}
	}
}

// trackEnds returns the Ended channel of a newly subscribed remote track.
func (s *Session) trackEnds(t *webrtc.TrackRemote) <-chan struct{} {
	s.endsMu.Lock()
	defer s.endsMu.Unlock()
	if s.ends == nil {
		s.ends = make(map[*webrtc.TrackRemote]chan struct{})
	}
	ch := s.ends[t]
	if ch == nil {
		ch = make(chan struct{})
		s.ends[t] = ch
	}
	return ch
}

// trackEnded closes the Ended channel of a remote track LiveKit
// unsubscribed.
func (s *Session) trackEnded(t *webrtc.TrackRemote) {
	s.endsMu.Lock()
	ch := s.ends[t]
	delete(s.ends, t)
	s.endsMu.Unlock()
	if ch != nil {
		close(ch)
	}
}

// endRemoteTracks closes the Ended channels of every remote track: the
// room they came from is gone.
func (s *Session) endRemoteTracks() {
	s.endsMu.Lock()
	ends := s.ends
	s.ends = nil
	s.endsMu.Unlock()
	for _, ch := range ends {
		close(ch)
	}
}

// screenTrack publishes a track under an ID of its own, screenTrackID.
// It hides any Close method of the track, so that unpublishing leaves it
// to its owner.
type screenTrack struct{ webrtc.TrackLocal }

// screenTrackID is the track ID of our screen share.
const screenTrackID = "screenshare"

// ID implements webrtc.TrackLocal.
func (*screenTrack) ID() string { return screenTrackID }
