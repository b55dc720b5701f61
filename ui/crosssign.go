package ui

import (
	"context"
	"errors"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// SecurityStep is what the cross-signing dialog shows.
type SecurityStep int

// Steps of the cross-signing dialog.
const (
	StepPassword    SecurityStep = iota + 1 // set-up: the account password
	StepRecoveryKey                         // set-up done: the recovery key, shown once
	StepUnlock                              // enter the recovery key
	StepUnlocked                            // this device is verified
)

// SecurityView is the content of the cross-signing dialog: setting up
// cross-signing (the account password, then the new recovery key, shown
// once, with Copy and an "I saved it" confirmation before Done) and
// verifying this device with the recovery key.
type SecurityView struct {
	widget.BaseWidget

	// The widgets of the current step (nil when not shown), for tests.
	Password, RecoveryKey       *widget.Entry
	SetUp, Unlock, Copy, Done   *widget.Button
	Cancel                      *widget.Button
	Saved                       *widget.Check
	Key                         *widget.Label // the recovery key (StepRecoveryKey)
	Error                       *widget.Label
	step                        SecurityStep
	box                         *fyne.Container
	busy                        bool
	setUp, unlock, copyKey, end func(*SecurityView)
	intro                       string // StepUnlock's first paragraph
	key                         string // the recovery key shown (Copy copies it)
}

// keyLines shows a recovery key of twelve groups as two lines of six.
func keyLines(key string) string {
	g := strings.Fields(key)
	if len(g) != 12 {
		return key
	}
	return strings.Join(g[:6], " ") + "\n" + strings.Join(g[6:], " ")
}

// CreateRenderer implements fyne.Widget.
func (v *SecurityView) CreateRenderer() fyne.WidgetRenderer {
	return widget.NewSimpleRenderer(container.NewPadded(v.box))
}

// Step returns the step shown.
func (v *SecurityView) Step() SecurityStep { return v.step }

func wrapped(s string) *widget.Label {
	l := widget.NewLabel(s)
	l.Wrapping = fyne.TextWrapWord
	return l
}

// show draws step; key is the recovery key for StepRecoveryKey.
func (v *SecurityView) show(step SecurityStep, key string) {
	v.step, v.busy = step, false
	v.Password, v.RecoveryKey, v.SetUp, v.Unlock, v.Copy, v.Done, v.Cancel, v.Saved, v.Key =
		nil, nil, nil, nil, nil, nil, nil, nil, nil
	v.Error = widget.NewLabel("")
	v.Error.Importance = widget.DangerImportance
	v.Error.Wrapping = fyne.TextWrapWord
	v.Error.Hide()
	v.Cancel = widget.NewButton("Cancel", func() { v.end(v) })
	var body, buttons []fyne.CanvasObject
	switch step {
	case StepPassword:
		v.Password = widget.NewPasswordEntry()
		v.Password.SetPlaceHolder("Account password")
		v.SetUp = widget.NewButton("Set up", func() { v.setUp(v) })
		v.SetUp.Importance = widget.HighImportance
		v.Password.OnSubmitted = func(string) { v.setUp(v) }
		body = append(body, wrapped("Cross-signing lets the people who verified you trust your other devices "+
			"without verifying each one, and lets your new devices prove they are yours with a recovery key. "+
			"Your homeserver asks for your password to publish the keys."), v.Password)
		buttons = append(buttons, v.Cancel, v.SetUp)
	case StepRecoveryKey:
		v.key = key
		v.Key = widget.NewLabelWithStyle(keyLines(key), fyne.TextAlignCenter, fyne.TextStyle{Monospace: true})
		v.Key.Selectable = true
		v.Key.Wrapping = fyne.TextWrapWord
		v.Copy = widget.NewButtonWithIcon("Copy", theme.ContentCopyIcon(), func() { v.copyKey(v) })
		v.Done = widget.NewButton("Done", func() { v.end(v) })
		v.Done.Importance = widget.HighImportance
		v.Done.Disable()
		v.Saved = widget.NewCheck("I have saved my recovery key somewhere safe", func(on bool) {
			if on {
				v.Done.Enable()
			} else {
				v.Done.Disable()
			}
		})
		body = append(body, wrapped("This is your recovery key. It is shown only this once: write it down or "+
			"keep it in a password manager. With it, a new device of yours becomes trusted; "+
			"without it, you will have to verify each device again."),
			v.Key, container.NewCenter(v.Copy), v.Saved)
		buttons = append(buttons, v.Done)
		v.Cancel = nil
	case StepUnlock:
		v.RecoveryKey = widget.NewEntry()
		v.RecoveryKey.SetPlaceHolder("Recovery key (EsT… 12 groups of 4)")
		v.RecoveryKey.OnSubmitted = func(string) { v.unlock(v) }
		v.Unlock = widget.NewButton("Verify", func() { v.unlock(v) })
		v.Unlock.Importance = widget.HighImportance
		intro := v.intro
		if intro == "" {
			intro = "Enter the recovery key you saved when you set up cross-signing."
		}
		body = append(body, wrapped(intro+" This device then becomes trusted by your other devices "+
			"and by the people who verified you."), v.RecoveryKey)
		buttons = append(buttons, v.Cancel, v.Unlock)
	case StepUnlocked:
		icon := widget.NewIcon(theme.NewSuccessThemedResource(LockIcon))
		body = append(body, container.NewBorder(nil, nil, icon, nil,
			wrapped("This device is verified: your other devices and the people who verified you trust it.")))
		v.Done = widget.NewButton("Close", func() { v.end(v) })
		buttons = append(buttons, v.Done)
		v.Cancel = nil
	}
	body = append(body, v.Error)
	row := container.NewHBox(append([]fyne.CanvasObject{layout.NewSpacer()}, buttons...)...)
	v.box.Objects = []fyne.CanvasObject{container.NewBorder(nil, row, nil, nil, container.NewVBox(body...))}
	v.box.Refresh()
}

// fail shows err in words and lets the user try again.
func (v *SecurityView) fail(err error) {
	v.busy = false
	var msg string
	switch {
	case errors.Is(err, ErrWrongRecoveryKey):
		msg = "That is not your recovery key. Check it (letters and digits, spaces do not matter) and try again."
	case errors.Is(err, ErrNoRecoveryKey):
		msg = "Your account has no recovery key yet: set up cross-signing (Settings) on a device you trust."
	case errors.Is(err, ErrBadCredentials):
		msg = "Wrong password."
	default:
		msg = "It did not work: " + err.Error()
	}
	v.Error.SetText(msg)
	v.Error.Show()
	v.box.Refresh() // lays the dialog out again around the error
	for _, b := range []*widget.Button{v.SetUp, v.Unlock} {
		if b != nil {
			b.Enable()
		}
	}
}

// securityDialog is the open cross-signing dialog.
type securityDialog struct {
	d    *dialog.CustomDialog
	view *SecurityView
}

// SetUpCrossSigning opens the cross-signing set-up dialog (Settings'
// "Set up cross-signing"). It does nothing without a Security backend.
func (u *UI) SetUpCrossSigning() {
	u.openSecurity(StepPassword, "")
}

// VerifyWithRecoveryKey opens the dialog that verifies this device with
// the recovery key (Settings, and after logging in on a new device).
func (u *UI) VerifyWithRecoveryKey() {
	u.openSecurity(StepUnlock, "")
}

// SecurityDialog returns the open cross-signing dialog's view.
func (u *UI) SecurityDialog() (*SecurityView, bool) {
	if u.secDialog == nil {
		return nil, false
	}
	return u.secDialog.view, true
}

func (u *UI) openSecurity(step SecurityStep, intro string) {
	if u.be.Security == nil {
		return
	}
	u.closeSecurity()
	sd := &securityDialog{}
	v := &SecurityView{box: container.NewStack(), intro: intro}
	v.ExtendBaseWidget(v)
	v.end = func(*SecurityView) {
		u.closeSecurity()
		if u.settings != nil {
			u.loadSecurity(u.settings) // what was done shows at once
		}
	}
	v.copyKey = func(v *SecurityView) {
		if v.key != "" {
			u.app.Clipboard().SetContent(v.key)
		}
	}
	v.setUp = func(v *SecurityView) { u.securitySetUp(v) }
	v.unlock = func(v *SecurityView) { u.securityUnlock(v) }
	v.show(step, "")
	sd.view = v
	title := "Set up cross-signing"
	if step == StepUnlock {
		title = "Verify this device"
	}
	sd.d = dialog.NewCustomWithoutButtons(title, v, u.win)
	sd.d.Resize(fyne.NewSize(560, 320))
	u.secDialog = sd
	sd.d.Show()
	if v.Password != nil {
		u.win.Canvas().Focus(v.Password)
	}
	if v.RecoveryKey != nil {
		u.win.Canvas().Focus(v.RecoveryKey)
	}
}

// closeSecurity closes the dialog; the recovery key leaves the screen.
func (u *UI) closeSecurity() {
	sd := u.secDialog
	if sd == nil {
		return
	}
	u.secDialog = nil
	sd.view.key = ""
	if sd.view.Key != nil {
		sd.view.Key.SetText("")
	}
	sd.d.Hide()
}

func (u *UI) securitySetUp(v *SecurityView) {
	if v.busy || v.Password == nil {
		return
	}
	v.busy = true
	v.SetUp.Disable()
	pw := v.Password.Text
	u.securityCall(v, func(ctx context.Context) (string, error) {
		return u.be.Security.SetUpCrossSigning(ctx, pw)
	}, func(key string) {
		v.show(StepRecoveryKey, key)
		if u.secDialog != nil && u.secDialog.view == v {
			u.secDialog.d.Resize(fyne.NewSize(560, 360))
		}
	})
}

func (u *UI) securityUnlock(v *SecurityView) {
	if v.busy || v.RecoveryKey == nil {
		return
	}
	key := v.RecoveryKey.Text
	if len(key) == 0 {
		v.fail(ErrWrongRecoveryKey)
		return
	}
	v.busy = true
	v.Unlock.Disable()
	u.securityCall(v, func(ctx context.Context) (string, error) {
		return "", u.be.Security.UnlockCrossSigning(ctx, key)
	}, func(string) { v.show(StepUnlocked, "") })
}

// securityCall runs f off the UI goroutine and shows its outcome in v,
// unless v was closed meanwhile.
func (u *UI) securityCall(v *SecurityView, f func(ctx context.Context) (string, error), ok func(string)) {
	u.cfg.run(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		out, err := f(ctx)
		u.cfg.do(func() {
			if u.secDialog == nil || u.secDialog.view != v {
				return
			}
			if err != nil {
				v.fail(err)
				return
			}
			ok(out)
		})
	})
}

// promptRecovery offers, after a password login, to verify this new
// device with the recovery key when the account has cross-signing.
func (u *UI) promptRecovery() {
	if u.be.Security == nil {
		return
	}
	u.cfg.run(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		st, err := u.be.Security.CrossSigningStatus(ctx)
		if err != nil || !st.Published || st.Trusted {
			return
		}
		u.cfg.do(func() {
			if u.rooms == nil || u.secDialog != nil {
				return // logged out meanwhile, or a dialog is open
			}
			u.openSecurity(StepUnlock, "You signed in on a new device.")
		})
	})
}

// loadSecurity fills the settings screen's cross-signing row.
func (u *UI) loadSecurity(s *SettingsScreen) {
	if u.be.Security == nil {
		return
	}
	u.cfg.run(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		st, err := u.be.Security.CrossSigningStatus(ctx)
		u.cfg.do(func() {
			if u.settings == s {
				s.showSecurity(st, err, u.SetUpCrossSigning, u.VerifyWithRecoveryKey)
			}
		})
	})
}

// showSecurity shows where cross-signing stands and what can be done:
// set it up (none yet), or verify this device with the recovery key.
func (s *SettingsScreen) showSecurity(st CrossSigningStatus, err error, setUp, unlock func()) {
	var text string
	var imp widget.Importance
	var btn *widget.Button
	switch {
	case err != nil:
		text, imp = "Cross-signing: not available ("+err.Error()+")", widget.LowImportance
	case !st.Published:
		text, imp = "Cross-signing is not set up: each of your devices must be verified on its own.", widget.WarningImportance
		btn = widget.NewButton("Set up cross-signing", setUp)
	case !st.Trusted:
		text, imp = "This device is not verified: enter your recovery key so your contacts trust it.", widget.WarningImportance
		btn = widget.NewButton("Verify with recovery key", unlock)
	default:
		text, imp = "Cross-signing is set up and this device is verified.", widget.SuccessImportance
	}
	l := widget.NewLabel(text)
	l.Importance = imp
	l.Wrapping = fyne.TextWrapWord
	row := fyne.CanvasObject(l)
	if btn != nil {
		btn.Importance = widget.HighImportance
		row = container.NewBorder(nil, nil, nil, btn, l)
	}
	title := widget.NewLabelWithStyle("Encryption", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	s.Security.Objects = []fyne.CanvasObject{title, row}
	s.Security.Show()
	if c, ok := s.content.(*fyne.Container); ok {
		c.Refresh() // lays the screen out again around the new row
	}
}
