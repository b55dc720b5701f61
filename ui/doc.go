// Package ui is mxcall's Fyne desktop interface: the login screen, the room
// list, the call view, the incoming-call window, the settings screen, and
// for screen sharing the picker and the always-on-top "you are sharing"
// bar.
//
// It owns everything the user sees and hears from the app itself (windows,
// widgets, the ringtone and ringback choice, notifications) and the
// drawing of video: it pulls decoded frames from a latest-frame slot at most
// once per display frame into an *image.RGBA double buffer it owns.
//
// It talks to the rest of mxcall only through the small interfaces in
// backend.go (Auth, Rooms, Calls, Media, Sounds), which package backend satisfies with
// matrixclient, callengine and media, and tests with the fakes in ui/fake.
// It may import callengine for the CallInfo and State types only; it must not
// import mautrix, matrixclient, media or pion.
//
// Every widget change that starts on another goroutine goes through fyne.Do
// (config.do), and is dropped once the app has started to quit.
package ui
