package ui

import (
	"image/color"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/mxcall/mxcall/assets"
	"github.com/mxcall/mxcall/callengine"
)

// IncomingActions are the answers the incoming-call screen offers.
type IncomingActions struct {
	Accept  func(video bool)
	Decline func()
}

// IncomingScreen is the content of the incoming-call window: caller name
// and avatar (for a call in a group room: the room's, and who calls),
// accept with video, accept voice-only, decline. Names too long for the
// window are cut short with "…".
type IncomingScreen struct {
	widget.BaseWidget

	AcceptVideo *widget.Button
	AcceptVoice *widget.Button
	Decline     *widget.Button

	info    callengine.CallInfo
	name    string      // the caller's
	trust   peerWarning // the caller's unverified devices (peertrust.go)
	title   *canvas.Text
	what    *widget.Label
	from    *widget.Label
	content fyne.CanvasObject
}

// Texts returns the window's heading (as drawn, maybe cut short), the kind
// of call and the line under it.
func (s *IncomingScreen) Texts() (title, kind, from string) {
	return s.title.Text, s.what.Text, s.from.Text
}

// incomingKind is "Incoming video call", "Incoming group voice call" etc.
func incomingKind(info callengine.CallInfo, group bool) string {
	kind := "voice call"
	if info.Video {
		kind = "video call"
	}
	if group {
		kind = "group " + kind
	}
	return "Incoming " + kind
}

// fitText lays out one canvas.Text at its container's width, cut short
// with "…" when full does not fit.
type fitText struct{ full string }

func (f *fitText) Layout(objs []fyne.CanvasObject, s fyne.Size) {
	for _, o := range objs {
		if t, ok := o.(*canvas.Text); ok {
			t.Text = ellipsize(f.full, t.TextSize, t.TextStyle, s.Width)
		}
		o.Move(fyne.Position{})
		o.Resize(s)
	}
}

func (f *fitText) MinSize(objs []fyne.CanvasObject) fyne.Size {
	var m fyne.Size
	for _, o := range objs {
		m = m.Max(fyne.NewSize(0, o.MinSize().Height))
	}
	return m
}

// NewIncomingScreen returns the screen for the ringing call info from peer.
func NewIncomingScreen(info callengine.CallInfo, peer Peer, act IncomingActions) *IncomingScreen {
	s := &IncomingScreen{info: info, trust: newPeerWarning(false)}
	name := peer.Name
	if name == "" {
		name = peer.ID
	}
	s.name = name
	heading, avatarID, line := name, peer.ID, peer.ID
	if peer.Room != "" {
		heading, avatarID, line = peer.Room, info.RoomID, ""
		if name != "" {
			line = "from " + name
		}
	}
	title := canvas.NewText(heading, theme.Color(theme.ColorNameForeground))
	title.TextSize = 22
	title.TextStyle.Bold = true
	title.Alignment = fyne.TextAlignCenter
	s.title = title
	what := widget.NewLabel(incomingKind(info, peer.Room != ""))
	what.Alignment = fyne.TextAlignCenter
	what.Truncation = fyne.TextTruncateEllipsis
	id := widget.NewLabel(line)
	id.Alignment = fyne.TextAlignCenter
	id.Importance = widget.LowImportance
	id.Truncation = fyne.TextTruncateEllipsis
	s.what, s.from = what, id

	accept := func(video bool) func() {
		return func() {
			s.disable()
			if act.Accept != nil {
				act.Accept(video)
			}
		}
	}
	s.AcceptVideo = widget.NewButtonWithIcon("Video", theme.NewThemedResource(assets.Videocam), accept(true))
	s.AcceptVideo.Importance = widget.SuccessImportance
	s.AcceptVoice = widget.NewButtonWithIcon("Voice only", theme.NewThemedResource(assets.Phone), accept(false))
	s.AcceptVoice.Importance = widget.SuccessImportance
	s.Decline = widget.NewButtonWithIcon("Decline", theme.NewThemedResource(assets.Hangup), func() {
		s.disable()
		if act.Decline != nil {
			act.Decline()
		}
	})
	s.Decline.Importance = widget.DangerImportance
	if !info.Video {
		s.AcceptVideo.Hide()
		s.AcceptVoice.SetText("Accept")
	}
	buttons := container.NewHBox(layout.NewSpacer(), s.Decline, s.AcceptVoice, s.AcceptVideo, layout.NewSpacer())
	// A band of the theme's primary colour fading into the background, so
	// the window stands out from the main one even without decorations.
	r, g, b, _ := theme.Color(theme.ColorNamePrimary).RGBA()
	top := color.NRGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), 0x70}
	bg := canvas.NewVerticalGradient(top, color.Transparent)
	s.content = container.NewStack(bg, container.NewPadded(container.NewVBox(
		container.NewCenter(NewAvatar(avatarID, heading, peer.Avatar, 96)),
		container.New(&fitText{full: heading}, title), what, id, layout.NewSpacer(), s.trust.line, buttons,
	)))
	s.ExtendBaseWidget(s)
	return s
}

func (s *IncomingScreen) disable() {
	s.AcceptVideo.Disable()
	s.AcceptVoice.Disable()
	s.Decline.Disable()
}

// CreateRenderer implements fyne.Widget.
func (s *IncomingScreen) CreateRenderer() fyne.WidgetRenderer {
	return widget.NewSimpleRenderer(s.content)
}
