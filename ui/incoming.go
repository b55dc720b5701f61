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
// and avatar, accept with video, accept voice-only, decline.
type IncomingScreen struct {
	widget.BaseWidget

	AcceptVideo *widget.Button
	AcceptVoice *widget.Button
	Decline     *widget.Button

	info    callengine.CallInfo
	content fyne.CanvasObject
}

// NewIncomingScreen returns the screen for the ringing call info from peer.
func NewIncomingScreen(info callengine.CallInfo, peer Peer, act IncomingActions) *IncomingScreen {
	s := &IncomingScreen{info: info}
	name := peer.Name
	if name == "" {
		name = peer.ID
	}
	title := canvas.NewText(name, theme.Color(theme.ColorNameForeground))
	title.TextSize = 22
	title.TextStyle.Bold = true
	title.Alignment = fyne.TextAlignCenter
	kind := "Incoming voice call"
	if info.Video {
		kind = "Incoming video call"
	}
	what := widget.NewLabel(kind)
	what.Alignment = fyne.TextAlignCenter
	id := widget.NewLabel(peer.ID)
	id.Alignment = fyne.TextAlignCenter
	id.Importance = widget.LowImportance

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
		container.NewCenter(NewAvatar(peer.ID, name, peer.Avatar, 96)),
		title, what, id, layout.NewSpacer(), buttons,
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
