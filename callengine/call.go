package callengine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"
)

// Bounds on what a peer can make us buffer.
const (
	maxBufferedCandidates = 256
	maxBufferedParties    = 8
	sendTimeout           = 30 * time.Second
)

// Call is one call. Its fields below the line are owned by its loop
// goroutine; everything else talks to it through its mailbox.
type Call struct {
	e        *Engine
	id       string
	roomID   string
	peer     string
	dir      Direction
	log      *slog.Logger
	inbox    *mailbox
	finished chan struct{} // closed when the loop and the sender are done
	info     atomic.Pointer[CallInfo]
	endTime  atomic.Int64

	outMu sync.Mutex
	out   []outEvent // events waiting for the sender goroutine
	outCh chan struct{}

	// ---- owned by the loop goroutine ----
	st             State
	ci             CallInfo
	hidden         bool // glare: not shown until we know it survives
	pc             *webrtc.PeerConnection
	media          Media
	video          bool
	gate           atomic.Bool          // our tracks' packets pass (not on hold either way)
	remoteOffer    string               // the peer's latest offer, as it sent it
	sentOffer      map[string]direction // our latest offer's directions, by mid
	sentHold       bool                 // OnHold when we last sent a description
	senders        map[webrtc.RTPCodecType]*webrtc.RTPSender
	opponentParty  string
	opponentChosen bool
	opponentVer    Version
	lifetime       time.Duration
	remoteSet      bool
	pendingRemote  map[string][]Candidate // by party, before the remote description/choice
	localPending   []Candidate
	inSDP          map[string]bool
	descSent       bool // our invite/answer is on its way
	gatherDone     bool
	eocSent        bool
	batchTimer     *time.Timer
	timers         []*time.Timer
	inviteTimer    *time.Timer
	restartTimer   *time.Timer
	iceDeadline    *time.Timer
	peerGone       *time.Timer
	iceRestarted   bool
	remoteMeta     map[string]StreamMetadata
	firstStream    string // the stream used when the peer sends no metadata
}

type outEvent struct {
	evType  string
	content any
	// critical events end the call when they cannot be sent.
	critical bool
}

func newCall(e *Engine, id, roomID, peer string, dir Direction, video bool) *Call {
	c := &Call{
		e:             e,
		id:            id,
		roomID:        roomID,
		peer:          peer,
		dir:           dir,
		video:         video,
		log:           e.opts.log.With("call_id", id, "room", roomID),
		inbox:         newMailbox(),
		finished:      make(chan struct{}),
		outCh:         make(chan struct{}, 1),
		pendingRemote: make(map[string][]Candidate),
		inSDP:         make(map[string]bool),
		senders:       make(map[webrtc.RTPCodecType]*webrtc.RTPSender),
		lifetime:      e.opts.inviteLifetime,
	}
	c.ci = CallInfo{ID: id, RoomID: roomID, Peer: peer, Direction: dir, Video: video, Created: e.opts.now()}
	c.gate.Store(true)
	snap := c.ci
	c.info.Store(&snap)
	return c
}

// Info returns the latest snapshot of the call.
func (c *Call) Info() CallInfo { return *c.info.Load() }

func (c *Call) ended() bool { return c.info.Load().State == StateEnded }

func (c *Call) endedAt() time.Time { return time.Unix(0, c.endTime.Load()) }

// start runs the call's loop and sender goroutines, then first in the loop.
func (c *Call) start(first func()) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		c.inbox.run(func() bool { return c.st == StateEnded })
		c.closeOut()
	}()
	go func() {
		defer wg.Done()
		c.sendLoop()
	}()
	go func() {
		wg.Wait()
		close(c.finished)
	}()
	c.inbox.post(first)
}

// post runs f on the loop goroutine; it is dropped once the call ended.
func (c *Call) post(f func()) { c.inbox.post(f) }

// exec runs f on the loop goroutine and waits for its result, the end of
// the call, or the end of ctx; then it returns ctx's error (wrapped), and f
// may still run later. Nothing is run once ctx has ended.
func (c *Call) exec(ctx context.Context, f func() error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("callengine: call %s: %w", c.id, err)
	}
	res := make(chan error, 1)
	if !c.inbox.post(func() { res <- f() }) {
		return fmt.Errorf("%w: call %s has ended", ErrWrongState, c.id)
	}
	select {
	case err := <-res:
		return err
	case <-c.finished:
		select {
		case err := <-res:
			return err
		default:
			return fmt.Errorf("%w: call %s has ended", ErrWrongState, c.id)
		}
	case <-ctx.Done():
		return fmt.Errorf("callengine: call %s: %w", c.id, ctx.Err())
	}
}

// after runs f on the loop goroutine after d, unless the call ended.
func (c *Call) after(d time.Duration, f func()) *time.Timer {
	t := time.AfterFunc(d, func() { c.post(f) })
	c.timers = append(c.timers, t)
	return t
}

func stopTimer(t **time.Timer) {
	if *t != nil {
		(*t).Stop()
		*t = nil
	}
}

// ---- state and publishing ----

func (c *Call) setState(to State) {
	if c.st == to {
		return
	}
	if !CanTransition(c.st, to) {
		c.log.Warn("refused state transition", "from", c.st, "to", to)
		return
	}
	c.log.Debug("state", "from", c.st, "to", to)
	c.st = to
	c.ci.State = to
	if to == StateConnected && c.ci.ConnectedAt.IsZero() {
		c.ci.ConnectedAt = c.e.opts.now()
		c.log.Info("call connected", "direction", c.dir, "after", c.ci.ConnectedAt.Sub(c.ci.Created).Round(time.Millisecond))
	}
	c.publish()
}

func (c *Call) publish() {
	snap := c.ci
	c.info.Store(&snap)
	if !c.hidden {
		c.e.publish(snap)
	}
}

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

// ---- outgoing events ----

func (c *Call) base() Base {
	return Base{CallID: c.id, PartyID: c.e.partyID, Version: Version1}
}

func (c *Call) send(evType string, content any, critical bool) {
	c.outMu.Lock()
	c.out = append(c.out, outEvent{evType, content, critical})
	c.outMu.Unlock()
	select {
	case c.outCh <- struct{}{}:
	default:
	}
}

// closeOut lets the sender finish what is queued and stop.
func (c *Call) closeOut() {
	c.send("", nil, false)
}

// sendLoop sends queued events in order. It stops after the sentinel that
// closeOut queues.
func (c *Call) sendLoop() {
	for range c.outCh {
		for {
			c.outMu.Lock()
			if len(c.out) == 0 {
				c.outMu.Unlock()
				break
			}
			ev := c.out[0]
			c.out = c.out[1:]
			c.outMu.Unlock()
			if ev.evType == "" {
				return
			}
			ctx, cancel := context.WithTimeout(c.e.sendCtx, sendTimeout)
			err := c.e.sig.SendCallEvent(ctx, c.roomID, ev.evType, ev.content)
			cancel()
			if err != nil {
				c.log.Warn("sending call event failed", "type", ev.evType, "err", err)
				if ev.critical {
					c.post(func() { c.hangup(ReasonSignallingFailed) })
				}
			}
		}
	}
}

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

// addMedia attaches our tracks; a missing track of a kind we want still
// gets a receive-only transceiver.
func (c *Call) addMedia(m Media, video bool) error {
	c.media = m
	add := func(t webrtc.TrackLocal, kind webrtc.RTPCodecType, want bool) error {
		switch {
		case t != nil:
			s, err := c.pc.AddTrack(c.gated(t))
			c.senders[kind] = s
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

func (c *Call) localMetadata() map[string]StreamMetadata {
	sid := ""
	for _, t := range []webrtc.TrackLocal{c.media.Audio, c.media.Video} {
		if t != nil {
			sid = t.StreamID()
			break
		}
	}
	if sid == "" {
		return nil
	}
	return map[string]StreamMetadata{sid: {
		Purpose:    PurposeUserMedia,
		AudioMuted: c.ci.AudioMuted,
		VideoMuted: c.ci.VideoMuted || c.media.Video == nil,
	}}
}

func (c *Call) onTrack(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
	var purpose string
	ok := c.exec(context.Background(), func() error {
		p, keep := c.trackPurpose(t.StreamID())
		if !keep {
			return ErrWrongState
		}
		purpose = p
		return nil
	}) == nil
	if !ok {
		c.log.Debug("ignoring remote track", "stream", t.StreamID(), "kind", t.Kind())
		return
	}
	c.e.opts.onTrack(RemoteTrack{CallID: c.id, Track: t, Receiver: r, Purpose: purpose})
}

// trackPurpose applies the sdp_stream_metadata rules: unknown purposes and
// unlisted streams are ignored; with no metadata only the peer's first
// stream is used, as user media. Streamless tracks (Nheko) are accepted.
func (c *Call) trackPurpose(streamID string) (string, bool) {
	if streamID == "" {
		return PurposeUserMedia, true
	}
	if len(c.remoteMeta) == 0 {
		if c.firstStream == "" {
			c.firstStream = streamID
		}
		return PurposeUserMedia, streamID == c.firstStream
	}
	m, ok := c.remoteMeta[streamID]
	if !ok {
		return "", false
	}
	switch m.Purpose {
	case PurposeUserMedia, PurposeScreenshare:
		return m.Purpose, true
	}
	return "", false
}

func (c *Call) setRemoteMeta(m map[string]StreamMetadata) {
	if m == nil {
		return
	}
	c.remoteMeta = m
	var a, v bool
	for _, s := range m {
		if s.Purpose == PurposeUserMedia {
			a, v = s.AudioMuted, s.VideoMuted
		}
	}
	c.ci.RemoteAudioMuted, c.ci.RemoteVideoMuted = a, v
}

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
		// We close the peer connection only when the call ends (above);
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

// resetTrickle starts a new round of candidate trickling (new gathering
// after an ICE restart); the new SDP already carries what was found.
func (c *Call) resetTrickle() {
	c.gatherDone = c.pc.ICEGatheringState() == webrtc.ICEGatheringStateComplete
	c.eocSent = c.gatherDone
	c.localPending = nil
	c.markInSDP(c.pc.LocalDescription().SDP)
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
	if s := c.senders[kind]; s != nil {
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
	if s := c.senders[kind]; s != nil {
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
	c.senders[kind] = s
	c.publish()
	return nil // negotiationneeded follows
}

// ---- glare ----

// onGlare runs on our outgoing call's loop when the peer's invite crossed
// ours in the same room (spec: "Glare").
func (c *Call) onGlare(theirs *Call) {
	switch {
	case c.st == StateGathering:
		// Ours was not sent: drop it, take theirs with our media.
		c.end(PartyLocal, ReasonReplaced)
		theirs.post(func() { theirs.autoAnswer(c.video, c.media) })
	case c.st == StateInviteSent && theirs.id < c.id:
		c.hangup(ReasonReplaced)
		theirs.post(func() { theirs.autoAnswer(c.video, c.media) })
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
