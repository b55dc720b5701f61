package callengine

import (
	"fmt"
	"time"

	"github.com/pion/webrtc/v4"
)

// ---- peer connection ----

func (c *Call) newPeerConnection() error {
	pc, err := c.e.api.NewPeerConnection(c.e.rtcConfig())
	if err != nil {
		return err
	}
	c.pc = pc
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		c.post(func() { c.onLocalCandidate(pc, cand) })
	})
	pc.OnICEConnectionStateChange(func(s webrtc.ICEConnectionState) {
		c.post(func() { c.onICEState(pc, s) })
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		switch s {
		case webrtc.PeerConnectionStateConnected:
			requestKeyframes(pc) // at once, not after a trip through the call's queue
			c.post(func() { c.mediaReady(pc) })
		case webrtc.PeerConnectionStateFailed:
			c.post(func() {
				if c.pc == pc && c.iceRestarted {
					c.hangup(ReasonICEFailed)
				}
			})
		}
	})
	pc.OnNegotiationNeeded(func() { c.post(func() { c.onNegotiationNeeded(pc) }) })
	pc.OnTrack(func(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) { c.onTrack(t, r) })
	return nil
}

// requestKeyframes asks every local video track that can make a key frame
// for one (see KeyframeRequester).
func requestKeyframes(pc *webrtc.PeerConnection) {
	for _, s := range pc.GetSenders() {
		if t := s.Track(); t != nil && t.Kind() == webrtc.RTPCodecTypeVideo {
			if k, ok := t.(KeyframeRequester); ok {
				k.RequestKeyframe()
			}
		}
	}
}

// addMedia attaches our tracks; a missing track of a kind we want still
// gets a receive-only transceiver.
func (c *Call) addMedia(m Media, video bool) error {
	c.media = m
	add := func(t webrtc.TrackLocal, kind webrtc.RTPCodecType, want bool) error {
		switch {
		case t != nil:
			s, err := c.pc.AddTrack(c.gated(t))
			c.senders[userMedia(kind)] = s
			return err
		case want && c.dir == Outgoing:
			_, err := c.pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
			return err
		}
		return nil
	}
	if err := add(m.Audio, webrtc.RTPCodecTypeAudio, true); err != nil {
		return err
	}
	if !video {
		m.Video = nil
		c.media.Video = nil
	}
	return add(m.Video, webrtc.RTPCodecTypeVideo, video)
}

// ---- sending our description ----

// sendDescription sends the invite (caller) or answer (callee) once enough
// candidates are in the SDP: gathering completed or gatherWait passed.
func (c *Call) sendDescription() {
	if c.descSent || c.st == StateEnded {
		return
	}
	desc := c.pc.LocalDescription()
	if desc == nil {
		return
	}
	c.descSent = true
	c.markInSDP(desc.SDP)
	meta := c.localMetadata()
	sdp := c.wireSDP(*desc)
	switch c.dir {
	case Outgoing:
		c.send(EventInvite, &Invite{
			Base:                   c.base(),
			Offer:                  SessionDescription{Type: "offer", SDP: sdp},
			Lifetime:               c.lifetime.Milliseconds(),
			Invitee:                c.peer,
			StreamMetadata:         meta,
			UnstableStreamMetadata: meta,
		}, true)
		c.setState(StateInviteSent)
		c.inviteTimer = c.after(c.lifetime, func() {
			if c.st == StateInviteSent {
				c.hangup(ReasonInviteTimeout)
			}
		})
	case Incoming:
		c.send(EventAnswer, &Answer{
			Base:                   c.base(),
			Answer:                 SessionDescription{Type: "answer", SDP: sdp},
			StreamMetadata:         meta,
			UnstableStreamMetadata: meta,
		}, true)
		c.setState(StateConnecting)
	}
	if c.gatherDone || len(c.localPending) > 0 {
		c.flushCandidates()
	}
}

// ---- outgoing call ----

func (c *Call) startOutgoing(m Media) {
	c.setState(StateGathering)
	if err := c.newPeerConnection(); err != nil {
		c.log.Error("creating peer connection", "err", err)
		c.end(PartyLocal, ReasonUnknownError)
		return
	}
	if err := c.addMedia(m, c.video); err != nil {
		c.log.Error("adding media", "err", err)
		c.end(PartyLocal, ReasonUserMediaFailed)
		return
	}
	offer, err := c.pc.CreateOffer(nil)
	if err == nil {
		err = c.pc.SetLocalDescription(offer)
	}
	if err != nil {
		c.log.Error("creating offer", "err", err)
		c.end(PartyLocal, ReasonUnknownError)
		return
	}
	c.after(c.e.opts.gatherWait, c.sendDescription)
}

func (c *Call) onAnswer(sender string, a *Answer) {
	if c.st != StateInviteSent || c.opponentChosen {
		return
	}
	c.setRemoteMeta(a.StreamMetadata)
	err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: a.Answer.SDP})
	if err != nil {
		c.log.Warn("bad answer", "sender", sender, "err", err)
		c.hangup(ReasonUnknownError)
		return
	}
	c.remoteSet = true
	c.noteRemoteStreams(a.Answer.SDP)
	stopTimer(&c.inviteTimer)
	c.chooseOpponent(a.PartyID, a.Version)
	if a.Version != Version0 {
		c.send(EventSelectAnswer, &SelectAnswer{Base: c.base(), SelectedPartyID: a.PartyID}, false)
	}
	c.setState(StateConnecting)
	// From now on candidates go in the short batches.
	if c.batchTimer != nil && len(c.localPending) > 0 {
		c.flushCandidates()
	}
}

// ---- incoming call ----

// startIncoming prepares a peer connection from the offer and rings,
// unless the offer is unusable (then the call is dropped unseen).
func (c *Call) startIncoming(inv *Invite, remaining time.Duration) {
	c.opponentParty, c.opponentVer, c.opponentChosen = inv.PartyID, inv.Version, true
	c.setRemoteMeta(inv.StreamMetadata)
	if err := c.newPeerConnection(); err != nil {
		c.log.Error("creating peer connection", "err", err)
		c.end(PartyLocal, ReasonUnknownError)
		return
	}
	err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: inv.Offer.SDP})
	if err != nil {
		c.log.Warn("ignoring invite with unusable offer", "err", err)
		c.end(PartyLocal, ReasonUnknownError)
		return
	}
	c.remoteSet = true
	c.remoteOffer = inv.Offer.SDP
	c.noteRemoteStreams(inv.Offer.SDP)
	c.addRemoteCandidates(c.pendingRemote[c.opponentParty])
	c.pendingRemote = nil
	c.setState(StateRinging)
	c.after(remaining, func() {
		if c.st == StateRinging {
			c.end(PartyRemote, ReasonInviteTimeout)
		}
	})
}

func (c *Call) answer(video bool, m Media) error {
	if c.st != StateRinging {
		return fmt.Errorf("%w: answer in state %s", ErrWrongState, c.st)
	}
	c.video = video
	c.ci.Video = video
	c.hidden = false
	c.setState(StateAnswering)
	if err := c.addMedia(m, video); err != nil {
		c.log.Error("adding media", "err", err)
		c.hangup(ReasonUserMediaFailed)
		return fmt.Errorf("callengine: adding media: %w", err)
	}
	ans, err := c.pc.CreateAnswer(nil)
	if err == nil {
		err = c.pc.SetLocalDescription(ans)
	}
	if err != nil {
		c.hangup(ReasonUnknownError)
		return fmt.Errorf("callengine: creating answer: %w", err)
	}
	c.after(c.e.opts.gatherWait, c.sendDescription)
	return nil
}
