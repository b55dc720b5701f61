package callengine

import "errors"

// ---- glare ----

// onGlare runs on our outgoing call's loop when the peer's invite crossed
// ours in the same room (spec: "Glare").
func (c *Call) onGlare(theirs *Call) {
	// Read on our loop: once ours ended, its loop lets go of its media.
	video, m := c.video, c.media
	switch {
	case c.st == StateGathering:
		// Ours was not sent: drop it, take theirs with our media.
		c.end(PartyLocal, ReasonReplaced)
		theirs.post(func() { theirs.autoAnswer(video, m) })
	case c.st == StateInviteSent && theirs.id < c.id:
		c.hangup(ReasonReplaced)
		theirs.post(func() { theirs.autoAnswer(video, m) })
	default:
		// Ours wins (lesser call_id) or is already answered: the peer
		// drops theirs when it sees ours.
		theirs.post(func() { theirs.end(PartyLocal, ReasonReplaced) })
	}
}

func (c *Call) autoAnswer(video bool, m Media) {
	if c.st != StateRinging {
		// Not ready (e.g. the offer was unusable): nothing to answer.
		if c.st != StateEnded {
			c.end(PartyLocal, ReasonReplaced)
		}
		return
	}
	c.log.Info("glare: answering the peer's call")
	if err := c.answer(video, m); err != nil && !errors.Is(err, ErrWrongState) {
		c.log.Warn("glare answer", "err", err)
	}
}
