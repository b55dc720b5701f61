package fake

import (
	"context"
	"time"

	"github.com/mxcall/mxcall/callengine"
	"github.com/mxcall/mxcall/ui"
)

// JoinCall implements ui.Group: a call of its own in roomID, connecting,
// with us as its one participant; with AutoProgress it connects after
// 300 ms and Members join.
func (b *Backend) JoinCall(ctx context.Context, roomID string, video bool) (string, error) {
	b.record("join %s video=%v", roomID, video)
	b.mu.Lock()
	for _, c := range b.calls {
		if c.State != callengine.StateEnded {
			b.mu.Unlock()
			return "", callengine.ErrBusy
		}
	}
	b.mu.Unlock()
	id := b.newID()
	b.mu.Lock()
	b.group[id] = true
	b.mu.Unlock()
	b.Emit(callengine.CallInfo{ID: id, RoomID: roomID, Direction: callengine.Outgoing,
		State: callengine.StateConnecting, Video: video, Created: b.now()})
	b.SetParticipants(id, []ui.Participant{b.local(video)})
	if b.AutoProgress {
		go func() {
			time.Sleep(300 * time.Millisecond)
			if b.Update(id, func(c *callengine.CallInfo) { c.State = callengine.StateConnected; c.ConnectedAt = b.now() }) == nil {
				b.SetParticipants(id, append([]ui.Participant{b.local(video)}, b.Members...))
			}
		}()
	}
	return id, nil
}

// RingGroup starts a ringing group call in room r from the user from (may
// be empty) and returns its ID; answering joins it.
func (b *Backend) RingGroup(r ui.Room, from string, video bool) string {
	id := b.newID()
	b.mu.Lock()
	b.group[id] = true
	b.mu.Unlock()
	b.Emit(callengine.CallInfo{ID: id, RoomID: r.ID, Peer: from, Direction: callengine.Incoming,
		State: callengine.StateRinging, Video: video, Created: b.now()})
	return id
}

// Participants implements ui.Group: a copy of what SetParticipants (or
// joining) stored; nil for a one-to-one call.
func (b *Backend) Participants(callID string) []ui.Participant {
	b.mu.Lock()
	defer b.mu.Unlock()
	ps, ok := b.parts[callID]
	if !ok {
		return nil
	}
	return append([]ui.Participant{}, ps...)
}

// SubscribeParticipants implements ui.Group.
func (b *Backend) SubscribeParticipants(fn func(callID string)) func() {
	b.mu.Lock()
	id := b.nextSub
	b.nextSub++
	b.partSubs[id] = fn
	b.mu.Unlock()
	return func() {
		b.mu.Lock()
		delete(b.partSubs, id)
		b.mu.Unlock()
	}
}

// SetParticipants replaces a call's participants (nil: none, as for a
// one-to-one call) and tells subscribers.
func (b *Backend) SetParticipants(callID string, ps []ui.Participant) {
	b.mu.Lock()
	if ps == nil {
		delete(b.parts, callID)
	} else {
		b.parts[callID] = append([]ui.Participant{}, ps...)
	}
	b.mu.Unlock()
	b.notifyParticipants(callID)
}

// UpdateParticipant changes the participant with id in a call with f and
// tells subscribers; false when there is no such participant.
func (b *Backend) UpdateParticipant(callID, id string, f func(*ui.Participant)) bool {
	b.mu.Lock()
	found := false
	for i := range b.parts[callID] {
		if b.parts[callID][i].ID == id {
			f(&b.parts[callID][i])
			found = true
		}
	}
	b.mu.Unlock()
	if found {
		b.notifyParticipants(callID)
	}
	return found
}

func (b *Backend) notifyParticipants(callID string) {
	b.mu.Lock()
	subs := make([]func(string), 0, len(b.partSubs))
	for _, f := range b.partSubs {
		subs = append(subs, f)
	}
	b.mu.Unlock()
	for _, f := range subs {
		f(callID)
	}
}

func (b *Backend) isGroup(callID string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.group[callID]
}

// LocalID is the participant ID of our own tile.
func (b *Backend) LocalID() string {
	if b.Stored != nil {
		return b.Stored.UserID + ":FAKEDEVICE"
	}
	return "@me:example.org:FAKEDEVICE"
}

// local is our own participant: the camera's slot when we send video.
func (b *Backend) local(video bool) ui.Participant {
	p := ui.Participant{ID: b.LocalID(), Name: "Me", Local: true}
	if b.Stored != nil {
		p.Name = b.Stored.DisplayName
		if p.Name == "" {
			p.Name = b.Stored.UserID
		}
	}
	if video && b.LocalSlot != nil {
		p.Video = b.LocalSlot
	}
	return p
}

// updateLocal changes our participant of a group call.
func (b *Backend) updateLocal(callID string, f func(*ui.Participant)) {
	b.UpdateParticipant(callID, b.LocalID(), f)
}
