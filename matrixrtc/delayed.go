package matrixrtc

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// FeatureDelayedEvents is the unstable_features flag of /versions by which
// a homeserver announces delayed events (MSC4140).
const FeatureDelayedEvents = "org.matrix.msc4140"

// Delayed leave defaults (js-sdk's MembershipManager: 8 s, restarted every
// 5 s).
const (
	// DefaultLeaveDelay is the delay of the leave we schedule before
	// joining: the homeserver sends it when we stop restarting it.
	DefaultLeaveDelay = 8 * time.Second
	// DefaultLeaveDelayRestart is how often a joined session restarts it.
	DefaultLeaveDelayRestart = 5 * time.Second
	// delayRequestTimeout bounds one restart request, well inside the
	// delay.
	delayRequestTimeout = 2 * time.Second
)

// DelayAction is what UpdateDelayedEvent does to a scheduled event.
type DelayAction string

// The MSC4140 actions.
const (
	// DelayRestart restarts the event's timer.
	DelayRestart DelayAction = "restart"
	// DelaySend sends the event now.
	DelaySend DelayAction = "send"
	// DelayCancel drops the event.
	DelayCancel DelayAction = "cancel"
)

// DelayedEvents is an optional interface of a Matrix: delayed events
// (MSC4140). When the session's Matrix implements it and the homeserver
// supports them, a session schedules its own leave before joining and
// keeps pushing it back while joined, so a crashed client drops out of
// the call within the delay instead of staying until its membership
// expires.
type DelayedEvents interface {
	// DelayedEventsSupported reports whether the homeserver lists
	// FeatureDelayedEvents in /versions.
	DelayedEventsSupported(ctx context.Context) (bool, error)
	// SendDelayedState schedules a state event to be sent after delay
	// and returns its delay ID. A delay above the homeserver's maximum
	// fails with a *MaxDelayError.
	SendDelayedState(ctx context.Context, roomID, evType, stateKey string, content any, delay time.Duration) (delayID string, err error)
	// UpdateDelayedEvent restarts, sends or cancels a scheduled event.
	// An unknown delay ID (already sent or cancelled) wraps
	// ErrDelayNotFound.
	UpdateDelayedEvent(ctx context.Context, delayID string, action DelayAction) error
}

// MaxDelayError is the refusal of a delay above the homeserver's maximum
// (M_MAX_DELAY_EXCEEDED). It matches ErrMaxDelayExceeded.
type MaxDelayError struct {
	// Max is the longest delay the homeserver accepts (0: not said).
	Max time.Duration
}

func (e *MaxDelayError) Error() string {
	return fmt.Sprintf("%v (at most %v)", ErrMaxDelayExceeded, e.Max)
}

// Is makes errors.Is(err, ErrMaxDelayExceeded) hold.
func (e *MaxDelayError) Is(target error) bool { return target == ErrMaxDelayExceeded }

// delayedEvents (owner) is the Matrix's DelayedEvents when the homeserver
// supports them, else nil.
func (s *Session) delayedEvents(ctx context.Context) DelayedEvents {
	de, ok := s.cfg.Matrix.(DelayedEvents)
	if !ok || s.cfg.LeaveDelay < 0 {
		return nil
	}
	supported, err := de.DelayedEventsSupported(ctx)
	if err != nil {
		s.cfg.Log.Warn("matrixrtc: /versions unavailable, no delayed leave", "err", err)
		return nil
	}
	if !supported {
		return nil
	}
	return de
}

// scheduleLeave (owner) schedules our delayed leave and keeps its ID,
// lowering the delay to the homeserver's maximum when it asks.
func (s *Session) scheduleLeave(ctx context.Context) error {
	id, err := s.delayed.SendDelayedState(ctx, s.cfg.RoomID, TypeCallMember, s.stateKey(), LeaveContent(), s.leaveDelay)
	if me := (*MaxDelayError)(nil); errors.As(err, &me) && me.Max > 0 && me.Max < s.leaveDelay {
		s.cfg.Log.Info("matrixrtc: homeserver caps the leave delay", "max", me.Max)
		s.leaveDelay = me.Max
		id, err = s.delayed.SendDelayedState(ctx, s.cfg.RoomID, TypeCallMember, s.stateKey(), LeaveContent(), s.leaveDelay)
	}
	if err != nil {
		return fmt.Errorf("matrixrtc: scheduling the delayed leave: %w", err)
	}
	s.delayID = id
	return nil
}

// restartDelayedLeave (owner, on its timer) pushes our delayed leave back.
// When the homeserver no longer knows it (it fired because we could not
// restart it in time, or our own state update cancelled it), the
// membership is sent again and a new leave scheduled.
func (s *Session) restartDelayedLeave() {
	if !s.joined || s.delayed == nil {
		return
	}
	defer func() { s.delayTimer = time.NewTimer(s.restartEvery()) }()
	ctx, cancel := context.WithTimeout(context.Background(), delayRequestTimeout)
	defer cancel()
	if s.delayID != "" {
		err := s.delayed.UpdateDelayedEvent(ctx, s.delayID, DelayRestart)
		if err == nil {
			return
		}
		if !errors.Is(err, ErrDelayNotFound) {
			s.cfg.Log.Warn("matrixrtc: restarting the delayed leave failed", "room", s.cfg.RoomID, "err", err)
			return // try again at the next tick
		}
		s.cfg.Log.Info("matrixrtc: the delayed leave is gone, joining again", "room", s.cfg.RoomID)
		s.delayID = ""
		sctx, scancel := context.WithTimeout(context.Background(), leaveTimeout)
		defer scancel()
		if err := s.sendMembership(sctx); err != nil {
			s.cfg.Log.Warn("matrixrtc: membership re-send failed", "room", s.cfg.RoomID, "err", err)
		}
	}
	if err := s.scheduleLeave(ctx); err != nil {
		s.cfg.Log.Warn("matrixrtc: rescheduling the delayed leave failed", "room", s.cfg.RoomID, "err", err)
	}
}

// restartEvery is the restart interval, kept well inside the delay.
func (s *Session) restartEvery() time.Duration {
	return min(s.cfg.LeaveDelayRestart, s.leaveDelay*5/8)
}

// dropDelayedLeave (owner) settles our delayed leave on the way out: when
// a membership is out it is sent now (true: the leave is done), else
// cancelled.
func (s *Session) dropDelayedLeave(ctx context.Context) (left bool) {
	if s.delayTimer != nil {
		s.delayTimer.Stop()
		s.delayTimer = nil
	}
	if s.delayed == nil || s.delayID == "" {
		return false
	}
	id := s.delayID
	s.delayID = ""
	action := DelayCancel
	if s.sent {
		action = DelaySend
	}
	err := s.delayed.UpdateDelayedEvent(ctx, id, action)
	if err != nil {
		s.cfg.Log.Info("matrixrtc: delayed leave", "action", string(action), "err", err)
	}
	return err == nil && action == DelaySend
}
