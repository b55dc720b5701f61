package ui

import (
	"context"
	"image/color"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/mxcall/mxcall/callengine"
)

// sharingText is what the sharing bar and the call view say while we
// share.
const sharingText = "You are sharing your screen"

// shareState is the UI's screen share: the picker while it is open, and
// while sharing, the call and the always-on-top bar with its Stop button.
type shareState struct {
	picker *SharePicker
	dlg    *dialog.CustomDialog
	callID string // the call we share in ("" when not sharing)
	bar    fyne.Window
	barScr *SharingBar
}

// SharingBar is the content of the small always-on-top window shown while
// we share: it says so and has the Stop button, so that sharing can be
// stopped even when our main window is behind the shared one.
type SharingBar struct {
	widget.BaseWidget

	// Stop stops sharing.
	Stop    *widget.Button
	text    *canvas.Text
	content fyne.CanvasObject
}

// NewSharingBar returns the bar; stop runs when Stop is tapped.
func NewSharingBar(stop func()) *SharingBar {
	b := &SharingBar{}
	b.text = canvas.NewText(sharingText, theme.Color(theme.ColorNameForeground))
	b.text.TextStyle.Bold = true
	dot := canvas.NewCircle(color.NRGBA{0xe0, 0x30, 0x30, 0xff})
	b.Stop = widget.NewButtonWithIcon("Stop", theme.MediaStopIcon(), stop)
	b.Stop.Importance = widget.DangerImportance
	r, g, bl, _ := theme.Color(theme.ColorNamePrimary).RGBA()
	bg := canvas.NewRectangle(color.NRGBA{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8), 0x40})
	b.content = container.NewStack(bg, container.NewPadded(container.NewHBox(
		container.New(&dotLayout{}, dot), container.NewCenter(b.text), layout.NewSpacer(), b.Stop)))
	b.ExtendBaseWidget(b)
	return b
}

// Text returns what the bar says.
func (b *SharingBar) Text() string { return b.text.Text }

// CreateRenderer implements fyne.Widget.
func (b *SharingBar) CreateRenderer() fyne.WidgetRenderer { return widget.NewSimpleRenderer(b.content) }

// dotLayout draws a 12 px dot, centred in its height.
type dotLayout struct{}

func (dotLayout) Layout(objs []fyne.CanvasObject, s fyne.Size) {
	for _, o := range objs {
		o.Resize(fyne.NewSquareSize(12))
		o.Move(fyne.NewPos((s.Width-12)/2, (s.Height-12)/2))
	}
}

func (dotLayout) MinSize([]fyne.CanvasObject) fyne.Size { return fyne.NewSquareSize(16) }

// SharePicker returns the open share picker, if any.
func (u *UI) SharePicker() *SharePicker { return u.share.picker }

// SharingBar returns the sharing bar and its window while we share.
func (u *UI) SharingBar() (*SharingBar, fyne.Window, bool) {
	if u.share.bar == nil {
		return nil, nil, false
	}
	return u.share.barScr, u.share.bar, true
}

// ShareScreen opens the share picker for the current call; Share in it
// starts sharing the chosen source.
func (u *UI) ShareScreen() {
	c := u.call
	if c == nil || c.Info().ID == "" || u.be.Media == nil || u.share.picker != nil {
		return
	}
	callID := c.Info().ID
	var p *SharePicker
	p = newSharePicker(u.be.Media, u.cfg, func(src ScreenSource) { u.startShare(p, callID, src) }, u.closePicker)
	d := dialog.NewCustomWithoutButtons("Share your screen", p, u.win)
	d.SetButtons([]fyne.CanvasObject{p.Cancel, p.Share})
	d.SetOnClosed(func() {
		p.Close()
		if u.share.picker == p {
			u.share.picker, u.share.dlg = nil, nil
		}
	})
	u.share.picker, u.share.dlg = p, d
	d.Show()
	ws := u.win.Canvas().Size()
	d.Resize(fyne.NewSize(fyne.Min(880, fyne.Max(ws.Width-40, 640)), fyne.Min(600, fyne.Max(ws.Height-40, 440))))
}

// closePicker closes the share picker, if open.
func (u *UI) closePicker() {
	if d := u.share.dlg; d != nil {
		d.Hide() // runs SetOnClosed's function
	}
	if p := u.share.picker; p != nil {
		p.Close()
		u.share.picker, u.share.dlg = nil, nil
	}
}

// startShare asks the backend to share src in callID; the picker stays
// open, saying what went wrong, when it fails.
func (u *UI) startShare(p *SharePicker, callID string, src ScreenSource) {
	p.Share.Disable()
	p.Message.SetText("Starting to share " + src.Title + "…")
	u.cfg.run(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		err := u.be.Calls.StartScreenshare(ctx, callID, src.ID)
		u.cfg.do(func() {
			if err != nil {
				p.Share.Enable()
				p.Message.SetText("Could not share: " + err.Error())
				p.Message.Importance = widget.DangerImportance
				p.Message.Refresh()
				return
			}
			if u.share.picker == p {
				u.closePicker()
			}
			c := u.call
			if c == nil || c.Info().ID != callID || c.Info().State == callengine.StateEnded {
				// The call went while the share started.
				u.cfg.run(func() { _ = u.be.Calls.StopScreenshare(context.Background(), callID) })
				return
			}
			u.sharing(callID, src)
		})
	})
}

// sharing shows that we share src in callID: the call view's indicator
// and the always-on-top bar.
func (u *UI) sharing(callID string, src ScreenSource) {
	u.share.callID = callID
	if u.call != nil {
		u.call.SetSharing(true)
	}
	if u.share.bar == nil {
		scr := NewSharingBar(u.StopSharing)
		w := u.app.NewWindow("Sharing your screen – MX Call")
		w.SetContent(scr)
		w.Resize(fyne.NewSize(360, 56))
		w.SetFixedSize(true)
		w.SetCloseIntercept(u.StopSharing) // closing the bar stops sharing
		u.share.bar, u.share.barScr = w, scr
		w.Show()
		keepOnTop(w)
	}
}

// StopSharing stops our screen share (from the bar, the call view's Stop
// or its control).
func (u *UI) StopSharing() {
	id := u.share.callID
	if id == "" {
		return
	}
	u.sharingEnded()
	u.cfg.run(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := u.be.Calls.StopScreenshare(ctx, id); err != nil {
			u.cfg.do(func() {
				if u.call != nil && u.call.Info().ID == id {
					u.call.showActionError("Could not stop sharing: " + err.Error())
				}
			})
		}
	})
}

// sharingEnded takes down the sharing bar and the call view's indicator
// (the call ended, or we stopped).
func (u *UI) sharingEnded() {
	id := u.share.callID
	u.share.callID = ""
	if u.share.bar != nil {
		u.closeWindowSoon(u.share.bar)
		u.share.bar, u.share.barScr = nil, nil
	}
	if u.call != nil && u.call.Info().ID == id {
		u.call.SetSharing(false)
	}
}
