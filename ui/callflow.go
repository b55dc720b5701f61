package ui

import (
	"context"
	"errors"
	"time"

	"fyne.io/fyne/v2/dialog"

	"github.com/mxcall/mxcall/callengine"
)

// PlaceCall calls the peer of a direct chat.
func (u *UI) PlaceCall(r Room, video bool) {
	info := callengine.CallInfo{RoomID: r.ID, Peer: r.Peer, Direction: callengine.Outgoing,
		State: callengine.StateGathering, Video: video, Created: u.cfg.now()}
	u.startCall(info, false, "Could not place the call", func(ctx context.Context) (string, error) {
		return u.be.Calls.PlaceCall(ctx, r.ID, r.Peer, video)
	})
}

// JoinCall joins (or starts) the MatrixRTC call of room r and shows it. It
// does nothing without a Group backend.
func (u *UI) JoinCall(r Room, video bool) {
	if u.be.Group == nil {
		return
	}
	info := callengine.CallInfo{RoomID: r.ID, Peer: r.Peer, Direction: callengine.Outgoing,
		State: callengine.StateConnecting, Video: video, Created: u.cfg.now()}
	u.startCall(info, true, "Could not join the call", func(ctx context.Context) (string, error) {
		return u.be.Group.JoinCall(ctx, r.ID, video)
	})
}

// startCall shows the call view for info (no ID yet) and runs start,
// which returns the call's ID; failTitle heads the dialog of its error.
// While a call is live it shows that call instead.
func (u *UI) startCall(info callengine.CallInfo, join bool, failTitle string, start func(ctx context.Context) (string, error)) {
	if u.call != nil && u.call.Info().State != callengine.StateEnded {
		u.showCall()
		return
	}
	u.openCall(info)
	u.call.joining, u.call.wasGroup = join, join
	u.cfg.run(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		id, err := start(ctx)
		u.cfg.do(func() {
			if err != nil {
				info.State = callengine.StateEnded
				info.EndedBy = callengine.PartyLocal
				info.EndReason = callengine.ReasonSignallingFailed
				if errors.Is(err, callengine.ErrBusy) {
					info.EndReason = callengine.ReasonUserBusy
				}
				if u.call != nil && u.call.Info().ID == "" {
					u.call.info = info
					u.call.apply()
					u.scheduleBack(u.call)
				}
				dialog.ShowInformation(failTitle, err.Error(), u.win)
				return
			}
			if u.call != nil && u.call.Info().ID == "" {
				u.call.info.ID = id
				if cur, ok := u.latest[id]; ok {
					u.handleCall(cur)
				}
				u.refreshParticipants()
			}
		})
	})
}

// openCall shows a new call screen for info.
func (u *UI) openCall(info callengine.CallInfo) {
	if u.call != nil {
		u.call.Stop()
	}
	u.closePicker()
	u.sharingEnded() // of the call this one replaces
	u.call = newCallScreen(info, u.peer(info.RoomID, info.Peer), u.be.Calls, u.be.Media, CallActions{
		FullScreen:  func() { u.win.SetFullScreen(!u.win.FullScreen()) },
		Back:        u.leaveCall,
		Settings:    u.ShowSettings,
		ShareScreen: u.ShareScreen,
		StopShare:   u.StopSharing,
	}, u.cfg)
	if r, ok := u.room(info.RoomID); ok {
		u.call.SetRoom(r)
	}
	u.refreshParticipants()
	u.showCall()
	u.refreshTrust() // a warning if the peer has unverified devices
}

// refreshParticipants shows the current call's participants (a grid for
// a group call; nothing changes for a one-to-one call).
func (u *UI) refreshParticipants() {
	c := u.call
	if u.be.Group == nil || c == nil || c.Info().ID == "" || c.Info().State == callengine.StateEnded {
		return
	}
	c.SetParticipants(u.be.Group.Participants(c.Info().ID))
}

// participantsChanged reacts to Group.SubscribeParticipants (on the UI
// goroutine).
func (u *UI) participantsChanged(callID string) {
	if u.call != nil && callID != "" && u.call.Info().ID == callID {
		u.refreshParticipants()
	}
}

func (u *UI) showCall() {
	c := u.call
	u.setScreen(c, nil)
	c.Start()
}

// leaveCall goes from an ended call back to the room list.
func (u *UI) leaveCall() {
	u.closePicker()
	u.sharingEnded()
	if u.call != nil {
		u.call.Stop()
	}
	u.call = nil
	if u.win.FullScreen() {
		u.win.SetFullScreen(false)
	}
	u.ShowRooms()
}

func (u *UI) scheduleBack(c *CallScreen) {
	if u.cfg.endDelay <= 0 {
		return
	}
	time.AfterFunc(u.cfg.endDelay, func() {
		u.cfg.do(func() {
			if u.call == c {
				u.leaveCall()
			}
		})
	})
}

// handleCall reacts to one CallInfo update (on the UI goroutine).
func (u *UI) handleCall(info callengine.CallInfo) {
	if u.latest == nil {
		u.latest = map[string]callengine.CallInfo{}
	}
	u.latest[info.ID] = info
	if info.State == callengine.StateEnded {
		delete(u.latest, info.ID)
	}

	// Incoming calls ring in a window of their own.
	if info.Direction == callengine.Incoming {
		if info.State == callengine.StateRinging {
			u.ring(info)
			return
		}
		u.closeIncoming(info.ID)
	}

	// An outgoing call placed from this UI: bind the update to the screen
	// shown while PlaceCall ran.
	c := u.call
	bound := false
	if c != nil && c.Info().ID == "" && (info.Direction == callengine.Outgoing || c.joining) && info.RoomID == c.Info().RoomID {
		c.info.ID = info.ID
		bound = true
	}
	if c == nil || c.Info().ID != info.ID {
		return
	}
	if info.Direction == callengine.Outgoing && info.State == callengine.StateInviteSent {
		u.startRingback()
	} else {
		u.stopRingback()
	}
	wasEnded := c.Info().State == callengine.StateEnded
	if u.share.callID == info.ID && c.Info().Screensharing && !info.Screensharing {
		// The backend stopped our share (the shared window was closed).
		u.sharingEnded()
	}
	if info.State == callengine.StateEnded {
		// The backend stops our share with the call.
		u.closePicker()
		if u.share.callID == info.ID {
			u.sharingEnded()
		}
	}
	c.Update(info)
	if bound {
		u.refreshParticipants()
	}
	if info.State == callengine.StateEnded && !wasEnded {
		u.scheduleBack(c)
	}
}

// Answer accepts a ringing call and shows the call screen.
func (u *UI) Answer(callID string, video bool) {
	info, ok := u.latest[callID]
	if !ok {
		u.closeIncoming(callID)
		return
	}
	u.closeIncoming(callID)
	// One call at a time: answering another hangs up the current one.
	var current string
	if u.call != nil && u.call.Info().State != callengine.StateEnded && u.call.Info().ID != callID {
		current = u.call.Info().ID
	}
	info.Video = video && info.Video
	info.State = callengine.StateAnswering
	u.openCall(info)
	u.cfg.run(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if current != "" {
			_ = u.be.Calls.Hangup(ctx, current) // ends either way; the engine logs failures
		}
		if err := u.be.Calls.Answer(ctx, callID, video); err != nil {
			u.cfg.do(func() { dialog.ShowInformation("Could not answer", err.Error(), u.win) })
		}
	})
}

// Decline rejects a ringing call.
func (u *UI) Decline(callID string) {
	u.closeIncoming(callID)
	u.cfg.run(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = u.be.Calls.Reject(ctx, callID) // the call ends either way; the engine logs failures
	})
}
