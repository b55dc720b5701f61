package ui_test

import (
	"testing"

	"fyne.io/fyne/v2/test"

	"github.com/mxcall/mxcall/ui"
	"github.com/mxcall/mxcall/ui/fake"
)

// The start-up hook fires once, when the first rooms are on screen (not
// for an empty first sync, not again for later updates).
func TestRoomsShownOnce(t *testing.T) {
	app := test.NewTempApp(t)
	be := fake.New()
	be.Stored = &ui.Session{UserID: "@me:example.org", Homeserver: "https://example.org"}
	var calls []int
	u := ui.New(app, be.UI(), ui.WithRunner(func(f func()) { f() }), ui.WithRoomsShown(func(n int) { calls = append(calls, n) }))
	u.Start()
	be.SetRooms(ui.RoomsSnapshot{Sync: ui.SyncOK})
	if len(calls) != 0 {
		t.Fatal("called for an empty room list")
	}
	rooms := []ui.Room{{ID: "!a:example.org", Name: "A"}, {ID: "!b:example.org", Name: "B"}}
	be.SetRooms(ui.RoomsSnapshot{Rooms: rooms, Sync: ui.SyncOK})
	be.SetRooms(ui.RoomsSnapshot{Rooms: rooms[:1], Sync: ui.SyncOK})
	if len(calls) != 1 || calls[0] != 2 {
		t.Fatalf("calls %v, want one with 2 rooms", calls)
	}
}

// The memory hook runs once per call screen taken down, however often
// Stop is called.
func TestCallScreenGoneOnce(t *testing.T) {
	app := test.NewTempApp(t)
	be := fake.New()
	be.GroupCalls = true
	be.Stored = &ui.Session{UserID: "@me:example.org", Homeserver: "https://example.org"}
	be.SetRooms(ui.RoomsSnapshot{Rooms: []ui.Room{teamCall}, Sync: ui.SyncOK})
	gone := 0
	u := ui.New(app, be.UI(), ui.WithRunner(func(f func()) { f() }), ui.WithEndDelay(0), ui.WithStatic(),
		ui.WithCallScreenGone(func() { gone++ }))
	u.Start()
	u.JoinCall(teamCall, true)
	c := u.Call()
	if c == nil {
		t.Fatal("no call screen")
	}
	if gone != 0 {
		t.Fatal("hook ran while the call screen is up")
	}
	c.Stop()
	c.Stop()
	if gone != 1 {
		t.Fatalf("hook ran %d times, want 1", gone)
	}
}

// The quitting hook runs once, when quitting starts, however often quit
// is asked for.
func TestQuittingOnce(t *testing.T) {
	app := test.NewTempApp(t)
	be := fake.New()
	be.Stored = &ui.Session{UserID: "@me:example.org", Homeserver: "https://example.org"}
	n := 0
	u := ui.New(app, be.UI(), ui.WithRunner(func(f func()) { f() }), ui.WithStatic(), ui.WithQuitting(func() { n++ }))
	u.Start()
	if n != 0 {
		t.Fatal("hook ran before quitting")
	}
	ui.Quit(u)
	ui.Quit(u)
	if n != 1 {
		t.Fatalf("hook ran %d times, want 1", n)
	}
}
