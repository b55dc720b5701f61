package callengine

import (
	"fmt"
	"time"

	"github.com/pion/webrtc/v4"
)

// ---- ICE ----

// mediaReady moves a connecting call to connected once ICE is connected
// and DTLS is done (the peer connection is connected), and otherwise
// publishes what changed. Before DTLS is done SRTP drops what is sent, so
// "connected" means media can flow: a keyframe asked for then arrives.
func (c *Call) mediaReady(pc *webrtc.PeerConnection) {
	if c.pc != pc || c.st == StateEnded {
		return
	}
	if c.st == StateConnecting && pc.ConnectionState() == webrtc.PeerConnectionStateConnected {
		c.setState(StateConnected)
		return
	}
	c.publish()
}

func (c *Call) onICEState(pc *webrtc.PeerConnection, s webrtc.ICEConnectionState) {
	if c.pc != pc || c.st == StateEnded {
		return
	}
	c.log.Debug("ice state", "state", s)
	switch s {
	case webrtc.ICEConnectionStateConnected, webrtc.ICEConnectionStateCompleted:
		stopTimer(&c.restartTimer)
		stopTimer(&c.iceDeadline)
		c.iceRestarted = false
		c.ci.Relay = c.selectedPairIsRelay()
		c.mediaReady(pc)
	case webrtc.ICEConnectionStateChecking:
		if c.st == StateConnected && c.iceRestarted {
			// An ICE restart is being checked: show it, and give up after
			// the same wait as for a lost connection.
			c.setState(StateConnecting)
			if c.iceDeadline == nil {
				c.iceDeadline = c.after(c.e.opts.iceDisconnectWait, func() { c.hangup(ReasonICETimeout) })
			}
		}
	case webrtc.ICEConnectionStateDisconnected:
		if c.st == StateConnected {
			c.setState(StateConnecting)
		}
		c.scheduleRestart()
		if c.iceDeadline == nil {
			c.iceDeadline = c.after(c.e.opts.iceDisconnectWait, func() { c.hangup(ReasonICETimeout) })
		}
	case webrtc.ICEConnectionStateClosed:
		// We close the peer connection only when the call ends (see end);
		// pion closes it when the peer's DTLS says goodbye: the peer has
		// left, and no ICE restart can bring it back. Its hangup may still
		// be on the way through the homeserver, so wait a moment for it.
		if c.peerGone == nil {
			c.log.Info("peer closed the connection")
			c.peerGone = c.after(peerGoneGrace, func() { c.hangup(ReasonICEFailed) })
		}
	case webrtc.ICEConnectionStateFailed:
		if c.iceRestarted || !c.remoteSet {
			c.hangup(ReasonICEFailed)
			return
		}
		if c.dir == Incoming {
			c.scheduleRestart() // the caller restarts first; see scheduleRestart
			return
		}
		if err := c.restartICE(); err != nil {
			c.hangup(ReasonICEFailed)
		}
	}
}

// peerGoneGrace is how long a call whose peer closed the connection waits
// for the peer's hangup before ending with ice_failed.
const peerGoneGrace = 3 * time.Second

// scheduleRestart arranges an ICE restart unless ICE recovers first. Both
// sides notice a dead path at about the same moment; crossing restart
// offers are resolved by perfect negotiation (see rollback), but that
// costs a round trip. The caller (impolite) therefore restarts first; the
// callee waits three times as long and steps in only if ICE is still
// disconnected or failed, not while the caller's restart is being checked.
func (c *Call) scheduleRestart() {
	if c.restartTimer != nil {
		return
	}
	delay := c.e.opts.iceRestartDelay
	if c.dir == Incoming {
		delay *= 3
	}
	c.restartTimer = c.after(delay, func() {
		c.restartTimer = nil
		switch c.pc.ICEConnectionState() {
		case webrtc.ICEConnectionStateDisconnected, webrtc.ICEConnectionStateFailed:
			if err := c.restartICE(); err != nil && c.pc.ICEConnectionState() == webrtc.ICEConnectionStateFailed {
				c.hangup(ReasonICEFailed)
			}
		}
	})
}

func (c *Call) refreshICEServers() {
	if c.pc == nil || c.st == StateEnded {
		return
	}
	cfg := c.pc.GetConfiguration()
	cfg.ICEServers = c.e.rtcConfig().ICEServers
	if err := c.pc.SetConfiguration(cfg); err != nil {
		c.log.Debug("updating ICE servers", "err", err)
	}
}

func (c *Call) selectedPairIsRelay() bool {
	sctp := c.pc.SCTP()
	if sctp == nil || sctp.Transport() == nil {
		return false
	}
	pair, err := sctp.Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil {
		return false
	}
	return pair.Local.Typ == webrtc.ICECandidateTypeRelay || pair.Remote.Typ == webrtc.ICECandidateTypeRelay
}

// restartICE renegotiates with fresh ICE credentials. The impolite side
// (the caller) offers; the callee asks for it by offering too, which
// perfect negotiation resolves.
func (c *Call) restartICE() error {
	if c.st != StateConnecting && c.st != StateConnected {
		return fmt.Errorf("%w: ICE restart in state %s", ErrWrongState, c.st)
	}
	if c.pc.SignalingState() != webrtc.SignalingStateStable {
		return fmt.Errorf("%w: ICE restart while negotiating", ErrWrongState)
	}
	c.iceRestarted = true
	c.log.Info("restarting ICE")
	return c.makeOffer(&webrtc.OfferOptions{ICERestart: true})
}
