package ui

import (
	"context"
	"fmt"
	"image/color"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// SettingsScreen picks the camera, microphone, speaker and video
// resolution, with a live camera preview, and, where MatrixRTC calls are
// possible, whether direct chats still use legacy calls.
type SettingsScreen struct {
	widget.BaseWidget

	Camera     *widget.Select
	Microphone *widget.Select
	Speaker    *widget.Select
	Resolution *widget.Select
	// Legacy is bound to Settings.LegacyCalls; hidden without group
	// calls (every call is a legacy one then).
	Legacy  *widget.Check
	Preview *VideoView
	Error   *widget.Label
	// Security is the cross-signing row (crosssign.go); hidden without a
	// Security backend.
	Security *fyne.Container

	media       Media
	cfg         *config
	settings    Settings
	devs        map[DeviceKind][]Device
	res         []Resolution
	stopPreview func()
	content     fyne.CanvasObject
}

// NewSettingsScreen returns the settings screen; back runs when the user
// leaves it. Call Start when it is shown and Stop when it is taken down.
func NewSettingsScreen(media Media, back func(), opts ...Option) *SettingsScreen {
	return newSettingsScreen(media, back, false, applyOpts(opts))
}

// newSettingsScreen is NewSettingsScreen; rtc shows the legacy-calls
// choice.
func newSettingsScreen(media Media, back func(), rtc bool, cfg *config) *SettingsScreen {
	s := &SettingsScreen{media: media, cfg: cfg, devs: map[DeviceKind][]Device{}}
	s.settings = media.Settings()
	s.Camera = widget.NewSelect(nil, nil)
	s.Microphone = widget.NewSelect(nil, nil)
	s.Speaker = widget.NewSelect(nil, nil)
	s.Resolution = widget.NewSelect(nil, nil)
	for _, sel := range []*widget.Select{s.Camera, s.Microphone, s.Speaker, s.Resolution} {
		sel.PlaceHolder = "System default"
	}
	s.Error = widget.NewLabel("")
	s.Error.Importance = widget.DangerImportance
	s.Error.Hide()
	s.loadDevices()
	s.bindPickers()
	s.Legacy = widget.NewCheck("Use legacy calls in direct chats", nil)
	s.Legacy.Checked = s.settings.LegacyCalls
	s.Legacy.OnChanged = func(on bool) {
		if on == s.settings.LegacyCalls {
			return
		}
		s.settings.LegacyCalls = on
		s.apply()
	}
	setVisible(s.Legacy, rtc)

	msg := canvas.NewText("No camera picture", color.NRGBA{0xc0, 0xc0, 0xc0, 0xff})
	msg.Alignment = fyne.TextAlignCenter
	s.Preview = NewVideoView(container.NewCenter(msg))
	s.Preview.do = cfg.do
	s.Preview.hidden = &cfg.hidden

	backBtn := widget.NewButtonWithIcon("Back", theme.NavigateBackIcon(), func() {
		if back != nil {
			back()
		}
	})
	form := widget.NewForm(
		widget.NewFormItem("Camera", s.Camera),
		widget.NewFormItem("Microphone", s.Microphone),
		widget.NewFormItem("Speaker", s.Speaker),
		widget.NewFormItem("Video resolution", s.Resolution),
	)
	title := widget.NewLabelWithStyle("Settings", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	s.Security = container.NewVBox()
	s.Security.Hide()
	top := container.NewVBox(container.NewBorder(nil, nil, backBtn, nil, title), form, s.Legacy, s.Security, s.Error,
		widget.NewLabelWithStyle("Camera preview", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}))
	s.content = container.NewPadded(container.NewBorder(top, nil, nil, nil, s.Preview))
	s.ExtendBaseWidget(s)
	return s
}

// CreateRenderer implements fyne.Widget.
func (s *SettingsScreen) CreateRenderer() fyne.WidgetRenderer {
	return widget.NewSimpleRenderer(s.content)
}

// loadDevices fills the pickers (on the UI goroutine; device listing is
// quick and local).
func (s *SettingsScreen) loadDevices() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	fill := func(sel *widget.Select, kind DeviceKind, cur string) {
		devs, err := s.media.Devices(ctx, kind)
		if err != nil {
			s.showError(fmt.Sprintf("Could not list %ss: %v", kind, err))
		}
		s.devs[kind] = devs
		labels := make([]string, len(devs))
		for i, d := range devs {
			labels[i] = d.Label
			if d.ID == cur {
				sel.Selected = d.Label
			}
		}
		sel.Options = labels
		sel.Refresh()
	}
	fill(s.Camera, Camera, s.settings.Camera)
	fill(s.Microphone, Microphone, s.settings.Microphone)
	fill(s.Speaker, Speaker, s.settings.Speaker)

	s.res = s.media.Resolutions()
	labels := make([]string, len(s.res))
	for i, r := range s.res {
		labels[i] = resolutionLabel(r)
		if r == s.settings.Resolution {
			s.Resolution.Selected = labels[i]
		}
	}
	s.Resolution.Options = labels
	s.Resolution.Refresh()
}

// bindPickers makes the pickers store and apply the user's choice.
func (s *SettingsScreen) bindPickers() {
	device := func(kind DeviceKind, set func(*Settings, string)) func(string) {
		return func(label string) {
			for _, d := range s.devs[kind] {
				if d.Label == label {
					set(&s.settings, d.ID)
					s.apply()
					return
				}
			}
		}
	}
	s.Camera.OnChanged = device(Camera, func(st *Settings, id string) { st.Camera = id })
	s.Microphone.OnChanged = device(Microphone, func(st *Settings, id string) { st.Microphone = id })
	s.Speaker.OnChanged = device(Speaker, func(st *Settings, id string) { st.Speaker = id })
	s.Resolution.OnChanged = func(label string) {
		for _, r := range s.res {
			if resolutionLabel(r) == label {
				s.settings.Resolution = r
				s.apply()
				return
			}
		}
	}
}

func resolutionLabel(r Resolution) string {
	name := ""
	switch r.Height {
	case 360:
		name = " (low)"
	case 480:
		name = " (SD)"
	case 720:
		name = " (HD)"
	case 1080:
		name = " (Full HD)"
	}
	return fmt.Sprintf("%d×%d%s", r.Width, r.Height, name)
}

func (s *SettingsScreen) apply() {
	st := s.settings
	s.cfg.run(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := s.media.ApplySettings(ctx, st)
		s.cfg.do(func() {
			if err != nil {
				s.showError("Could not apply settings: " + err.Error())
				return
			}
			s.Error.Hide()
		})
	})
}

func (s *SettingsScreen) showError(msg string) {
	s.Error.SetText(msg)
	s.Error.Show()
}

// Start opens the camera preview.
func (s *SettingsScreen) Start() {
	stop, err := s.media.StartPreview(context.Background())
	if err != nil {
		s.showError("Camera preview failed: " + err.Error())
		return
	}
	s.stopPreview = stop
	s.Preview.SetSource(s.media.LocalVideo())
	if !s.cfg.static {
		s.Preview.Start(s.cfg.videoRate)
	}
}

// Stop closes the camera preview. Idempotent.
func (s *SettingsScreen) Stop() {
	s.Preview.Stop()
	if s.stopPreview != nil {
		s.stopPreview()
		s.stopPreview = nil
	}
}
