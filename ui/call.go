package ui

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/mxcall/mxcall/assets"
	"github.com/mxcall/mxcall/callengine"
)

// CallActions are what the call view asks its owner to do.
type CallActions struct {
	// FullScreen toggles the window's full-screen mode.
	FullScreen func()
	// Back leaves the view of an ended call.
	Back func()
	// Settings opens the device settings (camera, microphone, speaker).
	Settings func()
}

// Peer is how the UI names and draws the other party.
type Peer struct {
	ID     string
	Name   string
	Avatar image.Image
}

// CallScreen shows one call: the remote video (aspect kept) or, for voice
// calls and a muted camera, the peer's avatar; our own camera picture in
// picture; the state, the timer and the controls.
type CallScreen struct {
	widget.BaseWidget

	Remote  *VideoView
	Local   *VideoView
	Mute    *widget.Button
	Camera  *widget.Button
	Hold    *widget.Button
	Full    *widget.Button
	Devices *widget.Button
	Hangup  *widget.Button
	BackBtn *widget.Button

	name      *canvas.Text
	state     *canvas.Text
	timer     *canvas.Text
	peerMuted *canvas.Text
	actErr    *canvas.Text // the last failed action's error, until the next action
	secIcon   *canvas.Image
	secText   *canvas.Text
	secLine   *fyne.Container
	voice     fyne.CanvasObject
	controls  *fyne.Container
	pip       *fyne.Container

	calls   Calls
	media   Media
	cfg     *config
	act     CallActions
	peer    Peer
	room    Room
	hasRoom bool // room is known (from the room list's last snapshot)
	info    callengine.CallInfo
	endedAt time.Time
	stopTmr chan struct{}
	content fyne.CanvasObject
}

// callTextColor is used for text drawn over video.
var callTextColor = color.NRGBA{0xff, 0xff, 0xff, 0xff}

// NewCallScreen returns the view of call info with peer. Call Start when it
// is shown, Stop when it is taken down, and Update with every CallInfo.
func NewCallScreen(info callengine.CallInfo, peer Peer, calls Calls, media Media, act CallActions, opts ...Option) *CallScreen {
	return newCallScreen(info, peer, calls, media, act, applyOpts(opts))
}

func newCallScreen(info callengine.CallInfo, peer Peer, calls Calls, media Media, act CallActions, cfg *config) *CallScreen {
	s := &CallScreen{calls: calls, media: media, cfg: cfg, act: act, peer: peer, info: info}
	if peer.Name == "" {
		s.peer.Name = peer.ID
	}
	s.name = canvas.NewText(s.peer.Name, callTextColor)
	s.name.TextSize = 22
	s.name.TextStyle.Bold = true
	s.name.Alignment = fyne.TextAlignCenter
	s.state = canvas.NewText("", callTextColor)
	s.state.Alignment = fyne.TextAlignCenter
	s.timer = canvas.NewText("", callTextColor)
	s.timer.Alignment = fyne.TextAlignCenter
	s.timer.TextStyle.Monospace = true
	s.peerMuted = canvas.NewText("", color.NRGBA{0xff, 0xc0, 0x40, 0xff})
	s.peerMuted.Alignment = fyne.TextAlignCenter
	s.actErr = canvas.NewText("", color.NRGBA{0xff, 0x80, 0x80, 0xff})
	s.actErr.Alignment = fyne.TextAlignCenter
	s.actErr.Hide()
	s.secIcon, s.secText, s.secLine = newSecurityLine()

	// Voice panel: shown for voice calls and while remote video is missing.
	big := NewAvatar(peer.ID, s.peer.Name, peer.Avatar, 160)
	s.voice = container.NewCenter(container.NewVBox(container.NewCenter(big)))
	s.Remote = NewVideoView(container.NewStack(canvas.NewRectangle(color.NRGBA{0x20, 0x24, 0x2c, 0xff}), s.voice))
	s.Local = NewVideoView(nil)
	s.Remote.do, s.Local.do = cfg.do, cfg.do

	s.Mute = widget.NewButtonWithIcon("Mute", theme.NewThemedResource(assets.Mic), s.toggleMute)
	s.Camera = widget.NewButtonWithIcon("Camera", theme.NewThemedResource(assets.Videocam), s.toggleCamera)
	s.Hold = widget.NewButtonWithIcon("Hold", theme.MediaPauseIcon(), s.toggleHold)
	s.Full = widget.NewButtonWithIcon("", theme.ViewFullScreenIcon(), func() {
		if s.act.FullScreen != nil {
			s.act.FullScreen()
		}
	})
	s.Devices = widget.NewButtonWithIcon("", theme.SettingsIcon(), func() {
		if s.act.Settings != nil {
			s.act.Settings()
		}
	})
	s.Hangup = widget.NewButtonWithIcon("Hang up", theme.NewThemedResource(assets.Hangup), s.hangup)
	s.Hangup.Importance = widget.DangerImportance
	s.BackBtn = widget.NewButtonWithIcon("Back to rooms", theme.NavigateBackIcon(), func() {
		if s.act.Back != nil {
			s.act.Back()
		}
	})
	s.BackBtn.Importance = widget.HighImportance
	s.BackBtn.Hide()
	s.controls = container.NewHBox(layout.NewSpacer(), s.Mute, s.Camera, s.Hold, s.Devices, s.Full, s.Hangup, s.BackBtn, layout.NewSpacer())

	shade := canvas.NewRectangle(color.NRGBA{0, 0, 0, 0x90})
	info1 := container.NewVBox(s.name, s.secLine, s.state, s.timer, s.peerMuted, s.actErr)
	top := container.NewStack(shade, container.NewPadded(info1))
	barBg := canvas.NewRectangle(color.NRGBA{0, 0, 0, 0x90})
	bottom := container.NewStack(barBg, container.NewPadded(s.controls))
	border := canvas.NewRectangle(color.Transparent)
	border.StrokeColor = color.NRGBA{0xff, 0xff, 0xff, 0xc0}
	border.StrokeWidth = 2
	s.pip = container.New(&pipLayout{}, s.Local, border)
	s.content = container.NewStack(s.Remote, s.pip, container.NewBorder(top, bottom, nil, nil))
	s.ExtendBaseWidget(s)
	s.apply()
	return s
}

// CreateRenderer implements fyne.Widget.
func (s *CallScreen) CreateRenderer() fyne.WidgetRenderer {
	return widget.NewSimpleRenderer(s.content)
}

// Info returns the last CallInfo shown.
func (s *CallScreen) Info() callengine.CallInfo { return s.info }

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
	s.secText.Text = text
	s.secText.Color = c
	s.secIcon.Resource = lockImage(locked, c)
	setVisible(s.secLine, text != "" && s.info.State != callengine.StateEnded)
	s.secIcon.Refresh()
	s.secText.Refresh()
}

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

// Start begins drawing video and ticking the timer.
func (s *CallScreen) Start() {
	s.attachSources()
	if s.cfg.static {
		return
	}
	if s.info.Video {
		s.Remote.Start(s.cfg.videoRate)
		s.Local.Start(s.cfg.videoRate)
	}
	if s.stopTmr == nil {
		stop := make(chan struct{})
		s.stopTmr = stop
		go func() {
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					s.cfg.do(s.tick)
				}
			}
		}()
		if s.cfg.statsLog != nil && s.cfg.statsIvl > 0 && s.info.Video {
			go s.logStats(stop, s.info.ID)
		}
	}
}

// logStats logs the repaint rates of both video views until stop.
func (s *CallScreen) logStats(stop chan struct{}, id string) {
	t := time.NewTicker(s.cfg.statsIvl)
	defer t.Stop()
	lastR, lastL, last := s.Remote.Repaints(), s.Local.Repaints(), time.Now()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			r, l := s.Remote.Repaints(), s.Local.Repaints()
			sec := now.Sub(last).Seconds()
			s.cfg.statsLog.Info("video repaint", "call", id,
				"remote_fps", float64(r-lastR)/sec, "local_fps", float64(l-lastL)/sec)
			lastR, lastL, last = r, l, now
		}
	}
}

// Stop ends video drawing and the timer. Idempotent.
func (s *CallScreen) Stop() {
	s.Remote.Stop()
	s.Local.Stop()
	if s.stopTmr != nil {
		close(s.stopTmr)
		s.stopTmr = nil
	}
}

func (s *CallScreen) attachSources() {
	if s.media == nil || !s.info.Video || s.info.State == callengine.StateEnded {
		return
	}
	i := s.info
	if !i.RemoteVideoMuted && !i.OnHold && !i.RemoteOnHold {
		if src := s.media.RemoteVideo(i.ID); src != nil {
			s.Remote.SetSource(src)
		}
	}
	if !i.VideoMuted {
		if src := s.media.LocalVideo(); src != nil {
			s.Local.SetSource(src)
		}
	}
}

func (s *CallScreen) tick() {
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
	s.state.Text = stateText(info, s.peer.Name)
	s.timer.Text = s.timerText()

	var muted []string
	if info.RemoteAudioMuted {
		muted = append(muted, "microphone")
	}
	if info.Video && info.RemoteVideoMuted {
		muted = append(muted, "camera")
	}
	switch {
	case ended || len(muted) == 0:
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
	setVisible(s.Hold, connected && !ended)
	setVisible(s.Full, !ended)
	setVisible(s.Devices, !ended && s.act.Settings != nil)
	setVisible(s.Hangup, !ended)
	setVisible(s.BackBtn, ended)
	setVisible(s.pip, info.Video && !info.VideoMuted && !ended)

	if info.Video && !ended {
		s.attachSources()
	}
	if !info.Video || info.RemoteVideoMuted || ended || info.OnHold || info.RemoteOnHold {
		s.Remote.Clear()
	}
	if !info.Video || info.VideoMuted || ended {
		s.Local.Clear()
	}
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

// pipLayout puts its one object in the bottom-right corner, a quarter of
// the width (at most 320 px) with a 4:3 shape, above the control bar.
type pipLayout struct{}

func (pipLayout) Layout(objs []fyne.CanvasObject, s fyne.Size) {
	w := fyne.Min(s.Width/4, 320)
	h := w * 3 / 4
	pad := theme.Padding() * 2
	const barSpace = 64 // the control bar
	for _, o := range objs {
		o.Resize(fyne.NewSize(w, h))
		o.Move(fyne.NewPos(s.Width-w-pad, s.Height-h-pad-barSpace))
	}
}

func (pipLayout) MinSize([]fyne.CanvasObject) fyne.Size { return fyne.NewSize(0, 0) }
