package callengine

import (
	"fmt"

	"github.com/pion/webrtc/v4"
)

// ---- mute, hold, tracks ----

func (c *Call) connected() error {
	if c.st != StateConnecting && c.st != StateConnected {
		return fmt.Errorf("%w: %s", ErrWrongState, c.st)
	}
	return nil
}

func (c *Call) setMuted(kind webrtc.RTPCodecType, muted bool) error {
	if c.st == StateEnded {
		return fmt.Errorf("%w: %s", ErrWrongState, c.st)
	}
	track := c.media.Audio
	if kind == webrtc.RTPCodecTypeAudio {
		c.ci.AudioMuted = muted
	} else {
		c.ci.VideoMuted, track = muted, c.media.Video
	}
	if s := c.senders[userMedia(kind)]; s != nil {
		if muted {
			track = nil
		}
		if err := s.ReplaceTrack(c.gated(track)); err != nil {
			c.log.Debug("mute: replacing track", "err", err)
		}
	}
	c.publish()
	if c.descSent {
		meta := c.localMetadata()
		c.send(EventSDPStreamMetadataChanged, &StreamMetadataChanged{
			Base: c.base(), StreamMetadata: meta, UnstableStreamMetadata: meta,
		}, false)
	}
	return nil
}

func (c *Call) mutedKind(kind webrtc.RTPCodecType) bool {
	if kind == webrtc.RTPCodecTypeAudio {
		return c.ci.AudioMuted
	}
	return c.ci.VideoMuted
}

// setHold holds the peer (our sections become sendonly, see wireSDP) or
// resumes. Our tracks stay attached; the gate keeps their packets back.
func (c *Call) setHold(hold bool) error {
	if err := c.connected(); err != nil {
		return err
	}
	if hold == c.ci.OnHold {
		return nil
	}
	c.ci.OnHold = hold
	c.updateGate()
	c.publish()
	// Nothing in pion changes, so no negotiationneeded: offer now if
	// stable, else once the exchange under way ends (onNegotiate).
	if c.pc.SignalingState() == webrtc.SignalingStateStable {
		return c.makeOffer(nil)
	}
	return nil
}

func (c *Call) replaceTrack(t webrtc.TrackLocal) error {
	if c.st == StateEnded || c.pc == nil {
		return fmt.Errorf("%w: %s", ErrWrongState, c.st)
	}
	kind := t.Kind()
	if kind == webrtc.RTPCodecTypeVideo {
		c.media.Video = t
	} else {
		c.media.Audio = t
	}
	if s := c.senders[userMedia(kind)]; s != nil {
		if c.mutedKind(kind) {
			return nil // used when unmuting
		}
		return s.ReplaceTrack(c.gated(t))
	}
	if c.st == StateRinging {
		return nil // added when answering
	}
	if kind == webrtc.RTPCodecTypeVideo {
		c.video, c.ci.Video = true, true
	}
	s, err := c.pc.AddTrack(c.gated(t))
	if err != nil {
		return fmt.Errorf("callengine: adding track: %w", err)
	}
	c.senders[userMedia(kind)] = s
	c.publish()
	return nil // negotiationneeded follows
}
