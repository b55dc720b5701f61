package callengine

import (
	"strings"

	"github.com/pion/webrtc/v4"
)

// ---- candidates ----

func (c *Call) onLocalCandidate(pc *webrtc.PeerConnection, cand *webrtc.ICECandidate) {
	if c.pc != pc || c.st == StateEnded {
		return
	}
	if cand == nil {
		c.gatherDone = true
		if c.descSent {
			c.flushCandidates()
		} else if c.st == StateGathering || c.st == StateAnswering {
			c.sendDescription()
		}
		return
	}
	init := cand.ToJSON()
	if c.inSDP[init.Candidate] {
		return
	}
	c.localPending = append(c.localPending, Candidate{
		Candidate: init.Candidate, SDPMid: init.SDPMid, SDPMLineIndex: init.SDPMLineIndex,
	})
	if c.descSent && c.batchTimer == nil {
		delay := c.e.opts.calleeBatch
		if c.dir == Outgoing && !c.remoteSet {
			delay = c.e.opts.callerBatch
		}
		c.batchTimer = c.after(delay, func() {
			c.batchTimer = nil
			c.flushCandidates()
		})
	}
}

// flushCandidates sends the candidates we hold, and end-of-candidates once
// gathering is complete.
func (c *Call) flushCandidates() {
	stopTimer(&c.batchTimer)
	if !c.descSent || c.st == StateEnded {
		return
	}
	cands := c.localPending
	c.localPending = nil
	if c.gatherDone && !c.eocSent {
		cands = append(cands, Candidate{Candidate: ""})
		c.eocSent = true
	}
	if len(cands) == 0 {
		return
	}
	c.send(EventCandidates, &Candidates{Base: c.base(), Candidates: cands}, false)
}

// markInSDP remembers the candidates already carried by our SDP so they
// are not trickled again.
func (c *Call) markInSDP(sdp string) {
	for _, line := range strings.Split(sdp, "\n") {
		line = strings.TrimSpace(line)
		if cand, ok := strings.CutPrefix(line, "a="); ok && strings.HasPrefix(cand, "candidate:") {
			c.inSDP[cand] = true
		}
	}
	var kept []Candidate
	for _, p := range c.localPending {
		if !c.inSDP[p.Candidate] {
			kept = append(kept, p)
		}
	}
	c.localPending = kept
}

func (c *Call) onRemoteCandidates(party string, cands []Candidate) {
	if c.opponentChosen && party != c.opponentParty {
		return
	}
	if !c.remoteSet || !c.opponentChosen {
		q := c.pendingRemote[party]
		if _, known := c.pendingRemote[party]; !known && len(c.pendingRemote) >= maxBufferedParties {
			return
		}
		if len(q)+len(cands) > maxBufferedCandidates {
			c.log.Warn("dropping remote candidates beyond the buffer", "party", party)
			return
		}
		c.pendingRemote[party] = append(q, cands...)
		return
	}
	c.addRemoteCandidates(cands)
}

func (c *Call) addRemoteCandidates(cands []Candidate) {
	for _, cand := range cands {
		if cand.Candidate == "" {
			continue // end-of-candidates: pion needs nothing
		}
		err := c.pc.AddICECandidate(webrtc.ICECandidateInit{
			Candidate: cand.Candidate, SDPMid: cand.SDPMid, SDPMLineIndex: cand.SDPMLineIndex,
		})
		if err != nil {
			c.log.Debug("ignoring remote candidate", "err", err)
		}
	}
}

// chooseOpponent fixes the party we talk to and applies its buffered
// candidates; the others' are dropped.
func (c *Call) chooseOpponent(party string, ver Version) {
	c.opponentParty, c.opponentVer, c.opponentChosen = party, ver, true
	buf := c.pendingRemote[party]
	c.pendingRemote = nil
	if c.remoteSet {
		c.addRemoteCandidates(buf)
	} else {
		c.pendingRemote = map[string][]Candidate{party: buf}
	}
}

// resetTrickle starts a new round of candidate trickling (new gathering
// after an ICE restart); the new SDP already carries what was found.
func (c *Call) resetTrickle() {
	c.gatherDone = c.pc.ICEGatheringState() == webrtc.ICEGatheringStateComplete
	c.eocSent = c.gatherDone
	c.localPending = nil
	c.markInSDP(c.pc.LocalDescription().SDP)
}
