package ui

import (
	"context"
	"fmt"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/mxcall/mxcall/callengine"
)

// peerWarningText says what is wrong with name's devices, "" when nothing
// is: a new identity (cross-signing keys we have not verified, though we
// saw others first), new devices (unverified ones next to verified ones:
// they came after we verified the peer), or devices never verified.
func peerWarningText(name string, pt PeerTrust) string {
	n := len(pt.Unverified)
	switch {
	case pt.IdentityChanged:
		return name + "'s identity has changed: their new keys are not verified"
	case n == 0:
		return ""
	case pt.Verified > 0 && n == 1:
		return name + " has a new device that is not verified"
	case pt.Verified > 0:
		return fmt.Sprintf("%s has %d new devices that are not verified", name, n)
	case n == 1:
		return name + "'s device is not verified"
	}
	return name + "'s devices are not verified"
}

// peerWarning is the warning line of the call view and the incoming-call
// window: a warning icon, the text and a Verify button that starts the
// emoji verification with the peer.
type peerWarning struct {
	text   string
	verify func()
	line   *fyne.Container
	label  *canvas.Text  // over the call view's dark shade
	wlabel *widget.Label // in the incoming window
	button *widget.Button
}

func newPeerWarning(overVideo bool) peerWarning {
	w := peerWarning{}
	w.button = widget.NewButtonWithIcon("Verify", theme.NewWarningThemedResource(LockIcon), nil) // set binds it
	icon := widget.NewIcon(theme.NewWarningThemedResource(theme.WarningIcon()))
	if overVideo {
		w.label = canvas.NewText("", secUnverifiedColor)
		w.label.TextSize = theme.CaptionTextSize() + 1
		w.line = container.NewCenter(container.NewHBox(icon, container.NewCenter(w.label), w.button))
	} else {
		w.wlabel = widget.NewLabel("")
		w.wlabel.Importance = widget.WarningImportance
		w.wlabel.Wrapping = fyne.TextWrapWord
		w.wlabel.Alignment = fyne.TextAlignCenter
		// A wrapped label asks for one line until it is laid out: keep
		// room for two.
		text := container.New(twoLines{}, w.wlabel)
		w.line = container.NewVBox(container.NewBorder(nil, nil, icon, nil, text), container.NewCenter(w.button))
	}
	w.line.Hide()
	return w
}

// set takes a new reading of the peer's devices.
func (w *peerWarning) set(name string, pt PeerTrust, verify func()) {
	w.text = peerWarningText(name, pt)
	w.verify = verify
	w.button.OnTapped = func() {
		if w.verify != nil {
			w.verify()
		}
	}
	if w.label != nil {
		w.label.Text = w.text
		w.label.Refresh()
	}
	if w.wlabel != nil {
		w.wlabel.SetText(w.text)
	}
	setVisible(w.button, verify != nil)
}

// show shows or hides the line (hidden also without a text).
func (w *peerWarning) show(on bool) {
	setVisible(w.line, on && w.text != "")
}

// SetPeerTrust shows a warning about the peer's unverified devices (with
// Verify running verify; nil hides the button) while the call is not
// over. Call it on the UI goroutine.
func (s *CallScreen) SetPeerTrust(pt PeerTrust, verify func()) {
	s.trust.set(s.peer.Name, pt, verify)
	s.applySecurity()
	s.content.Refresh()
}

// PeerWarning returns the warning about the peer's devices ("" when none
// is shown) and its Verify button.
func (s *CallScreen) PeerWarning() (string, *widget.Button) {
	if !s.trust.line.Visible() {
		return "", nil
	}
	return s.trust.text, s.trust.button
}

// SetPeerTrust shows a warning about the caller's unverified devices, with
// a Verify button running verify (nil hides it). Not for group rooms.
func (s *IncomingScreen) SetPeerTrust(pt PeerTrust, verify func()) {
	s.trust.set(s.name, pt, verify)
	s.trust.show(true)
}

// PeerWarning returns the warning about the caller's devices ("" when
// none is shown) and its Verify button.
func (s *IncomingScreen) PeerWarning() (string, *widget.Button) {
	if !s.trust.line.Visible() {
		return "", nil
	}
	return s.trust.text, s.trust.button
}

// trustFetches keeps one PeerTrust fetch per peer at a time; a change
// while one runs fetches again when it ends.
type trustFetches struct {
	busy, again map[string]bool
}

// refreshTrust reads the peer's devices for the current one-to-one call
// and every ringing call in an encrypted direct chat, and shows what it
// finds. It runs when a call view or incoming window opens and whenever
// the room list changes (the backend sends one when a peer's devices do).
func (u *UI) refreshTrust() {
	if u.be.Security == nil {
		return
	}
	if c := u.call; c != nil && c.Info().State != callengine.StateEnded && !c.grouped {
		u.fetchTrust(c.Info().RoomID, c.Info().Peer)
	}
	for _, iw := range u.incoming {
		u.fetchTrust(iw.roomID, iw.peer)
	}
}

func (u *UI) fetchTrust(roomID, peer string) {
	r, ok := u.room(roomID)
	if !ok || !r.Encrypted || !r.DM || peer == "" {
		return
	}
	if u.trust.busy == nil {
		u.trust.busy, u.trust.again = map[string]bool{}, map[string]bool{}
	}
	if u.trust.busy[peer] {
		u.trust.again[peer] = true
		return
	}
	u.trust.busy[peer] = true
	u.cfg.run(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		pt, err := u.be.Security.PeerTrust(ctx, peer)
		u.cfg.do(func() {
			delete(u.trust.busy, peer)
			if err == nil {
				u.applyTrust(roomID, pt)
			}
			if u.trust.again[peer] {
				delete(u.trust.again, peer)
				u.fetchTrust(roomID, peer)
			}
		})
	})
}

// applyTrust shows pt in the views of calls with its user.
func (u *UI) applyTrust(roomID string, pt PeerTrust) {
	var verify func()
	if u.be.Verify != nil {
		verify = func() {
			if r, ok := u.room(roomID); ok {
				u.VerifyRoom(r)
			}
		}
	}
	if c := u.call; c != nil && c.Info().Peer == pt.UserID && c.Info().RoomID == roomID {
		c.SetPeerTrust(pt, verify)
	}
	for _, iw := range u.incoming {
		if iw.peer == pt.UserID && iw.roomID == roomID {
			iw.screen.SetPeerTrust(pt, verify)
			if w, _ := iw.screen.PeerWarning(); w != "" {
				iw.win.Resize(incomingSizeWarned)
			}
		}
	}
}

// twoLines lays out its objects at its full size, at least two lines of
// text tall.
type twoLines struct{}

func (twoLines) Layout(objs []fyne.CanvasObject, s fyne.Size) {
	for _, o := range objs {
		o.Move(fyne.Position{})
		o.Resize(s)
	}
}

func (twoLines) MinSize(objs []fyne.CanvasObject) fyne.Size {
	line := fyne.MeasureText("Ag", theme.TextSize(), fyne.TextStyle{}).Height
	m := fyne.NewSize(0, 2*line+2*theme.InnerPadding())
	for _, o := range objs {
		m = m.Max(fyne.NewSize(o.MinSize().Width, 0))
	}
	return m
}
