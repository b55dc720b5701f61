package matrixrtc

import (
	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/webrtc/v4"
)

// SetMuted says whether our microphone (kind audio) or camera (video) is
// muted, as the LiveKit mute of that track, so the others' apps (Element
// Call, mxcall) show it; the media itself is silenced by its source. It
// does not wait (a join may be under way): the session sets the mute on
// its room as soon as it can, and again on the room of every later join
// or reconnection.
func (s *Session) SetMuted(kind webrtc.RTPCodecType, muted bool) error {
	switch kind {
	case webrtc.RTPCodecTypeAudio:
		s.audioMuted.Store(muted)
	case webrtc.RTPCodecTypeVideo:
		s.videoMuted.Store(muted)
	default:
		return ErrInvalidArgument
	}
	select {
	case <-s.quit:
		return ErrClosed
	default:
	}
	select {
	case s.muteDirty <- struct{}{}:
	default: // the owner has yet to see an earlier change: it reads both
	}
	return nil
}

// applyMuted (owner) sets our tracks' LiveKit mutes on the current room.
func (s *Session) applyMuted() {
	if s.room == nil {
		return
	}
	for src, muted := range map[livekit.TrackSource]bool{
		livekit.TrackSource_MICROPHONE: s.audioMuted.Load(),
		livekit.TrackSource_CAMERA:     s.videoMuted.Load(),
	} {
		if pub, ok := s.room.LocalParticipant.GetTrackPublication(src).(*lksdk.LocalTrackPublication); ok && pub != nil {
			pub.SetMuted(muted) // sends only a change
		}
	}
}
