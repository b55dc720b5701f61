package callengine

// end moves the call to Ended, closes the peer connection and stops timers.
func (c *Call) end(by Party, reason EndReason) {
	if c.st == StateEnded {
		return
	}
	for _, t := range c.timers {
		t.Stop()
	}
	if c.pc != nil {
		// Close the peer connection before anyone closes the tracks.
		if err := c.pc.Close(); err != nil {
			c.log.Debug("closing peer connection", "err", err)
		}
	}
	c.remote.end()
	c.ci.EndedBy, c.ci.EndReason = by, reason
	c.endTime.Store(c.e.opts.now().UnixNano())
	c.log.Info("call ended", "by", by, "reason", reason)
	if !CanTransition(c.st, StateEnded) {
		c.st = StateEnded // Unknown → Ended: never shown
		c.ci.State = StateEnded
		c.info.Store(&c.ci)
		return
	}
	c.setState(StateEnded)
}

func (c *Call) reject() {
	switch {
	case c.st != StateRinging:
		c.hangup(ReasonUserHangup)
		return
	case c.opponentVer == Version0:
		c.send(EventHangup, &Hangup{Base: c.base(), Reason: ReasonUserHangup}, false)
	default:
		c.send(EventReject, &Reject{Base: c.base()}, false)
	}
	c.end(PartyLocal, ReasonRejected)
}

// hangup ends the call from our side, telling the peer when it knows of it.
func (c *Call) hangup(reason EndReason) {
	switch c.st {
	case StateEnded:
		return
	case StateRinging:
		if reason == ReasonUserHangup {
			c.reject()
			return
		}
	case StateGathering, StateUnknown:
		// Nothing was sent yet: nobody to tell.
		c.end(PartyLocal, reason)
		return
	}
	wire := reason
	switch reason {
	case ReasonSignallingFailed, ReasonReplaced:
		wire = ReasonUnknownError
		if reason == ReasonReplaced {
			wire = ReasonUserHangup
		}
	}
	c.send(EventHangup, &Hangup{Base: c.base(), Reason: wire}, false)
	c.end(PartyLocal, reason)
}

func hangupReason(r EndReason) EndReason {
	switch r {
	case ReasonICEFailed, ReasonICETimeout, ReasonInviteTimeout, ReasonUserHangup,
		ReasonUserMediaFailed, ReasonUserBusy, ReasonUnknownError:
		return r
	case "":
		return ReasonUserHangup
	}
	return ReasonUnknownError
}
