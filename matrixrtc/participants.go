package matrixrtc

import (
	"cmp"
	"slices"
	"strings"

	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
)

// ParseIdentity splits a LiveKit identity of the "@user:server:DEVICE"
// form (what /sfu/get hands out) into the user ID and the device ID. The
// user ID itself contains a colon (and may carry a port), so the split is
// on the last colon. Other identities (the hashed ones of /get_token, or
// anything malformed) give "", "".
func ParseIdentity(identity string) (userID, deviceID string) {
	i := strings.LastIndexByte(identity, ':')
	if !strings.HasPrefix(identity, "@") || i < 0 || i == len(identity)-1 {
		return "", ""
	}
	user := identity[:i]
	// The user ID needs a localpart and a server name: "@u:s".
	if j := strings.IndexByte(user, ':'); j < 2 || j == len(user)-1 {
		return "", ""
	}
	return user, identity[i+1:]
}

// participantsOf is the sorted list of room's remote participants now.
func participantsOf(room *lksdk.Room) []Participant {
	if room == nil {
		return nil
	}
	rps := room.GetRemoteParticipants()
	out := make([]Participant, 0, len(rps))
	for _, rp := range rps {
		p := Participant{Identity: rp.Identity(), Name: rp.Name(), AudioMuted: true, VideoMuted: true, Speaking: rp.IsSpeaking()}
		p.UserID, p.DeviceID = ParseIdentity(p.Identity)
		for _, pub := range rp.TrackPublications() {
			switch {
			case pub.IsMuted():
			case pub.Source() == livekit.TrackSource_SCREEN_SHARE:
				p.Screensharing = true
			case pub.Kind() == lksdk.TrackKindAudio:
				p.AudioMuted = false
			case pub.Kind() == lksdk.TrackKindVideo:
				p.VideoMuted = false
			}
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b Participant) int { return cmp.Compare(a.Identity, b.Identity) })
	return out
}

// participantsChanged tells the owner goroutine to look at the room's
// participants again. LiveKit callbacks call it: it never blocks, and
// several calls before the owner looks collapse into one.
func (s *Session) participantsChanged() {
	select {
	case s.partsDirty <- struct{}{}:
	default:
	}
}

// updateParticipants (owner goroutine) rebuilds the participant list from
// the current room and hands it to the notifier when it changed.
func (s *Session) updateParticipants() {
	parts := participantsOf(s.room)
	if slices.Equal(parts, s.parts) {
		return
	}
	s.parts = parts
	if s.partsBox == nil {
		return
	}
	// Only this goroutine sends to the 1-slot mailbox: drop an
	// undelivered older list, then put the latest in.
	select {
	case <-s.partsBox:
	default:
	}
	s.partsBox <- slices.Clone(parts)
}

// notifyParticipants delivers the latest participant lists to
// OnParticipants, one call at a time, until the session has stopped (the
// last list, if undelivered, is delivered first).
func (s *Session) notifyParticipants() {
	defer close(s.notified)
	on := s.cfg.OnParticipants
	for {
		select {
		case parts := <-s.partsBox:
			on(parts)
		case <-s.done:
			select {
			case parts := <-s.partsBox:
				on(parts)
			default:
			}
			return
		}
	}
}

// watchParticipants sets the callbacks of cb that change the participant
// list.
func (s *Session) watchParticipants(cb *lksdk.RoomCallback) {
	changed := func() { s.participantsChanged() }
	cb.OnParticipantConnected = func(*lksdk.RemoteParticipant) { changed() }
	cb.OnParticipantDisconnected = func(*lksdk.RemoteParticipant) { changed() }
	cb.OnTrackPublished = func(*lksdk.RemoteTrackPublication, *lksdk.RemoteParticipant) { changed() }
	cb.OnTrackUnpublished = func(*lksdk.RemoteTrackPublication, *lksdk.RemoteParticipant) { changed() }
	cb.OnTrackMuted = func(lksdk.TrackPublication, lksdk.Participant) { changed() }
	cb.OnTrackUnmuted = func(lksdk.TrackPublication, lksdk.Participant) { changed() }
	cb.OnActiveSpeakersChanged = func([]lksdk.Participant) { changed() }
	cb.OnIsSpeakingChanged = func(lksdk.Participant) { changed() }
}
