package callengine

import (
	"context"
	"fmt"
	"log/slog"
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

	remote remoteTracks // the tracks handed to OnTrack, ended with the call

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
	senders        map[senderKey]*webrtc.RTPSender
	screen         webrtc.TrackLocal // our screen share's track while we share
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
	remoteStreams  map[string]bool // stream IDs (msid) in the peer's latest description
	firstStream    string          // the stream used when the peer sends no metadata
}

// senderKey names one of our senders: the camera and the screen share are
// both video, so a sender is found by purpose and kind, never kind alone.
type senderKey struct {
	purpose string // PurposeUserMedia or PurposeScreenshare
	kind    webrtc.RTPCodecType
}

// userMedia is the key of our camera's or microphone's sender.
func userMedia(kind webrtc.RTPCodecType) senderKey { return senderKey{PurposeUserMedia, kind} }

// screenVideo is the key of our screen share's sender.
var screenVideo = senderKey{PurposeScreenshare, webrtc.RTPCodecTypeVideo}

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
		senders:       make(map[senderKey]*webrtc.RTPSender),
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
		c.release()
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

// release drops what an ended call no longer needs, on the loop goroutine
// after its last function ran. The engine remembers ended calls for
// endedRetention (late events must not ring again), and what they point to
// stays alive as long: the closed peer connection with its buffers,
// interceptors and pion callbacks, and the caller's media tracks (for
// mxcall a media.Source with its encoder and preview frames).
func (c *Call) release() {
	c.pc = nil
	c.media = Media{}
	c.screen = nil
	c.senders = nil
	c.remoteOffer, c.sentOffer = "", nil
	c.pendingRemote, c.localPending, c.inSDP = nil, nil, nil
	c.remoteMeta, c.remoteStreams = nil, nil
	c.timers = nil
	c.batchTimer, c.inviteTimer, c.restartTimer, c.iceDeadline, c.peerGone = nil, nil, nil, nil, nil
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
			c.out[0] = outEvent{} // the array outlives the call: keep no SDP in it
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
