package ui

import (
	"context"
	"time"

	"fyne.io/fyne/v2/theme"

	"github.com/mxcall/mxcall/callengine"
)

// do runs action on the runner; what went wrong stays on screen until the
// next action (call updates do not erase it), and failed (may be nil) runs
// on the UI goroutine after a failure.
func (s *CallScreen) do(what string, action func(ctx context.Context) error, failed func()) {
	s.showActionError("")
	s.cfg.run(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := action(ctx); err != nil {
			s.cfg.do(func() {
				s.showActionError("Could not " + what + ": " + err.Error())
				if failed != nil {
					failed()
				}
			})
		}
	})
}

// showActionError shows msg under the call state ("" hides it).
func (s *CallScreen) showActionError(msg string) {
	s.actErr.Text = msg
	setVisible(s.actErr, msg != "")
	s.actErr.Refresh()
}

// ActionError is the error of the last failed action, "" if none.
func (s *CallScreen) ActionError() string { return s.actErr.Text }

func (s *CallScreen) toggleMute() {
	id, m := s.info.ID, !s.info.AudioMuted
	s.do("change the microphone", func(ctx context.Context) error { return s.calls.SetAudioMuted(ctx, id, m) }, nil)
}

func (s *CallScreen) toggleCamera() {
	id, m := s.info.ID, !s.info.VideoMuted
	s.do("change the camera", func(ctx context.Context) error { return s.calls.SetVideoMuted(ctx, id, m) }, nil)
}

func (s *CallScreen) toggleHold() {
	id, h := s.info.ID, !s.info.OnHold
	s.do("change hold", func(ctx context.Context) error { return s.calls.SetHold(ctx, id, h) }, nil)
}

func (s *CallScreen) hangup() {
	id := s.info.ID
	s.Hangup.Disable()
	s.do("hang up", func(ctx context.Context) error { return s.calls.Hangup(ctx, id) }, s.Hangup.Enable)
}

// toggleShare opens the share picker, or stops our share.
func (s *CallScreen) toggleShare() {
	s.showActionError("")
	if s.sharing {
		if s.act.StopShare != nil {
			s.act.StopShare()
		}
		return
	}
	if s.act.ShareScreen != nil {
		s.act.ShareScreen()
	}
}

// SetSharing shows whether we share a screen in the call: the "You are
// sharing your screen" line and the share control's text. Call it on the
// UI goroutine.
func (s *CallScreen) SetSharing(on bool) {
	if s.sharing == on {
		return
	}
	s.sharing = on
	s.apply()
}

// Sharing reports whether the view shows that we share a screen.
func (s *CallScreen) Sharing() bool { return s.sharing }

// ShowsRemoteScreen reports whether the view shows the peer's shared
// screen.
func (s *CallScreen) ShowsRemoteScreen() bool { return s.screenSrc != nil }

// applyShare makes the share controls and the peer's shared screen match
// the call (part of apply).
func (s *CallScreen) applyShare() {
	info := s.info
	ended := info.State == callengine.StateEnded
	if ended {
		s.sharing = false
	}
	if s.sharing {
		s.Share.SetIcon(theme.MediaStopIcon())
		s.Share.SetText("Stop sharing")
	} else {
		s.Share.SetIcon(theme.ComputerIcon())
		s.Share.SetText("Share screen")
	}
	canShare := s.act.ShareScreen != nil && s.act.StopShare != nil && s.media != nil
	setVisible(s.Share, canShare && !ended && (info.State == callengine.StateConnected || s.sharing))
	setVisible(s.shareLine, s.sharing)

	src := s.remoteScreen()
	if src != s.screenSrc {
		s.screenSrc = src
		if src == nil {
			s.Screen.Stop()
			s.Screen.Clear()
		} else {
			s.Screen.SetSource(src)
			if s.started && !s.cfg.static {
				s.Screen.Start(s.cfg.videoRate)
			}
		}
	}
	setVisible(s.Screen, src != nil)
	// While the share fills the view, the peer's camera is a picture in
	// picture, left out when it sends none.
	if src != nil && (!info.Video || info.RemoteVideoMuted) {
		s.Remote.Hide()
	}
	setVisible(s.camBorder, src != nil && s.Remote.Visible())
}

// remoteScreen is the peer's shared screen to show now, nil for none
// (the call is on hold, ended or a group call).
func (s *CallScreen) remoteScreen() FrameSource {
	i := s.info
	if s.media == nil || s.grouped || i.ID == "" || i.State == callengine.StateEnded || i.OnHold || i.RemoteOnHold {
		return nil
	}
	return s.media.RemoteScreen(i.ID)
}

// remoteShareChanged reports whether the peer started or stopped sharing
// since the view last looked (the timer's tick looks once a second, in
// case no call update came with it).
func (s *CallScreen) remoteShareChanged() bool { return s.remoteScreen() != s.screenSrc }
