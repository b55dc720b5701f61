package callengine

import (
	"context"
	"strings"
	"time"
)

type parsedEvent struct {
	ev      RoomEvent
	content Content
}

// HandleEvents takes one whole sync batch (after decryption). Call events
// are parsed and routed by room, call_id and party_id; everything else is
// ignored. Malformed events are dropped. An invite rings only if no later
// event of the same batch already ended, answered or rejected it, if it is
// meant for us and if enough of its lifetime is left.
func (e *Engine) HandleEvents(ctx context.Context, events []RoomEvent) {
	var batch []parsedEvent
	settled := make(map[string]bool) // call IDs whose ringing the batch already ends
	for _, ev := range events {
		if !strings.HasPrefix(ev.Type, "m.call.") {
			continue
		}
		content, err := ParseContent(ev.Type, ev.Content)
		if err != nil {
			e.opts.log.Debug("dropping call event", "type", ev.Type, "sender", ev.Sender, "err", err)
			continue
		}
		b := content.base()
		if ev.Sender == e.userID && b.PartyID == e.partyID {
			continue // our own echo
		}
		batch = append(batch, parsedEvent{ev, content})
		switch v := content.(type) {
		case *Hangup, *Reject:
			settled[b.CallID] = true
		case *Answer:
			if ev.Sender == e.userID {
				settled[b.CallID] = true
			}
		case *SelectAnswer:
			if v.SelectedPartyID != e.partyID {
				settled[b.CallID] = true
			}
		}
	}
	for _, p := range batch {
		if inv, ok := p.content.(*Invite); ok {
			if settled[inv.CallID] || e.settledEarly(inv.CallID) {
				e.opts.log.Debug("invite already settled", "call_id", inv.CallID)
				e.takeEarly(inv.CallID)
				e.remember(p.ev, inv)
				continue
			}
			e.handleInvite(ctx, p.ev, inv)
			continue
		}
		e.route(p.ev, p.content)
	}
}

// Bounds of the early-event stash.
const (
	earlyTTL     = 10 * time.Second
	earlyCalls   = 32
	earlyPerCall = 64
)

// earlyEvent is an event that came before its call's invite: with
// encryption, events decrypt out of order when room keys arrive late.
type earlyEvent struct {
	ev      RoomEvent
	content Content
	at      time.Time
}

// route hands a non-invite event to its call, or stashes it for a few
// seconds when the call is not known yet.
func (e *Engine) route(ev RoomEvent, content Content) {
	id := content.base().CallID
	e.mu.Lock()
	c := e.calls[id]
	if c == nil {
		e.stashLocked(id, ev, content)
	}
	e.mu.Unlock()
	if c == nil || c.roomID != ev.RoomID {
		return
	}
	c.post(func() { c.onEvent(ev.Sender, content) })
}

func (e *Engine) stashLocked(id string, ev RoomEvent, content Content) {
	now := e.opts.now()
	for k, evs := range e.early {
		if now.Sub(evs[0].at) > earlyTTL {
			delete(e.early, k)
		}
	}
	q, known := e.early[id]
	if (!known && len(e.early) >= earlyCalls) || len(q) >= earlyPerCall {
		return
	}
	e.early[id] = append(q, earlyEvent{ev, content, now})
}

// takeEarly removes and returns the stashed events of a call.
func (e *Engine) takeEarly(id string) []earlyEvent {
	e.mu.Lock()
	defer e.mu.Unlock()
	q := e.early[id]
	delete(e.early, id)
	return q
}

// settledEarly reports whether stashed events already ended the call
// before its invite could be read.
func (e *Engine) settledEarly(id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, x := range e.early[id] {
		switch v := x.content.(type) {
		case *Hangup, *Reject:
			return true
		case *Answer:
			if x.ev.Sender == e.userID {
				return true
			}
		case *SelectAnswer:
			if v.SelectedPartyID != e.partyID {
				return true
			}
		}
	}
	return false
}

// remember records a call we will never ring for, so that the same invite
// seen again (re-dispatched after decryption, say) is ignored too.
func (e *Engine) remember(ev RoomEvent, inv *Invite) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.calls[inv.CallID]; ok {
		return
	}
	c := newCall(e, inv.CallID, ev.RoomID, ev.Sender, Incoming, false)
	c.ci.State, c.st = StateEnded, StateEnded
	c.info.Store(&c.ci)
	c.endTime.Store(e.opts.now().UnixNano())
	close(c.finished)
	e.calls[inv.CallID] = c
}

func (e *Engine) handleInvite(ctx context.Context, ev RoomEvent, inv *Invite) {
	log := e.opts.log.With("call_id", inv.CallID, "room", ev.RoomID, "sender", ev.Sender)
	if inv.Invitee != "" && inv.Invitee != e.userID {
		log.Debug("invite for someone else")
		return
	}
	if ev.Sender == e.userID && inv.Invitee != e.userID {
		return // our other device calling someone else
	}
	received := ev.Received
	if received.IsZero() {
		received = e.opts.now()
	}
	elapsed := ev.Age + e.opts.now().Sub(received)
	remaining := time.Duration(inv.Lifetime)*time.Millisecond - max(elapsed, 0)
	if remaining < e.opts.minRingTime {
		log.Info("ignoring stale invite", "age", elapsed, "lifetime_ms", inv.Lifetime)
		e.remember(ev, inv)
		return
	}

	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	if _, known := e.calls[inv.CallID]; known {
		e.mu.Unlock()
		return
	}
	active := e.activeLocked()
	glare := active != nil && active.dir == Outgoing && active.roomID == ev.RoomID && active.peer == ev.Sender
	if active != nil && !glare {
		e.mu.Unlock()
		log.Info("busy: declining invite")
		e.remember(ev, inv)
		e.sendBusy(ev.RoomID, inv) //nolint:contextcheck // bounded by the engine's context, not the sync's
		return
	}
	video := strings.Contains(inv.Offer.SDP, "m=video")
	c := newCall(e, inv.CallID, ev.RoomID, ev.Sender, Incoming, video)
	c.hidden = glare
	e.calls[inv.CallID] = c
	e.pruneLocked()
	e.mu.Unlock()

	c.start(func() { c.startIncoming(inv, remaining) }) //nolint:contextcheck // the call outlives the sync batch
	for _, x := range e.takeEarly(inv.CallID) {
		if x.ev.RoomID == ev.RoomID {
			c.post(func() { c.onEvent(x.ev.Sender, x.content) })
		}
	}
	if glare {
		log.Info("glare with our outgoing call", "ours", active.id)
		active.post(func() { active.onGlare(c) })
	}
}

// sendBusy answers an invite we cannot take with a user_busy hangup.
func (e *Engine) sendBusy(roomID string, inv *Invite) {
	content := &Hangup{
		Base:   Base{CallID: inv.CallID, PartyID: e.partyID, Version: Version1},
		Reason: ReasonUserBusy,
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		sctx, cancel := context.WithTimeout(e.sendCtx, sendTimeout)
		defer cancel()
		if err := e.sig.SendCallEvent(sctx, roomID, EventHangup, content); err != nil {
			e.opts.log.Warn("sending user_busy", "err", err)
		}
	}()
}
