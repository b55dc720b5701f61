package callengine

import (
	"fmt"
	"strings"

	"github.com/pion/webrtc/v4"
)

// ---- renegotiation (perfect negotiation over m.call.negotiate) ----

func (c *Call) onNegotiationNeeded(pc *webrtc.PeerConnection) {
	if c.pc != pc || (c.st != StateConnecting && c.st != StateConnected) || !c.remoteSet {
		return
	}
	if pc.SignalingState() != webrtc.SignalingStateStable {
		return // pion asks again once stable
	}
	if err := c.makeOffer(nil); err != nil {
		c.log.Warn("renegotiation offer", "err", err)
	}
}

func (c *Call) makeOffer(opts *webrtc.OfferOptions) error {
	offer, err := c.pc.CreateOffer(opts)
	if err != nil {
		return err
	}
	if err := c.pc.SetLocalDescription(offer); err != nil {
		return err
	}
	c.resetTrickle()
	c.sendNegotiate(*c.pc.LocalDescription())
	return nil
}

func (c *Call) sendNegotiate(desc webrtc.SessionDescription) {
	meta := c.localMetadata()
	c.send(EventNegotiate, &Negotiate{
		Base:                   c.base(),
		Description:            SessionDescription{Type: desc.Type.String(), SDP: c.wireSDP(desc)},
		Lifetime:               c.lifetime.Milliseconds(),
		StreamMetadata:         meta,
		UnstableStreamMetadata: meta,
	}, false)
}

func (c *Call) onNegotiate(n *Negotiate) {
	if !c.remoteSet || c.st == StateRinging || c.st == StateAnswering {
		return
	}
	polite := c.dir == Incoming
	rolledBack := 0
	switch n.Description.Type {
	case "offer":
		if c.pc.SignalingState() != webrtc.SignalingStateStable {
			if !polite {
				c.log.Debug("ignoring colliding offer (impolite)")
				return
			}
			var err error
			if rolledBack, err = c.rollback(); err != nil {
				c.log.Warn("rollback", "err", err)
				return
			}
			c.log.Debug("rolled back our offer for the peer's (polite)")
		}
		c.setRemoteMeta(n.StreamMetadata)
		if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: inactiveAsSendonly(n.Description.SDP)}); err != nil {
			c.log.Warn("bad renegotiation offer", "err", err)
			return
		}
		c.remoteOffer = n.Description.SDP
		c.noteRemoteStreams(n.Description.SDP)
		c.noteRemoteHold(n.Description.SDP, false)
		ans, err := c.pc.CreateAnswer(nil)
		if err == nil {
			err = c.pc.SetLocalDescription(ans)
		}
		if err != nil {
			c.log.Warn("renegotiation answer", "err", err)
			return
		}
		c.resetTrickle()
		c.sendNegotiate(*c.pc.LocalDescription())
		if rolledBack > strings.Count(n.Description.SDP, "\nm=") {
			// Our dropped offer added media the peer's did not: offer it again.
			if err := c.makeOffer(nil); err != nil {
				c.log.Warn("renegotiation offer", "err", err)
			}
		}
	case "answer":
		if c.pc.SignalingState() != webrtc.SignalingStateHaveLocalOffer {
			return
		}
		c.setRemoteMeta(n.StreamMetadata)
		if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: c.answerForPion(n.Description.SDP)}); err != nil {
			c.log.Warn("bad renegotiation answer", "err", err)
			return
		}
		c.noteRemoteStreams(n.Description.SDP)
		c.noteRemoteHold(n.Description.SDP, true)
	}
	c.publish()
	if len(c.localPending) > 0 || c.gatherDone && !c.eocSent {
		c.flushCandidates()
	}
	if c.sentHold != c.ci.OnHold && c.pc.SignalingState() == webrtc.SignalingStateStable {
		// We held or resumed while an offer was on its way: say so now.
		if err := c.makeOffer(nil); err != nil {
			c.log.Warn("hold offer", "err", err)
		}
	}
}

// rollback drops the pending local offer (perfect negotiation's polite
// side) by applying an answer that accepts it unchanged (see
// rollbackAnswer). It reports how many media sections the dropped offer
// had, so a change the peer's offer does not cover can be offered again.
func (c *Call) rollback() (int, error) {
	pending, remote, local := c.pc.PendingLocalDescription(), c.pc.CurrentRemoteDescription(), c.pc.CurrentLocalDescription()
	if pending == nil || remote == nil || local == nil {
		return 0, fmt.Errorf("%w: no pending local offer to roll back", ErrWrongState)
	}
	ans, err := rollbackAnswer(pending.SDP, remote.SDP, local.SDP)
	if err != nil {
		return 0, err
	}
	if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: ans}); err != nil {
		return 0, err
	}
	return strings.Count(pending.SDP, "\nm="), nil
}
