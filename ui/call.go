package ui

import (
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
	// ShareScreen opens the share picker; StopShare stops our share. The
	// view offers sharing only when both are set.
	ShareScreen, StopShare func()
}

// Peer is how the UI names and draws the other party.
type Peer struct {
	ID     string
	Name   string
	Avatar image.Image
	// Room is the room's name when the call is in a group (not direct)
	// room: the views then name the room rather than the caller.
	Room string
}

// CallScreen shows one call. A one-to-one call shows the remote video
// (aspect kept) or, for voice calls and a muted camera, the peer's avatar,
// and our own camera picture in picture; while the peer shares a screen,
// the share fills the view and their camera becomes a picture in picture
// too. A group call (one with participants, see SetParticipants) shows a
// grid of tiles instead. Both have the state, the timer and the controls,
// and while we share a screen, a line that says so with a Stop button.
type CallScreen struct {
	widget.BaseWidget

	Remote *VideoView
	Local  *VideoView
	// Screen shows the screen the peer of a one-to-one call shares
	// (Media.RemoteScreen); hidden while they share none.
	Screen *VideoView
	// Share opens the share picker ("Share screen"), or stops our share
	// ("Stop sharing"); StopShare is the Stop of the "You are sharing
	// your screen" line.
	Share     *widget.Button
	StopShare *widget.Button
	// Grid holds the tiles of a group call; hidden for one-to-one calls.
	Grid    *Grid
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
	trust     peerWarning // the peer's unverified devices (peertrust.go)
	voice     fyne.CanvasObject
	controls  *fyne.Container
	pip       *fyne.Container
	top       fyne.CanvasObject // the shaded name, state and timer
	bottom    fyne.CanvasObject // the control bar
	groupBg   *canvas.Rectangle
	shareLine *fyne.Container   // "You are sharing your screen" and StopShare
	camBorder *canvas.Rectangle // frames the peer's camera while their share fills the view

	sharing   bool        // we share a screen (SetSharing)
	screenSrc FrameSource // the peer's shared screen, nil while none
	started   bool        // Start ran (and Stop did not since)

	grouped bool // showing the grid (the call has participants)
	// plainTile names the first participant whose media is not end-to-end
	// encrypted (groupSecurity's reading of the grid; "" when all are).
	plainTile string
	people    int  // how many participants the call has
	joining   bool // opened by JoinCall: bind the call's first update by room
	wasGroup  bool // joining, or has had participants: a group call

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
	gone    bool // Stop has told cfg.callGone
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
	title, avatarID := s.peer.Name, peer.ID
	if peer.Room != "" {
		title, avatarID = peer.Room, info.RoomID
	}
	s.name = canvas.NewText(title, callTextColor)
	s.name.TextSize = 22
	s.name.TextStyle.Bold = true
	s.name.Alignment = fyne.TextAlignCenter
	s.state = canvas.NewText("", callTextColor)
	s.state.Alignment = fyne.TextAlignCenter
	s.timer = canvas.NewText("", callTextColor)
	s.timer.Alignment = fyne.TextAlignCenter
	// The regular style's digits are tabular already (Noto Sans: "12:34"
	// is as wide as "00:00"), so the timer does not jitter. A monospace
	// timer kept Fyne's faces for one more style, about 10 MB of Go heap
	// from the first call on (Fyne parses its text and emoji fonts once
	// per style).
	s.peerMuted = canvas.NewText("", color.NRGBA{0xff, 0xc0, 0x40, 0xff})
	s.peerMuted.Alignment = fyne.TextAlignCenter
	s.actErr = canvas.NewText("", color.NRGBA{0xff, 0x80, 0x80, 0xff})
	s.actErr.Alignment = fyne.TextAlignCenter
	s.actErr.Hide()
	s.secIcon, s.secText, s.secLine = newSecurityLine()
	s.trust = newPeerWarning(true)

	// Voice panel: shown for voice calls and while remote video is missing.
	big := NewAvatar(avatarID, title, peer.Avatar, 160)
	s.voice = container.NewCenter(container.NewVBox(container.NewCenter(big)))
	s.Remote = NewVideoView(container.NewStack(canvas.NewRectangle(color.NRGBA{0x20, 0x24, 0x2c, 0xff}), s.voice))
	s.Local = NewVideoView(nil)
	s.Remote.do, s.Local.do = cfg.do, cfg.do
	s.Remote.hidden, s.Local.hidden = &cfg.hidden, &cfg.hidden
	// The self-view is painted with the remote picture: one repaint of
	// the window per remote frame, not one per frame of each.
	s.Remote.Lead(s.Local)
	s.Screen = NewVideoView(nil)
	s.Screen.do, s.Screen.hidden = cfg.do, &cfg.hidden
	s.Screen.Hide()
	s.Grid = newGrid(cfg)
	s.Grid.Hide()
	s.groupBg = canvas.NewRectangle(color.NRGBA{0x10, 0x12, 0x16, 0xff})
	s.groupBg.Hide()

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
	s.Share = widget.NewButtonWithIcon("Share screen", theme.ComputerIcon(), s.toggleShare)
	s.StopShare = widget.NewButtonWithIcon("Stop", theme.MediaStopIcon(), func() {
		if s.act.StopShare != nil {
			s.act.StopShare()
		}
	})
	s.StopShare.Importance = widget.DangerImportance
	sharingMsg := canvas.NewText(sharingText, color.NRGBA{0xff, 0x90, 0x90, 0xff})
	sharingMsg.TextStyle.Bold = true
	s.shareLine = container.NewHBox(layout.NewSpacer(), container.NewCenter(sharingMsg), s.StopShare, layout.NewSpacer())
	s.shareLine.Hide()
	s.controls = container.NewHBox(layout.NewSpacer(), s.Mute, s.Camera, s.Share, s.Hold, s.Devices, s.Full, s.Hangup, s.BackBtn, layout.NewSpacer())

	shade := canvas.NewRectangle(color.NRGBA{0, 0, 0, 0x90})
	info1 := container.NewVBox(s.name, s.secLine, s.trust.line, s.state, s.timer, s.peerMuted, s.actErr, s.shareLine)
	top := container.NewStack(shade, container.NewPadded(info1))
	barBg := canvas.NewRectangle(color.NRGBA{0, 0, 0, 0x90})
	bottom := container.NewStack(barBg, container.NewPadded(s.controls))
	s.top, s.bottom = top, bottom
	border := canvas.NewRectangle(color.Transparent)
	border.StrokeColor = color.NRGBA{0xff, 0xff, 0xff, 0xc0}
	border.StrokeWidth = 2
	s.pip = container.New(&pipLayout{}, s.Local, border)
	s.camBorder = canvas.NewRectangle(color.Transparent)
	s.camBorder.StrokeColor = color.NRGBA{0xff, 0xff, 0xff, 0xc0}
	s.camBorder.StrokeWidth = 2
	s.camBorder.Hide()
	s.content = container.New(callLayout{s}, s.Screen, s.Remote, s.camBorder, s.pip, s.groupBg, s.Grid, container.NewBorder(top, bottom, nil, nil))
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

// Start begins drawing video and ticking the timer.
func (s *CallScreen) Start() {
	s.attachSources()
	s.started = true
	if s.cfg.static {
		return
	}
	if s.screenSrc != nil {
		s.Screen.Start(s.cfg.videoRate)
	}
	if s.info.Video {
		s.Remote.Start(s.cfg.videoRate)
		s.Local.Start(s.cfg.videoRate)
	}
	s.Grid.Start(s.cfg.videoRate)
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

// logStats logs the repaint rates of both video views and of the group
// call grid's tiles until stop.
func (s *CallScreen) logStats(stop chan struct{}, id string) {
	t := time.NewTicker(s.cfg.statsIvl)
	defer t.Stop()
	_, lastG := s.Grid.Repaints()
	lastR, lastL, lastU, last := s.Remote.Repaints(), s.Local.Repaints(), s.Remote.Updates(), time.Now()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			r, l, u := s.Remote.Repaints(), s.Local.Repaints(), s.Remote.Updates()
			tiles, g := s.Grid.Repaints()
			gd := g - lastG
			if g < lastG { // a tile left with its count
				gd = g
			}
			sec := now.Sub(last).Seconds()
			s.cfg.statsLog.Info("video repaint", "call", id,
				"remote_fps", float64(r-lastR)/sec, "local_fps", float64(l-lastL)/sec,
				"grid_tiles", tiles, "grid_fps", float64(gd)/sec,
				"window_updates_per_s", float64(u-lastU)/sec)
			lastR, lastL, lastU, lastG, last = r, l, u, g, now
		}
	}
}

// Stop ends video drawing and the timer and lets go of the video's
// pictures and frame sources (see VideoView.Release): call it when the
// screen is taken down. Idempotent.
func (s *CallScreen) Stop() {
	s.started = false
	s.Remote.Release()
	s.Local.Release()
	s.Screen.Release()
	s.screenSrc = nil
	s.Grid.Release()
	if s.stopTmr != nil {
		close(s.stopTmr)
		s.stopTmr = nil
	}
	if fn := s.cfg.callGone; fn != nil && !s.gone {
		s.gone = true
		fn()
	}
}

func (s *CallScreen) attachSources() {
	if s.media == nil || !s.info.Video || s.info.State == callengine.StateEnded || s.grouped {
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

// pipLayout puts its one object in the bottom-right corner, a quarter of
// the width (at most 320 px) with a 4:3 shape, above the control bar.
type pipLayout struct{}

func (pipLayout) Layout(objs []fyne.CanvasObject, s fyne.Size) {
	pos, size := pipBox(s, false)
	for _, o := range objs {
		o.Resize(size)
		o.Move(pos)
	}
}

// pipBox is where a picture in picture goes in a view of size s: bottom
// right (ours), or bottom left (the peer's camera while their shared
// screen fills the view); a quarter of the width (at most 320 px), 4:3,
// above the control bar.
func pipBox(s fyne.Size, left bool) (fyne.Position, fyne.Size) {
	w := fyne.Min(s.Width/4, 320)
	h := w * 3 / 4
	pad := theme.Padding() * 2
	const barSpace = 64 // the control bar
	x := s.Width - w - pad
	if left {
		x = pad
	}
	return fyne.NewPos(x, s.Height-h-pad-barSpace), fyne.NewSize(w, h)
}

func (pipLayout) MinSize([]fyne.CanvasObject) fyne.Size { return fyne.NewSize(0, 0) }

// callLayout stacks the call view's layers, all of its size (the one-to-one
// view draws the bars over the video), except the grid of a group call,
// which goes between the top and bottom bars so they cover no tile.
type callLayout struct{ s *CallScreen }

func (l callLayout) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	for _, o := range objs {
		o.Move(fyne.Position{})
		o.Resize(size)
	}
	s := l.s
	if s.screenSrc != nil && !s.grouped {
		// The peer's share fills the view; their camera goes to the
		// bottom left.
		pos, sz := pipBox(size, true)
		for _, o := range []fyne.CanvasObject{s.Remote, s.camBorder} {
			o.Move(pos)
			o.Resize(sz)
		}
	}
	if !s.grouped {
		return
	}
	pad := theme.Padding()
	top, bottom := s.top.MinSize().Height, s.bottom.MinSize().Height
	s.Grid.Move(fyne.NewPos(pad, top+pad))
	s.Grid.Resize(fyne.NewSize(fyne.Max(size.Width-2*pad, 0), fyne.Max(size.Height-top-bottom-2*pad, 0)))
}

func (callLayout) MinSize(objs []fyne.CanvasObject) fyne.Size {
	var m fyne.Size
	for _, o := range objs {
		if o.Visible() {
			m = m.Max(o.MinSize())
		}
	}
	return m
}
