package callengine

// ---- remote events ----

func (c *Call) onEvent(sender string, content Content) {
	if c.st == StateEnded {
		return
	}
	party := content.base().PartyID
	if c.dir == Incoming {
		c.onEventAsCallee(sender, party, content)
		return
	}
	if sender != c.peer {
		return
	}
	fromOpponent := c.opponentChosen && party == c.opponentParty
	switch v := content.(type) {
	case *Answer:
		c.onAnswer(sender, v)
	case *Candidates:
		c.onRemoteCandidates(party, v.Candidates)
	case *Reject:
		if !c.opponentChosen {
			c.end(PartyRemote, ReasonRejected)
		}
	case *Hangup:
		if !c.opponentChosen || fromOpponent {
			c.end(PartyRemote, hangupReason(v.Reason))
		}
	case *Negotiate:
		if fromOpponent {
			c.onNegotiate(v)
		}
	case *StreamMetadataChanged:
		if fromOpponent {
			c.setRemoteMeta(v.StreamMetadata)
			c.publish()
		}
	}
}

func (c *Call) onEventAsCallee(sender, party string, content Content) {
	fromCaller := sender == c.peer && party == c.opponentParty
	if !fromCaller {
		// Another device of ours answered or declined.
		if sender == c.e.userID && party != c.e.partyID {
			switch content.(type) {
			case *Answer, *Reject:
				if c.st == StateRinging {
					c.end(PartyRemote, ReasonAnsweredElsewhere)
				}
			}
		}
		return
	}
	switch v := content.(type) {
	case *Candidates:
		c.onRemoteCandidates(party, v.Candidates)
	case *Hangup:
		c.end(PartyRemote, hangupReason(v.Reason))
	case *SelectAnswer:
		if v.SelectedPartyID != c.e.partyID {
			c.end(PartyRemote, ReasonAnsweredElsewhere)
		}
	case *Negotiate:
		c.onNegotiate(v)
	case *StreamMetadataChanged:
		c.setRemoteMeta(v.StreamMetadata)
		c.publish()
	}
}
