package backend

import (
	"context"
	"fmt"

	"github.com/mxcall/mxcall/matrixrtc"
	"github.com/mxcall/mxcall/ui"
)

// startTracker follows the rooms' MatrixRTC state (who is in each call,
// incoming rings, declines) for the logged-in device.
func (b *Backend) startTracker(userID, deviceID string) {
	tr := matrixrtc.NewTracker(matrixrtc.TrackerConfig{
		UserID: userID, DeviceID: deviceID, Log: b.log,
		OnRing:      b.rtc.onRing,
		OnRingEnded: b.rtc.onRingEnded,
		OnDeclined:  b.rtc.onDeclined,
		OnMembers: func(roomID string, ms []matrixrtc.Membership) {
			b.rtc.onMembers(roomID, ms)
			// The room list's call marks; not on the tracker's goroutine,
			// which snapshot asks for the members.
			go b.roomSubs.send(b.snapshot())
		},
	})
	b.setTracker(tr)
	b.mc.SetRTCHandler(tr.Handle)
	b.mc.SetToDeviceHandler(b.rtc.handleToDevice) // members' media keys
}

// setTracker replaces the tracker (nil: none), closing the old one.
func (b *Backend) setTracker(tr *matrixrtc.Tracker) {
	b.mu.Lock()
	old := b.tracker
	b.tracker = tr
	b.mu.Unlock()
	if old != nil {
		if tr == nil {
			b.mc.SetRTCHandler(nil)
		}
		_ = old.Close()
	}
}

func (b *Backend) currentTracker() *matrixrtc.Tracker {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.tracker
}

// liveMembers returns the live memberships of roomID's call.
func (b *Backend) liveMembers(roomID string) []matrixrtc.Membership {
	if tr := b.currentTracker(); tr != nil {
		return tr.Members(roomID)
	}
	return nil
}

// callMembers is how many devices are in roomID's call.
func (b *Backend) callMembers(roomID string) int {
	return len(b.liveMembers(roomID))
}

// useRTC decides how a one-to-one call in roomID goes: as a MatrixRTC
// call when the user did not ask for legacy calls, the room is not
// end-to-end encrypted or this build can encrypt MatrixRTC media
// (canEncrypt: a legacy call, whose media is encrypted end to end, is the
// safe choice otherwise) and a focus is found. why says what decided.
func useRTC(legacy, encrypted, canEncrypt bool, discover func() error) (rtc bool, why string) {
	switch {
	case legacy:
		return false, "legacy calls preferred in settings"
	case encrypted && !canEncrypt:
		return false, "encrypted room, and this build cannot encrypt MatrixRTC media"
	}
	if err := discover(); err != nil {
		return false, err.Error()
	}
	return true, "focus found"
}

// discover finds the focus a call in roomID would use.
func (b *Backend) discover(ctx context.Context, roomID string) (matrixrtc.Focus, error) {
	return b.rtc.cfg.discovery.Discover(ctx, b.mc.HomeserverURL(), "", b.liveMembers(roomID))
}

// placeRTC places the call as a MatrixRTC call when useRTC says so; ok is
// false when the call should go the legacy way.
func (b *Backend) placeRTC(ctx context.Context, roomID, peer string, video bool) (id string, ok bool, err error) {
	room, _ := b.mc.Room(roomID)
	rtc, why := useRTC(b.Settings().LegacyCalls, room.Encrypted, b.rtc.cfg.toDevice != nil, func() error {
		_, err := b.discover(ctx, roomID)
		return err
	})
	b.log.Info("placing a call", "room", roomID, "matrixrtc", rtc, "why", why)
	if !rtc {
		return "", false, ctx.Err()
	}
	id, err = b.rtc.place(ctx, roomID, peer, video)
	return id, true, err
}

// JoinCall joins (or starts, without ringing) the MatrixRTC call of
// roomID. In an end-to-end encrypted room its media is encrypted end to
// end (per-participant keys, as Element Call does); a build that cannot
// refuses with ErrEncryptedCall (as Answer does).
func (b *Backend) JoinCall(ctx context.Context, roomID string, video bool) (string, error) {
	if _, err := b.engine(); err != nil {
		return "", err
	}
	room, ok := b.mc.Room(roomID)
	if !ok {
		return "", fmt.Errorf("%w: %s", ErrUnknownRoom, roomID)
	}
	return b.rtc.join(ctx, roomID, room.CallPeer, video)
}

// Participants returns the tiles of a MatrixRTC call, ours first; nil for
// legacy calls.
func (b *Backend) Participants(callID string) []ui.Participant {
	c := b.rtc.get(callID)
	if c == nil {
		return nil
	}
	return c.participants()
}

// SubscribeParticipants calls fn with a call's ID whenever its
// Participants change, until cancel.
func (b *Backend) SubscribeParticipants(fn func(callID string)) (cancel func()) {
	return b.partSubs.add(fn)
}
