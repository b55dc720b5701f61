package ui

import (
	"fmt"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/theme"

	"github.com/mxcall/mxcall/assets"
	"github.com/mxcall/mxcall/callengine"
)

// SetRoom tells the view about the call's room, so it can say whether the
// call is end-to-end encrypted and the peer's devices verified. Call it on
// the UI goroutine, again whenever the room list changes.
func (s *CallScreen) SetRoom(r Room) {
	if s.hasRoom && s.room.Encrypted == r.Encrypted && s.room.Trust == r.Trust {
		return
	}
	s.room, s.hasRoom = r, true
	s.applySecurity()
	s.content.Refresh()
}

// Security returns the text of the view's encryption line ("" when hidden).
func (s *CallScreen) Security() string {
	if !s.secLine.Visible() {
		return ""
	}
	return s.secText.Text
}

func (s *CallScreen) applySecurity() {
	text, c, locked := callSecurity(s.room, s.hasRoom, s.peer.Name)
	if s.grouped {
		text, c, locked = groupSecurity(s.room, s.hasRoom, s.plainTile)
	}
	warn := s.hasRoom && s.room.Encrypted && s.room.DM && !s.grouped && s.info.State != callengine.StateEnded &&
		s.trust.text != ""
	if warn {
		// The warning line below says who and offers Verify.
		text, c = "End-to-end encrypted", secUnverifiedColor
	}
	s.trust.show(warn)
	s.secText.Text = text
	s.secText.Color = c
	s.secIcon.Resource = lockImage(locked, c)
	setVisible(s.secLine, text != "" && s.info.State != callengine.StateEnded)
	s.secIcon.Refresh()
	s.secText.Refresh()
}

// SetParticipants shows the participants of a group call (ours first) as
// a grid of tiles, or, for nil, the one-to-one view. Tiles are kept across
// calls and released when their participant leaves or the call ends. Call
// it on the UI goroutine with Group.Participants of the call, again
// whenever it changes.
func (s *CallScreen) SetParticipants(ps []Participant) {
	if s.info.State == callengine.StateEnded {
		ps = nil
	}
	if ps == nil && !s.grouped {
		return
	}
	s.grouped = ps != nil
	s.plainTile = plainTile(ps)
	s.wasGroup = s.wasGroup || s.grouped
	if ps != nil {
		s.Grid.Update(ps)
	} else {
		s.Grid.Release()
	}
	s.people = s.Grid.more
	for _, t := range s.Grid.shown {
		if !t.p.Screen { // a share is not one more person
			s.people++
		}
	}
	s.applySecurity()
	s.apply()
}

// Grouped reports whether the view shows a group call's grid.
func (s *CallScreen) Grouped() bool { return s.grouped }

// Update shows a new snapshot of the call. Call it on the UI goroutine.
func (s *CallScreen) Update(info callengine.CallInfo) {
	if info.ID != s.info.ID {
		return
	}
	if info.State == callengine.StateEnded && s.info.State != callengine.StateEnded {
		s.endedAt = s.cfg.now()
	}
	s.info = info
	s.apply()
}

func (s *CallScreen) tick() {
	if s.remoteShareChanged() {
		s.apply()
	}
	t := s.timerText()
	if t == s.timer.Text {
		return
	}
	s.timer.Text = t
	s.timer.Refresh()
	if !s.timer.Visible() {
		s.timer.Show()
		s.content.Refresh()
	}
}

// apply makes every widget match s.info.
func (s *CallScreen) apply() {
	info := s.info
	ended := info.State == callengine.StateEnded
	if ended && s.grouped {
		s.grouped, s.people = false, 0
		s.Grid.Release()
	}
	s.state.Text = s.stateLine()
	s.timer.Text = s.timerText()

	var muted []string
	if info.RemoteAudioMuted {
		muted = append(muted, "microphone")
	}
	if info.Video && info.RemoteVideoMuted {
		muted = append(muted, "camera")
	}
	switch {
	case ended || len(muted) == 0 || s.grouped:
		s.peerMuted.Text = ""
	case len(muted) == 1:
		s.peerMuted.Text = fmt.Sprintf("%s turned off their %s", s.peer.Name, muted[0])
	default:
		s.peerMuted.Text = fmt.Sprintf("%s turned off their microphone and camera", s.peer.Name)
	}

	if info.AudioMuted {
		s.Mute.SetIcon(theme.NewThemedResource(assets.MicOff))
		s.Mute.SetText("Unmute")
	} else {
		s.Mute.SetIcon(theme.NewThemedResource(assets.Mic))
		s.Mute.SetText("Mute")
	}
	if info.VideoMuted {
		s.Camera.SetIcon(theme.NewThemedResource(assets.VideocamOff))
		s.Camera.SetText("Camera on")
	} else {
		s.Camera.SetIcon(theme.NewThemedResource(assets.Videocam))
		s.Camera.SetText("Camera off")
	}
	if info.OnHold {
		s.Hold.SetIcon(theme.MediaPlayIcon())
		s.Hold.SetText("Resume")
	} else {
		s.Hold.SetIcon(theme.MediaPauseIcon())
		s.Hold.SetText("Hold")
	}

	connected := info.State == callengine.StateConnected || info.State == callengine.StateConnecting
	setVisible(s.Camera, info.Video && !ended)
	setVisible(s.Mute, !ended)
	setVisible(s.Hold, connected && !ended && !s.wasGroup)
	setVisible(s.Full, !ended)
	setVisible(s.Devices, !ended && s.act.Settings != nil)
	setVisible(s.Hangup, !ended)
	setVisible(s.BackBtn, ended)
	setVisible(s.pip, info.Video && !info.VideoMuted && !ended && !s.grouped)
	setVisible(s.Remote, !s.grouped)
	setVisible(s.groupBg, s.grouped)
	setVisible(s.Grid, s.grouped)

	if info.Video && !ended {
		s.attachSources()
	}
	if !info.Video || info.RemoteVideoMuted || ended || info.OnHold || info.RemoteOnHold || s.grouped {
		s.Remote.Clear()
	}
	if !info.Video || info.VideoMuted || ended || s.grouped {
		s.Local.Clear()
	}
	s.applyShare()
	s.applySecurity()
	setVisible(s.timer, s.timer.Text != "")
	setVisible(s.peerMuted, s.peerMuted.Text != "")
	canvas.Refresh(s.state)
	canvas.Refresh(s.timer)
	canvas.Refresh(s.peerMuted)
	s.content.Refresh()
}

func setVisible(o fyne.CanvasObject, v bool) {
	if v {
		o.Show()
	} else {
		o.Hide()
	}
}

// stateLine is the view's state text. Group calls in group rooms name
// nobody in particular: "you left" rather than "you hung up"; a group call
// says how many are in it.
func (s *CallScreen) stateLine() string {
	info := s.info
	if !s.wasGroup || s.peer.Room == "" && !s.grouped {
		return stateText(info, s.peer.Name)
	}
	switch info.State {
	case callengine.StateEnded:
		if info.EndReason == callengine.ReasonUserHangup || info.EndReason == "" {
			if info.EndedBy == callengine.PartyRemote {
				return "Call ended"
			}
			return "Call ended: you left"
		}
	case callengine.StateConnected:
		if s.grouped {
			kind := "Voice call"
			if info.Video {
				kind = "Video call"
			}
			return kind + " · " + peopleText(s.people)
		}
	}
	return stateText(info, s.peer.Name)
}

// peopleText says how many take part: "just you", "2 people".
func peopleText(n int) string {
	if n <= 1 {
		return "just you"
	}
	return fmt.Sprintf("%d people", n)
}

// timerText is the call's duration as m:ss or h:mm:ss; empty before connect.
func (s *CallScreen) timerText() string {
	if s.info.ConnectedAt.IsZero() {
		return ""
	}
	end := s.cfg.now()
	if s.info.State == callengine.StateEnded && !s.endedAt.IsZero() {
		end = s.endedAt
	}
	return FormatDuration(end.Sub(s.info.ConnectedAt))
}

// FormatDuration formats a call duration as m:ss, or h:mm:ss from an hour.
func FormatDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	sec := int(d / time.Second)
	if sec >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", sec/3600, sec/60%60, sec%60)
	}
	return fmt.Sprintf("%d:%02d", sec/60, sec%60)
}

// stateText describes the call's state for the user.
func stateText(info callengine.CallInfo, peer string) string {
	kind := "Voice call"
	if info.Video {
		kind = "Video call"
	}
	switch info.State {
	case callengine.StateGathering:
		return "Calling…"
	case callengine.StateInviteSent:
		return "Ringing…"
	case callengine.StateRinging:
		return "Incoming " + lowerFirst(kind) + "…"
	case callengine.StateAnswering:
		return "Connecting…"
	case callengine.StateConnecting:
		if !info.ConnectedAt.IsZero() {
			return "Reconnecting…"
		}
		return "Connecting…"
	case callengine.StateConnected:
		var s string
		switch {
		case info.OnHold:
			s = "On hold"
		case info.RemoteOnHold:
			s = peer + " put the call on hold"
		default:
			s = kind + " · connected"
		}
		if info.Relay {
			s += " · via relay"
		}
		return s
	case callengine.StateEnded:
		return "Call ended: " + EndText(info, peer)
	}
	return ""
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return string(s[0]+'a'-'A') + s[1:]
}

// EndText says why a call ended, naming the peer where it helps.
func EndText(info callengine.CallInfo, peer string) string {
	remote := info.EndedBy == callengine.PartyRemote
	switch info.EndReason {
	case callengine.ReasonUserHangup, "":
		if remote {
			return peer + " hung up"
		}
		return "you hung up"
	case callengine.ReasonRejected:
		if remote {
			return peer + " declined"
		}
		return "you declined"
	case callengine.ReasonInviteTimeout:
		if info.Direction == callengine.Incoming {
			return "missed call"
		}
		return "no answer"
	case callengine.ReasonUserBusy:
		return peer + " is busy"
	case callengine.ReasonICEFailed, callengine.ReasonICETimeout:
		return "the connection failed"
	case callengine.ReasonAnsweredElsewhere:
		return "answered on another device"
	case callengine.ReasonUserMediaFailed:
		if remote {
			return peer + "'s camera or microphone failed"
		}
		return "your camera or microphone failed"
	case callengine.ReasonSignallingFailed:
		return "could not reach the homeserver"
	case callengine.ReasonReplaced:
		return "replaced by another call"
	}
	return "error (" + string(info.EndReason) + ")"
}
