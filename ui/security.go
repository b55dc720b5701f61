package ui

import (
	"fmt"
	"image/color"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// Material Design icons (Apache License 2.0): lock, lock_open.
const (
	lockPath     = `M18 8h-1V6c0-2.76-2.24-5-5-5S7 3.24 7 6v2H6c-1.1 0-2 .9-2 2v10c0 1.1.9 2 2 2h12c1.1 0 2-.9 2-2V10c0-1.1-.9-2-2-2zm-6 9c-1.1 0-2-.9-2-2s.9-2 2-2 2 .9 2 2-.9 2-2 2zm3.1-9H8.9V6c0-1.71 1.39-3.1 3.1-3.1 1.71 0 3.1 1.39 3.1 3.1v2z`
	lockOpenPath = `M12 17c1.1 0 2-.9 2-2s-.9-2-2-2-2 .9-2 2 .9 2 2 2zm6-9h-1V6c0-2.76-2.24-5-5-5S7 3.24 7 6h1.9c0-1.71 1.39-3.1 3.1-3.1 1.71 0 3.1 1.39 3.1 3.1v2H6c-1.1 0-2 .9-2 2v10c0 1.1.9 2 2 2h12c1.1 0 2-.9 2-2V10c0-1.1-.9-2-2-2zm0 12H6V10h12v10z`
)

func svgIcon(name, path, fill string) fyne.Resource {
	return fyne.NewStaticResource(name, []byte(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><path fill="`+
		fill+`" d="`+path+`"/></svg>`))
}

var (
	// LockIcon marks an end-to-end encrypted room (themed: foreground color).
	LockIcon = svgIcon("lock.svg", lockPath, "#000000")
	// LockOpenIcon marks a room that is not encrypted.
	LockOpenIcon = svgIcon("lock-open.svg", lockOpenPath, "#000000")
)

// Colors of the security line over the call view's dark shade.
var (
	secVerifiedColor   = color.NRGBA{0x7c, 0xe0, 0x9a, 0xff}
	secUnverifiedColor = color.NRGBA{0xff, 0xc0, 0x40, 0xff}
	secPlainColor      = color.NRGBA{0xb8, 0xbc, 0xc4, 0xff}
)

// roomSecurity describes a room's encryption and the peer's devices for the
// room list: an icon and a short text with its importance.
func roomSecurity(r Room) (fyne.Resource, string, widget.Importance) {
	if !r.Encrypted {
		return theme.NewDisabledResource(LockOpenIcon), "Not encrypted", widget.LowImportance
	}
	if !r.DM {
		return theme.NewThemedResource(LockIcon), "Encrypted", widget.MediumImportance
	}
	switch r.Trust {
	case TrustVerified:
		return theme.NewSuccessThemedResource(LockIcon), "Encrypted · verified", widget.SuccessImportance
	case TrustUnverified:
		return theme.NewWarningThemedResource(LockIcon), "Encrypted · unverified devices", widget.WarningImportance
	}
	return theme.NewThemedResource(LockIcon), "Encrypted", widget.MediumImportance
}

// securityRow is the room list's icon-and-label for roomSecurity.
func securityRow(r Room) fyne.CanvasObject {
	res, text, imp := roomSecurity(r)
	l := widget.NewLabel(text)
	l.Importance = imp
	l.Truncation = fyne.TextTruncateEllipsis
	return container.NewBorder(nil, nil, widget.NewIcon(res), nil, l)
}

// callSecurity is the call view's line about encryption: text and color
// (drawn over the dark shade). peer names the other party; the unverified
// text says where to verify them (the room list's Verify button).
func callSecurity(r Room, known bool, peer string) (string, color.Color, bool) {
	switch {
	case !known:
		return "", secPlainColor, false
	case !r.Encrypted:
		return "Not encrypted", secPlainColor, false
	case r.Trust == TrustVerified:
		return "End-to-end encrypted · " + peer + "'s devices are verified", secVerifiedColor, true
	case r.Trust == TrustUnverified:
		return "End-to-end encrypted · " + peer + " has unverified devices: verify them from the room list", secUnverifiedColor, true
	}
	return "End-to-end encrypted", callTextColor, true
}

// plainTile names (as "your" or "NAME's") the first participant whose
// media is not end-to-end encrypted; "" when every one's is.
func plainTile(ps []Participant) string {
	for _, p := range ps {
		if !p.Encrypted {
			if p.Local {
				return "your"
			}
			return tileName(p) + "'s"
		}
	}
	return ""
}

// groupSecurity is the encryption line of a group call in room r: "end-to-end
// encrypted" only when every participant's media is (each member has its
// own key); otherwise it names (plain, see plainTile) one whose media is not.
func groupSecurity(r Room, known bool, plain string) (string, color.Color, bool) {
	switch {
	case !known || !r.Encrypted:
		return callSecurity(r, known, "")
	case plain != "":
		return "Not end-to-end encrypted: " + plain + " media is not", secUnverifiedColor, false
	}
	return "End-to-end encrypted · every participant's media", callTextColor, true
}

// lockImage is a lock (or open lock) icon of a fixed color for the call view.
func lockImage(locked bool, c color.Color) fyne.Resource {
	r, g, b, _ := c.RGBA()
	fill := fmt.Sprintf("#%02x%02x%02x", r>>8, g>>8, b>>8)
	if locked {
		return svgIcon("lock-"+fill[1:]+".svg", lockPath, fill)
	}
	return svgIcon("lock-open-"+fill[1:]+".svg", lockOpenPath, fill)
}

// missedText is the title of a missed call that could not be decrypted.
func missedText(m MissedCall) string {
	who := m.SenderName
	if who == "" {
		who = m.Sender
	}
	return "Missed call? " + who + "'s message could not be decrypted"
}

// missedDetail is its second line: when, and why.
func missedDetail(m MissedCall, now time.Time) string {
	parts := []string{whenText(m.Time, now)}
	if m.Reason != "" {
		parts = append(parts, m.Reason)
	}
	return strings.Join(parts, " · ")
}

// whenText is a short time: 15:04 today, "Mon 15:04" this week, else a date.
func whenText(t, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	t = t.In(now.Location()) // the clock's zone: local in the app, fixed in tests
	y1, m1, d1 := t.Date()
	y2, m2, d2 := now.Date()
	switch {
	case y1 == y2 && m1 == m2 && d1 == d2:
		return t.Format("15:04")
	case now.Sub(t) < 6*24*time.Hour && now.After(t):
		return t.Format("Mon 15:04")
	case y1 == y2:
		return t.Format("2 Jan 15:04")
	}
	return t.Format("2 Jan 2006")
}

// newSecurityLine returns the call view's security line: an icon and a text.
func newSecurityLine() (*canvas.Image, *canvas.Text, *fyne.Container) {
	icon := canvas.NewImageFromResource(lockImage(true, callTextColor))
	icon.FillMode = canvas.ImageFillContain
	icon.SetMinSize(fyne.NewSquareSize(16))
	text := canvas.NewText("", callTextColor)
	text.TextSize = theme.CaptionTextSize() + 1
	return icon, text, container.NewCenter(container.NewHBox(icon, text))
}
