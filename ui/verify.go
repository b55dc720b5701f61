package ui

import (
	"context"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// VerifyView is the content of the verification dialog: what to do at
// each step, the seven emoji with their names to compare, and Confirm /
// They don't match / Cancel.
type VerifyView struct {
	widget.BaseWidget

	v   Verification
	act verifyActions
	box *fyne.Container

	// The buttons of the current step (nil when not shown), for tests.
	Accept, Confirm, Mismatch, Cancel, Close *widget.Button
}

type verifyActions struct {
	accept, confirm, close func()
	cancel                 func(mismatch bool)
}

func newVerifyView(v Verification, act verifyActions) *VerifyView {
	w := &VerifyView{act: act, box: container.NewStack()}
	w.ExtendBaseWidget(w)
	w.Update(v)
	return w
}

// CreateRenderer implements fyne.Widget.
func (w *VerifyView) CreateRenderer() fyne.WidgetRenderer {
	return widget.NewSimpleRenderer(container.NewPadded(w.box))
}

// Verification returns the snapshot shown.
func (w *VerifyView) Verification() Verification { return w.v }

func peerLabel(v Verification) string {
	if v.PeerName != "" {
		return v.PeerName
	}
	return v.Peer
}

// Update shows a new snapshot of the verification.
func (w *VerifyView) Update(v Verification) {
	w.v = v
	w.Accept, w.Confirm, w.Mismatch, w.Cancel, w.Close = nil, nil, nil, nil, nil
	who := peerLabel(v)
	text := func(s string) *widget.Label {
		l := widget.NewLabel(s)
		l.Wrapping = fyne.TextWrapWord
		return l
	}
	cancel := func() *widget.Button {
		w.Cancel = widget.NewButton("Cancel", func() { w.act.cancel(false) })
		return w.Cancel
	}
	var body []fyne.CanvasObject
	var buttons []fyne.CanvasObject
	switch v.State {
	case VerifyRequested:
		body = append(body, text(who+" wants to verify your device. Accept when you are in touch with them "+
			"(in person or on a call you trust); you will then compare emoji."))
		w.Accept = widget.NewButton("Accept", w.act.accept)
		w.Accept.Importance = widget.HighImportance
		buttons = append(buttons, cancel(), w.Accept)
	case VerifyWaiting, VerifyUnknown:
		body = append(body, text("Waiting for "+who+" to accept on one of their devices…"), widget.NewProgressBarInfinite())
		buttons = append(buttons, cancel())
	case VerifyReady:
		body = append(body, text("Starting the emoji comparison with "+who+"…"), widget.NewProgressBarInfinite())
		buttons = append(buttons, cancel())
	case VerifyShowSAS, VerifyConfirmed:
		body = append(body, text("Compare these emoji with the ones on "+who+"'s screen. "+
			"They must be the same, in the same order."), emojiGrid(v.Emoji))
		if v.State == VerifyConfirmed {
			body = append(body, text("Waiting for "+who+" to confirm…"))
			buttons = append(buttons, cancel())
			break
		}
		if v.TheyConfirmed {
			body = append(body, text(who+" says the emoji match. Confirm if you see the same."))
		}
		w.Mismatch = widget.NewButton("They don't match", func() { w.act.cancel(true) })
		w.Mismatch.Importance = widget.DangerImportance
		w.Confirm = widget.NewButton("Confirm", w.act.confirm)
		w.Confirm.Importance = widget.SuccessImportance
		buttons = append(buttons, cancel(), w.Mismatch, w.Confirm)
	case VerifyDone:
		icon := widget.NewIcon(theme.NewSuccessThemedResource(LockIcon))
		body = append(body, container.NewBorder(nil, nil, icon, nil, text(who+"'s device is verified. "+
			"Calls with them show as verified while their devices stay the same.")))
	case VerifyCancelled:
		msg := "The verification was cancelled"
		if v.Reason != "" {
			msg += ": " + v.Reason
		}
		if v.Mismatch {
			msg = "The emoji did not match, so nothing was verified. Someone may be intercepting the " +
				"connection: do not trust this device until you verify it again."
		}
		body = append(body, text(msg+"."))
	}
	if v.State.Ended() {
		w.Close = widget.NewButton("Close", w.act.close)
		buttons = append(buttons, w.Close)
	}
	row := container.NewHBox(append([]fyne.CanvasObject{layout.NewSpacer()}, buttons...)...)
	w.box.Objects = []fyne.CanvasObject{container.NewBorder(nil, row, nil, nil, container.NewVBox(body...))}
	w.box.Refresh()
}

// emojiGrid shows the emoji large, each over its name, in one row of
// seven (as Element shows them).
func emojiGrid(es []SASEmoji) fyne.CanvasObject {
	cells := make([]fyne.CanvasObject, 0, len(es))
	for _, e := range es {
		glyph := canvas.NewText(e.Emoji, theme.Color(theme.ColorNameForeground))
		glyph.TextSize = 40
		glyph.Alignment = fyne.TextAlignCenter
		name := widget.NewLabelWithStyle(e.Name, fyne.TextAlignCenter, fyne.TextStyle{})
		name.SizeName = theme.SizeNameCaptionText
		cells = append(cells, container.NewVBox(glyph, name))
	}
	return container.NewGridWithColumns(max(len(cells), 1), cells...)
}

// verifyDialog is one open verification dialog.
type verifyDialog struct {
	d    *dialog.CustomDialog
	view *VerifyView
	in   fyne.Window // the incoming-call window it opened in, if any
}

// verifySize is the verification dialog's size; an incoming-call window
// that shows one grows to verifyWindowSize meanwhile.
var (
	verifySize       = fyne.NewSize(600, 340)
	verifyWindowSize = fyne.NewSize(640, 420)
)

// verificationChanged shows a verification's new state: in its dialog,
// opened for a new request or one we started.
func (u *UI) verificationChanged(v Verification) {
	if v.PeerName == "" {
		v.PeerName = u.peerName(v.Peer)
	}
	if vd, ok := u.verifs[v.ID]; ok {
		vd.view.Update(v)
		return
	}
	if v.State.Ended() {
		return // one we never showed, or closed
	}
	u.openVerify(v)
}

func (u *UI) openVerify(v Verification) {
	vd := &verifyDialog{}
	id := v.ID
	act := verifyActions{
		accept: func() {
			u.verifyCall(func(ctx context.Context) error { return u.be.Verify.AcceptVerification(ctx, id) })
		},
		confirm: func() {
			u.verifyCall(func(ctx context.Context) error { return u.be.Verify.ConfirmVerification(ctx, id) })
		},
		cancel: func(mismatch bool) {
			u.verifyCall(func(ctx context.Context) error { return u.be.Verify.CancelVerification(ctx, id, mismatch) })
		},
		close: func() { u.closeVerify(id) },
	}
	vd.view = newVerifyView(v, act)
	// While the peer's call rings, the dialog opens in its window, which
	// stays above the main one.
	parent := u.win
	for _, iw := range u.incoming {
		if iw.peer == v.Peer {
			parent, vd.in = iw.win, iw.win
			iw.win.Resize(verifyWindowSize)
			break
		}
	}
	vd.d = dialog.NewCustomWithoutButtons("Verify "+peerLabel(v), vd.view, parent)
	// Wrapped labels report one line as their minimum height: give the
	// dialog room for the text, the emoji and the buttons.
	vd.d.Resize(verifySize)
	u.verifs[id] = vd
	vd.d.Show()
}

func (u *UI) closeVerify(id string) {
	if vd, ok := u.verifs[id]; ok {
		delete(u.verifs, id)
		vd.d.Hide()
		for _, iw := range u.incoming {
			if iw.win == vd.in {
				iw.win.Resize(incomingSizeWarned)
			}
		}
	}
}

// verifyCall runs a verification step off the UI goroutine; a failure is
// shown in a dialog (the state comes back through the subscription).
func (u *UI) verifyCall(f func(ctx context.Context) error) {
	u.cfg.run(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := f(ctx); err != nil {
			u.cfg.do(func() { dialog.ShowError(err, u.win) })
		}
	})
}

// VerifyRoom asks the peer of an encrypted DM to verify (the room list's
// Verify button).
func (u *UI) VerifyRoom(r Room) {
	if u.be.Verify == nil || r.Peer == "" {
		return
	}
	u.verifyCall(func(ctx context.Context) error {
		_, err := u.be.Verify.StartVerification(ctx, r.ID, r.Peer)
		return err
	})
}

// Verification returns the dialog view of a verification, if open.
func (u *UI) Verification(id string) (*VerifyView, bool) {
	vd, ok := u.verifs[id]
	if !ok {
		return nil, false
	}
	return vd.view, true
}

// peerName finds a user's display name among the DMs.
func (u *UI) peerName(userID string) string {
	for _, r := range u.lastRooms.Rooms {
		if r.DM && r.Peer == userID && r.Name != "" {
			return r.Name
		}
	}
	return ""
}
