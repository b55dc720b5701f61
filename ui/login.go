package ui

import (
	"context"
	"errors"
	"fmt"
	"image/color"
	"strings"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/mxcall/mxcall/assets"
)

// LoginScreen asks for a Matrix ID, homeserver and password.
//
// When the user ID looks complete the homeserver is looked up through
// Auth.Discover and filled in, unless the user has edited it by hand.
type LoginScreen struct {
	widget.BaseWidget

	UserID     *widget.Entry
	Homeserver *widget.Entry
	Password   *widget.Entry
	Submit     *widget.Button
	// Error shows what went wrong, in words; empty when nothing did.
	Error    *widget.Label
	Status   *widget.Label
	activity *widget.Activity

	auth    Auth
	cfg     *config
	onLogin func(Session)
	content fyne.CanvasObject

	mu           sync.Mutex
	hsEdited     bool // the user typed a homeserver
	settingHS    bool // we are filling it in ourselves
	discoverTmr  *time.Timer
	discoveredID string
	loggingIn    bool // UI goroutine only
	discoverErr  bool // the error shown came from discovery; UI goroutine only
}

// discoverDelay is how long typing must pause before the homeserver is
// looked up.
const discoverDelay = 500 * time.Millisecond

// NewLoginScreen returns the login screen; onLogin runs on the UI goroutine
// after a successful login.
func NewLoginScreen(auth Auth, onLogin func(Session), opts ...Option) *LoginScreen {
	return newLoginScreen(auth, onLogin, applyOpts(opts))
}

func applyOpts(opts []Option) *config {
	c := defaultConfig()
	for _, o := range opts {
		o(c)
	}
	return c
}

func newLoginScreen(auth Auth, onLogin func(Session), cfg *config) *LoginScreen {
	s := &LoginScreen{auth: auth, cfg: cfg, onLogin: onLogin}
	s.UserID = widget.NewEntry()
	s.UserID.SetPlaceHolder("@alice:example.org")
	s.Homeserver = widget.NewEntry()
	s.Homeserver.SetPlaceHolder("https://matrix.example.org")
	s.Password = widget.NewPasswordEntry()
	s.Password.SetPlaceHolder("Password")
	s.Submit = widget.NewButtonWithIcon("Log in", theme.LoginIcon(), s.login)
	s.Submit.Importance = widget.HighImportance
	s.Error = widget.NewLabel("")
	s.Error.Importance = widget.DangerImportance
	s.Error.Wrapping = fyne.TextWrapWord
	s.Error.Hide()
	s.Status = widget.NewLabel("")
	s.Status.Hide()
	s.activity = widget.NewActivity()
	s.activity.Hide()

	s.UserID.OnChanged = s.userIDChanged
	s.UserID.OnSubmitted = func(string) { s.discoverNow() }
	s.Homeserver.OnChanged = func(string) {
		s.mu.Lock()
		if !s.settingHS {
			s.hsEdited = true
		}
		s.mu.Unlock()
	}
	s.Password.OnSubmitted = func(string) { s.login() }

	logo := canvas.NewImageFromResource(assets.Icon)
	logo.FillMode = canvas.ImageFillContain
	logo.SetMinSize(fyne.NewSquareSize(96))
	title := canvas.NewText("MX Call", theme.Color(theme.ColorNameForeground))
	title.TextSize = 28
	title.TextStyle.Bold = true
	title.Alignment = fyne.TextAlignCenter
	sub := widget.NewLabel("Video calls over Matrix")
	sub.Alignment = fyne.TextAlignCenter

	form := widget.NewForm(
		widget.NewFormItem("Matrix ID", s.UserID),
		widget.NewFormItem("Homeserver", s.Homeserver),
		widget.NewFormItem("Password", s.Password),
	)
	progress := container.NewHBox(s.activity, s.Status)
	box := container.NewVBox(logo, title, sub, form, s.Error, container.NewCenter(progress), s.Submit)
	s.content = container.NewVScroll(container.NewCenter(container.New(fixedWidth(420), box)))
	s.ExtendBaseWidget(s)
	return s
}

// CreateRenderer implements fyne.Widget.
func (s *LoginScreen) CreateRenderer() fyne.WidgetRenderer {
	return widget.NewSimpleRenderer(s.content)
}

// looksComplete reports whether id could be a full user ID worth looking up.
func looksComplete(id string) bool {
	id = strings.TrimSpace(id)
	i := strings.IndexByte(id, ':')
	return strings.HasPrefix(id, "@") && i > 1 && i < len(id)-1
}

func (s *LoginScreen) userIDChanged(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.discoverTmr != nil {
		s.discoverTmr.Stop()
	}
	if !looksComplete(id) || s.hsEdited || s.cfg.static {
		return
	}
	s.discoverTmr = time.AfterFunc(discoverDelay, func() { s.cfg.do(s.discoverNow) })
}

// discoverNow looks up the homeserver of the typed user ID (on the UI
// goroutine; the lookup itself runs through the runner).
func (s *LoginScreen) discoverNow() {
	id := strings.TrimSpace(s.UserID.Text)
	s.mu.Lock()
	skip := s.hsEdited || !looksComplete(id) || id == s.discoveredID
	s.discoveredID = id
	s.mu.Unlock()
	if skip {
		return
	}
	if !s.loggingIn {
		s.setBusy("Looking up homeserver…")
	}
	s.cfg.run(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		url, err := s.auth.Discover(ctx, id)
		s.cfg.do(func() {
			if s.loggingIn {
				return // the login looks the server up itself if it needs to
			}
			s.setBusy("")
			if err != nil {
				s.showError(describeLoginError(err, ""))
				s.discoverErr = true
				return
			}
			if s.discoverErr {
				s.Error.Hide()
				s.discoverErr = false
			}
			s.mu.Lock()
			edited := s.hsEdited
			s.settingHS = true
			s.mu.Unlock()
			if !edited {
				s.Homeserver.SetText(url)
			}
			s.mu.Lock()
			s.settingHS = false
			s.mu.Unlock()
		})
	})
}

// SetHomeserver fills in the homeserver as if discovery had found it.
func (s *LoginScreen) SetHomeserver(url string) {
	s.mu.Lock()
	s.settingHS = true
	s.mu.Unlock()
	s.Homeserver.SetText(url)
	s.mu.Lock()
	s.settingHS = false
	s.mu.Unlock()
}

func (s *LoginScreen) setBusy(msg string) {
	if msg == "" {
		s.activity.Stop()
		s.activity.Hide()
		s.Status.Hide()
		s.Submit.Enable()
		return
	}
	s.Status.SetText(msg)
	s.Status.Show()
	s.activity.Show()
	s.activity.Start()
}

func (s *LoginScreen) showError(msg string) {
	s.Error.SetText(msg)
	s.Error.Show()
	s.content.Refresh()
}

func (s *LoginScreen) login() {
	id := strings.TrimSpace(s.UserID.Text)
	hs := strings.TrimSpace(s.Homeserver.Text)
	pw := s.Password.Text
	switch {
	case !looksComplete(id):
		s.showError(describeLoginError(ErrInvalidUserID, hs))
		return
	case pw == "":
		s.showError("Enter your password.")
		return
	}
	s.Error.Hide()
	s.discoverErr = false
	s.loggingIn = true
	s.setBusy("Logging in…")
	s.Submit.Disable()
	s.cfg.run(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if hs == "" {
			var err error
			if hs, err = s.auth.Discover(ctx, id); err != nil {
				s.cfg.do(func() { s.loggingIn = false; s.setBusy(""); s.showError(describeLoginError(err, "")) })
				return
			}
			s.cfg.do(func() { s.SetHomeserver(hs) })
		}
		sess, err := s.auth.Login(ctx, hs, id, pw)
		s.cfg.do(func() {
			s.loggingIn = false
			s.setBusy("")
			if err != nil {
				s.showError(describeLoginError(err, hs))
				return
			}
			s.Password.SetText("")
			if s.onLogin != nil {
				s.onLogin(sess)
			}
		})
	})
}

// describeLoginError turns a backend error into a sentence for the user.
func describeLoginError(err error, hs string) string {
	where := "the homeserver"
	if hs != "" {
		where = hs
	}
	switch {
	case errors.Is(err, ErrBadCredentials):
		return "Wrong user ID or password. Check both and try again."
	case errors.Is(err, ErrInvalidUserID):
		return "Enter your full Matrix ID, like @alice:example.org."
	case errors.Is(err, ErrNotMatrix):
		return fmt.Sprintf("%s is not a Matrix homeserver. Check the address.", where)
	case errors.Is(err, ErrUnreachable):
		return fmt.Sprintf("Can't reach %s. Check the address and your network connection.", where)
	}
	return "Login failed: " + err.Error()
}

// dangerColor is used for warnings drawn with canvas primitives.
func dangerColor() color.Color { return theme.Color(theme.ColorNameError) }

// fixedWidth lays out its objects stacked, all as wide as its value (or
// the space there is, if less) and as tall as the tallest MinSize.
type fixedWidth float32

func (w fixedWidth) Layout(objs []fyne.CanvasObject, s fyne.Size) {
	for _, o := range objs {
		o.Move(fyne.Position{})
		o.Resize(s)
	}
}

func (w fixedWidth) MinSize(objs []fyne.CanvasObject) fyne.Size {
	h := float32(0)
	for _, o := range objs {
		if o.Visible() {
			h = fyne.Max(h, o.MinSize().Height)
		}
	}
	return fyne.NewSize(float32(w), h)
}
