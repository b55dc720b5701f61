package ui

import (
	"time"

	"fyne.io/fyne/v2"

	"github.com/mxcall/mxcall/assets"
	"github.com/mxcall/mxcall/callengine"
)

type incomingWindow struct {
	win          fyne.Window
	screen       *IncomingScreen
	roomID, peer string
}

// Sizes of the incoming-call window: with a warning about the caller's
// devices it grows to make room for it.
var (
	incomingSize       = fyne.NewSize(380, 340)
	incomingSizeWarned = fyne.NewSize(380, 440)
)

// ring opens the incoming-call window, plays the ringtone and sends a
// desktop notification.
func (u *UI) ring(info callengine.CallInfo) {
	if _, ok := u.incoming[info.ID]; ok {
		return
	}
	p := u.peer(info.RoomID, info.Peer)
	id := info.ID
	scr := NewIncomingScreen(info, p, IncomingActions{
		Accept:  func(video bool) { u.Answer(id, video) },
		Decline: func() { u.Decline(id) },
	})
	w := u.app.NewWindow("Incoming call – MX Call")
	w.SetContent(scr)
	w.Resize(incomingSize)
	w.SetFixedSize(true)
	w.SetCloseIntercept(func() { u.Decline(id) })
	u.incoming[id] = &incomingWindow{win: w, screen: scr, roomID: info.RoomID, peer: info.Peer}
	w.CenterOnScreen()
	w.Show()
	keepOnTop(w)
	w.RequestFocus()

	u.refreshTrust() // a warning if the caller has unverified devices
	u.app.SendNotification(fyne.NewNotification(incomingKind(info, p.Room != ""), ringText(p)))
	if u.stopRing == nil && u.be.Sounds != nil {
		u.stopRing = u.be.Sounds.Play(assets.Ringtone.Content(), true)
	}
}

// ringText is the body of the incoming call's notification.
func ringText(p Peer) string {
	switch {
	case p.Room == "":
		return p.Name + " is calling you"
	case p.Name != "":
		return p.Name + " is calling in " + p.Room
	}
	return "A call started in " + p.Room
}

func (u *UI) closeIncoming(id string) {
	iw, ok := u.incoming[id]
	if !ok {
		return
	}
	delete(u.incoming, id)
	u.closeWindowSoon(iw.win)
	if len(u.incoming) == 0 && u.stopRing != nil {
		u.stopRing()
		u.stopRing = nil
	}
}

// closeWindowSoon hides w at once and closes it a moment later. Fyne
// v2.7.1 can crash (nil GLFW window in processMouseMoved) when the pointer
// moves over a window while it is closing, as when the incoming-call
// window closes under the hand that clicked Accept; a hidden window gets
// no pointer events. Once the app quits, the close is dropped: quitting
// destroys every window.
func (u *UI) closeWindowSoon(w fyne.Window) {
	w.Hide()
	time.AfterFunc(time.Second, func() { u.cfg.do(w.Close) })
}

func (u *UI) startRingback() {
	if u.stopBack == nil && u.be.Sounds != nil {
		u.stopBack = u.be.Sounds.Play(assets.Ringback.Content(), true)
	}
}

func (u *UI) stopRingback() {
	if u.stopBack != nil {
		u.stopBack()
		u.stopBack = nil
	}
}
