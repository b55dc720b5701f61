package ui

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/widget"

	"github.com/mxcall/mxcall/assets"
	"github.com/mxcall/mxcall/callengine"
)

// UI is the whole desktop app: the main window, which shows one screen at a
// time (login, room list, call, settings), and the incoming-call windows.
//
// All of its methods run on the Fyne UI goroutine; backend callbacks are
// handed to it through fyne.Do.
type UI struct {
	app fyne.App
	win fyne.Window
	be  Backend
	cfg *config
	// endOnce ends the event loop once: a second SIGTERM ends it while
	// quit's hangups still run, and their own end (after the loop, where
	// fyne.Do runs on the caller's goroutine against a terminated GLFW)
	// must not quit again.
	endOnce sync.Once
	// loopOver is set once Fyne's event loop has returned: GLFW is
	// terminated, and app.Quit would panic in it.
	loopOver atomic.Bool

	session     Session
	login       *LoginScreen
	rooms       *RoomListScreen
	lastRooms   RoomsSnapshot
	call        *CallScreen
	settings    *SettingsScreen
	incoming    map[string]*incomingWindow
	stopRooms   func()
	stopCalls   func()
	stopParts   func()                         // Group.SubscribeParticipants
	stopRing    func()                         // ringtone
	stopBack    func()                         // ringback
	stopCurrent func()                         // stops the shown screen's pollers
	latest      map[string]callengine.CallInfo // newest info of each live call
	stopVerify  func()                         // Verify.SubscribeVerifications
	verifs      map[string]*verifyDialog       // open verification dialogs
	secDialog   *securityDialog                // the open cross-signing dialog
	trust       trustFetches                   // peer trust fetches (peertrust.go)
	share       shareState                     // the share picker and our screen share
}

// New builds the UI on app with the given backend. Nothing is shown until
// Run (or Start).
func New(app fyne.App, be Backend, opts ...Option) *UI {
	u := &UI{app: app, be: be, cfg: applyOpts(opts), incoming: map[string]*incomingWindow{},
		verifs: map[string]*verifyDialog{}}
	app.SetIcon(assets.Icon)
	u.win = app.NewWindow("MX Call")
	u.win.SetMaster()
	u.win.Resize(fyne.NewSize(960, 640))
	u.win.SetCloseIntercept(u.quit)
	u.win.Canvas().SetOnTypedKey(func(k *fyne.KeyEvent) {
		if k.Name == fyne.KeyEscape && u.win.FullScreen() {
			u.win.SetFullScreen(false)
		}
	})
	return u
}

// Window returns the main window.
func (u *UI) Window() fyne.Window { return u.win }

// Run shows the main window, restores a stored session or shows the login
// screen, and runs the Fyne event loop until the app quits. SIGINT and
// SIGTERM quit as the window's close button does (see catchSignals).
func (u *UI) Run() {
	stop := make(chan struct{})
	u.app.Lifecycle().SetOnStarted(func() {
		u.catchSignals(stop)
		u.cfg.watchWindow(u.win, stop)
	})
	u.Start()
	u.app.Run()
	u.loopOver.Store(true)
	u.cfg.quitting.Store(true) // however the loop ended: drop late updates
	close(stop)
}

// catchSignals makes SIGINT and SIGTERM quit through quit: ringing calls
// are rejected and a running call hung up, so the peer sees the call end,
// and windows are closed on Fyne's goroutine. Fyne's own handler would end
// the event loop at once, after which call updates still arriving would
// reach terminated windows (the panic "The GLFW library is not
// initialized"); signal.Reset removes it. Fyne installs it when Run starts,
// before OnStarted. A second signal quits without waiting for hangups.
func (u *UI) catchSignals(stop <-chan struct{}) {
	ch := make(chan os.Signal, 2)
	signal.Reset(os.Interrupt, syscall.SIGTERM)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		defer signal.Stop(ch)
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			case <-ch:
				if n == 0 {
					fyne.Do(u.quit)
				} else {
					u.endLoop()
				}
			}
		}
	}()
}

// Start shows the main window and restores a stored session (or shows the
// login screen) without running the event loop; tests and Run use it.
func (u *UI) Start() {
	u.setScreen(container.NewCenter(widget.NewLabel("Starting…")), nil)
	// The session is restored while the window is made: showing it the
	// first time creates the GL context, which takes most of a second
	// under a software painter, and the restore does not need it.
	defer u.win.Show()
	u.cfg.run(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s, ok, err := u.be.Auth.Resume(ctx)
		u.cfg.do(func() {
			if ok && err == nil {
				u.loggedIn(s)
				return
			}
			u.ShowLogin()
			if err != nil {
				u.login.showError("Could not restore your session: " + err.Error())
			}
		})
	})
}

// setScreen replaces the main window's content; stop (may be nil) is
// called when the next screen replaces it.
func (u *UI) setScreen(o fyne.CanvasObject, stop func()) {
	if u.stopCurrent != nil {
		u.stopCurrent()
	}
	u.stopCurrent = stop
	u.win.SetContent(o)
}

// ShowLogin shows the login screen.
func (u *UI) ShowLogin() {
	u.login = newLoginScreen(u.be.Auth, func(s Session) {
		u.loggedIn(s)
		u.promptRecovery() // a password login may be a new device
	}, u.cfg)
	u.setScreen(u.login, nil)
	u.win.Canvas().Focus(u.login.UserID)
}

// Login returns the login screen, if it was shown.
func (u *UI) Login() *LoginScreen { return u.login }

// Rooms returns the room list screen, once logged in.
func (u *UI) Rooms() *RoomListScreen { return u.rooms }

// Call returns the call screen of the current (or just ended) call.
func (u *UI) Call() *CallScreen { return u.call }

// Settings returns the settings screen while it is shown.
func (u *UI) Settings() *SettingsScreen { return u.settings }

// Incoming returns the incoming-call screen of a ringing call.
func (u *UI) Incoming(callID string) (*IncomingScreen, fyne.Window, bool) {
	iw, ok := u.incoming[callID]
	if !ok {
		return nil, nil, false
	}
	return iw.screen, iw.win, true
}

func (u *UI) loggedIn(s Session) {
	u.session = s
	act := RoomListActions{
		Call:     u.PlaceCall,
		Settings: u.ShowSettings,
		Logout:   u.Logout,
	}
	if u.be.Group != nil {
		act.Join = u.JoinCall
	}
	if u.be.Verify != nil {
		act.Verify = u.VerifyRoom
		u.stopVerify = u.be.Verify.SubscribeVerifications(func(v Verification) {
			u.cfg.do(func() { u.verificationChanged(v) })
		})
	}
	u.rooms = newRoomListScreen(s, u.be.Rooms, act, u.cfg)
	u.stopRooms = u.be.Rooms.SubscribeRooms(func(snap RoomsSnapshot) {
		u.cfg.do(func() {
			u.lastRooms = snap
			if u.rooms != nil {
				u.rooms.Update(snap)
				if fn := u.cfg.roomsShown; fn != nil && len(snap.Rooms) > 0 {
					u.cfg.roomsShown = nil
					fn(len(snap.Rooms))
				}
			}
			if u.call != nil {
				if r, ok := u.room(u.call.Info().RoomID); ok {
					u.call.SetRoom(r)
				}
			}
			u.refreshTrust() // a peer's devices may have changed
		})
	})
	u.stopCalls = u.be.Calls.SubscribeCalls(func(info callengine.CallInfo) {
		u.cfg.do(func() { u.handleCall(info) })
	})
	if u.be.Group != nil {
		// Participants are fetched on the UI goroutine, not in the
		// callback: a backend may hold its lock while it notifies.
		u.stopParts = u.be.Group.SubscribeParticipants(func(callID string) {
			u.cfg.do(func() { u.participantsChanged(callID) })
		})
	}
	u.ShowRooms()
}

// ShowRooms shows the room list.
func (u *UI) ShowRooms() {
	if u.rooms == nil {
		return
	}
	u.setScreen(u.rooms, nil)
}

// ShowSettings shows the settings screen with a live camera preview.
func (u *UI) ShowSettings() {
	if u.be.Media == nil {
		return
	}
	s := newSettingsScreen(u.be.Media, func() {
		if u.call != nil && u.call.Info().State != callengine.StateEnded {
			u.showCall()
			return
		}
		u.ShowRooms()
	}, u.be.Group != nil, u.cfg)
	u.settings = s
	u.setScreen(s, func() { s.Stop(); u.settings = nil })
	s.Start()
	u.loadSecurity(s)
}

// Logout logs out and returns to the login screen.
func (u *UI) Logout() {
	u.cfg.run(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		err := u.be.Auth.Logout(ctx)
		u.cfg.do(func() {
			if err != nil {
				dialog.ShowInformation("Logging out failed", err.Error(), u.win)
				return
			}
			u.unsubscribe()
			u.rooms = nil
			u.ShowLogin()
		})
	})
}

func (u *UI) unsubscribe() {
	if u.stopRooms != nil {
		u.stopRooms()
		u.stopRooms = nil
	}
	if u.stopCalls != nil {
		u.stopCalls()
		u.stopCalls = nil
	}
	if u.stopParts != nil {
		u.stopParts()
		u.stopParts = nil
	}
	if u.stopVerify != nil {
		u.stopVerify()
		u.stopVerify = nil
	}
	for id := range u.verifs {
		u.closeVerify(id)
	}
	u.closeSecurity()
	for id := range u.incoming {
		u.closeIncoming(id)
	}
	u.stopRingback()
}

// room finds a room of the last snapshot.
func (u *UI) room(id string) (Room, bool) {
	for _, r := range u.lastRooms.Rooms {
		if r.ID == id {
			return r, true
		}
	}
	return Room{}, false
}

// peer returns how to show the other party of a call: for a call in a
// group room, its caller (if known) and the room.
func (u *UI) peer(roomID, userID string) Peer {
	p := Peer{ID: userID, Name: userID}
	for _, r := range u.lastRooms.Rooms {
		if r.ID == roomID {
			if r.DM && r.Name != "" {
				p.Name = r.Name
			}
			if !r.DM {
				p.Room = r.Name
				if p.Room == "" {
					p.Room = r.ID
				}
			}
			p.Avatar = r.Avatar
		}
	}
	return p
}

// quit rejects ringing calls, hangs up a running call, then quits the
// app. The windows go away at once (hidden: no pointer events reach them
// while they close, see closeWindowSoon); the hangups may take a moment.
// From here on, updates from other goroutines are dropped (config.do), so
// nothing touches a widget after Fyne's loop has stopped. Idempotent.
func (u *UI) quit() {
	if u.cfg.quitting.Swap(true) {
		return
	}
	if u.cfg.quittingFn != nil {
		u.cfg.quittingFn()
	}
	u.win.Hide()
	u.closePicker() // stops its thumbnails
	if u.share.bar != nil {
		u.share.bar.Hide()
	}
	var ringing []string
	for id, iw := range u.incoming {
		ringing = append(ringing, id)
		iw.win.Hide()
	}
	var id string
	if u.call != nil && u.call.Info().State != callengine.StateEnded {
		id = u.call.Info().ID
	}
	u.unsubscribe()
	if u.call != nil {
		u.call.Stop()
	}
	if u.stopCurrent != nil {
		u.stopCurrent()
		u.stopCurrent = nil
	}
	u.cfg.run(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		for _, r := range ringing {
			_ = u.be.Calls.Reject(ctx, r) // the engine logs failures; quitting goes on
		}
		if id != "" {
			_ = u.be.Calls.Hangup(ctx, id)
		}
		u.endLoop()
	})
}

// endLoop ends Fyne's event loop, the first time only (see endOnce). Not
// through u.cfg.do, which drops everything once quitting: this must run.
//
// The loop may have ended on its own meanwhile (its last window closed):
// once Fyne has drained its queue, fyne.Do runs the function at once on
// this goroutine, against a terminated GLFW ("The GLFW library is not
// initialized", seen once in CI's test-quit.sh). So Quit is skipped when
// the loop is over, and its panic is dropped in the moment between the
// drain and Run returning, where there is nothing left to end.
func (u *UI) endLoop() {
	u.endOnce.Do(func() {
		fyne.Do(func() {
			if u.loopOver.Load() {
				return
			}
			defer func() { _ = recover() }()
			u.app.Quit()
		})
	})
}
