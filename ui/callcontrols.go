package ui

import (
	"context"
	"time"
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
