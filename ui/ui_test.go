package ui_test

import (
	"context"
	"errors"
	"fmt"
	"image"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/mxcall/mxcall/callengine"
	"github.com/mxcall/mxcall/ui"
	"github.com/mxcall/mxcall/ui/fake"
)

// t0 is the fixed "now" of every test.
var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

var (
	// alice: an encrypted DM with verified devices; bob: encrypted, with an
	// unverified device; team: a plain group room.
	alice = ui.Room{ID: "!a:example.org", Name: "Alice Liddell", Peer: "@alice:example.org", DM: true, LastActive: t0.Add(-time.Minute),
		Encrypted: true, Trust: ui.TrustVerified}
	bob = ui.Room{ID: "!b:example.org", Name: "Bob", Peer: "@bob:example.org", DM: true, LastActive: t0.Add(-time.Hour),
		Encrypted: true, Trust: ui.TrustUnverified}
	team  = ui.Room{ID: "!t:example.org", Name: "Team standup", LastActive: t0}
	carol = ui.Invite{RoomID: "!c:example.org", Inviter: "@carol:example.org", InviterName: "Carol", DM: true}
)

// env is a UI on a test app with a fake backend, everything synchronous.
type env struct {
	t   *testing.T
	app fyne.App
	be  *fake.Backend
	ui  *ui.UI
	now time.Time
}

func newEnv(t *testing.T, loggedIn bool) *env {
	t.Helper()
	return newEnvWith(t, loggedIn, nil)
}

// newEnvWith is newEnv with setup applied to the fake before the UI is
// built (e.g. to turn on group calls).
func newEnvWith(t *testing.T, loggedIn bool, setup func(*fake.Backend)) *env {
	t.Helper()
	e := &env{t: t, app: test.NewTempApp(t), be: fake.New(), now: t0}
	if setup != nil {
		setup(e.be)
	}
	e.be.Password = "secret"
	e.be.Now = func() time.Time { return e.now }
	if loggedIn {
		e.be.Stored = &ui.Session{UserID: "@me:example.org", DisplayName: "Me Myself", Homeserver: "https://example.org"}
	}
	e.be.SetRooms(ui.RoomsSnapshot{Rooms: []ui.Room{team, bob, alice}, Invites: []ui.Invite{carol}, Sync: ui.SyncOK})
	e.ui = ui.New(e.app, e.be.UI(),
		ui.WithRunner(func(f func()) { f() }),
		ui.WithClock(func() time.Time { return e.now }),
		ui.WithEndDelay(0),
		ui.WithStatic(),
	)
	e.ui.Start()
	e.ui.Window().Resize(fyne.NewSize(640, 480))
	t.Cleanup(func() {
		if c := e.ui.Call(); c != nil {
			c.Stop()
		}
	})
	return e
}

func (e *env) assertScreen(name string, c fyne.Canvas) {
	e.t.Helper()
	test.AssertRendersToMarkup(e.t, name+".xml", c)
	test.AssertRendersToImage(e.t, name+".png", c)
}

func TestLoginWrongPassword(t *testing.T) {
	e := newEnv(t, false)
	l := e.ui.Login()
	if l == nil {
		t.Fatal("login screen not shown")
	}
	test.Type(l.UserID, "@me:example.org")
	l.UserID.OnSubmitted(l.UserID.Text) // discovery without waiting for the debounce
	if got := l.Homeserver.Text; got != "https://example.org" {
		t.Fatalf("homeserver = %q, want the discovered https://example.org", got)
	}
	test.Type(l.Password, "wrong")
	test.Tap(l.Submit)
	if !l.Error.Visible() || !strings.Contains(l.Error.Text, "Wrong user ID or password") {
		t.Fatalf("error = %q (visible %v)", l.Error.Text, l.Error.Visible())
	}
	e.assertScreen("login_error", e.ui.Window().Canvas())
}

func TestLoginErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"unreachable", fmt.Errorf("dial tcp: %w", ui.ErrUnreachable), "Can't reach https://nowhere.example"},
		{"not matrix", fmt.Errorf("GET /versions: 404: %w", ui.ErrNotMatrix), "https://nowhere.example is not a Matrix homeserver"},
		{"other", errors.New("boom"), "Login failed: boom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, false)
			e.be.LoginErr = tc.err
			l := e.ui.Login()
			test.Type(l.UserID, "@me:nowhere.example")
			l.SetHomeserver("https://nowhere.example")
			test.Type(l.Password, "secret")
			test.Tap(l.Submit)
			if !strings.Contains(l.Error.Text, tc.want) {
				t.Fatalf("error = %q, want it to contain %q", l.Error.Text, tc.want)
			}
			if !l.Submit.Disabled() == false {
				t.Fatal("login button stays disabled after an error")
			}
		})
	}
}

func TestLoginEditedHomeserverIsKept(t *testing.T) {
	e := newEnv(t, false)
	l := e.ui.Login()
	test.Type(l.Homeserver, "https://my.server")
	test.Type(l.UserID, "@me:example.org")
	l.UserID.OnSubmitted(l.UserID.Text)
	if l.Homeserver.Text != "https://my.server" {
		t.Fatalf("discovery overwrote a typed homeserver: %q", l.Homeserver.Text)
	}
}

func TestLoginSuccessShowsRooms(t *testing.T) {
	e := newEnv(t, false)
	l := e.ui.Login()
	test.Type(l.UserID, "@me:example.org")
	test.Type(l.Password, "secret")
	test.Tap(l.Submit) // homeserver empty: discovered during login
	if e.ui.Rooms() == nil {
		t.Fatalf("room list not shown; actions %v", e.be.Actions())
	}
	if got := e.be.Actions(); got[len(got)-1] != "login https://example.org @me:example.org" {
		t.Fatalf("actions %v", got)
	}
}

func TestRoomList(t *testing.T) {
	e := newEnv(t, true)
	r := e.ui.Rooms()
	if r == nil {
		t.Fatal("stored session did not open the room list")
	}
	e.assertScreen("rooms", e.ui.Window().Canvas())

	test.Type(r.Search, "ali")
	test.AssertRendersToMarkup(t, "rooms_search.xml", e.ui.Window().Canvas())
	r.Search.SetText("")
}

func TestRoomListOfflineNoTURN(t *testing.T) {
	e := newEnv(t, true)
	s := e.be.RoomsSnapshot()
	s.Sync = ui.SyncOffline
	s.NoTURN = true
	e.be.SetRooms(s)
	r := e.ui.Rooms()
	if !r.Banner.Visible() || !r.TURNWarn.Visible() {
		t.Fatal("offline banner or TURN warning hidden")
	}
	e.assertScreen("rooms_offline", e.ui.Window().Canvas())
	s.Sync = ui.SyncOK
	e.be.SetRooms(s)
	if r.Banner.Visible() {
		t.Fatal("banner stays after reconnect")
	}
}

func TestInvitesAndNewDM(t *testing.T) {
	e := newEnv(t, true)
	r := e.ui.Rooms()
	accept := findButton(t, e.ui.Window().Canvas().Content(), "Accept")
	test.Tap(accept)
	if len(e.be.RoomsSnapshot().Invites) != 0 {
		t.Fatal("invite not accepted")
	}
	test.Type(r.NewDM, "@dave:example.org")
	test.Tap(r.NewDMBtn)
	if _, ok := r.RoomByID("!dm-@dave:example.org"); !ok {
		t.Fatalf("new DM not listed; actions %v", e.be.Actions())
	}
	test.Type(r.NewDM, "dave")
	test.Tap(r.NewDMBtn)
	if !r.Error.Visible() {
		t.Fatal("no error for an incomplete user ID")
	}
}

func TestIncomingCall(t *testing.T) {
	e := newEnv(t, true)
	var id string
	test.AssertNotificationSent(t, fyne.NewNotification("Incoming video call", "Alice Liddell is calling you"), func() {
		id = e.be.Ring(alice, true)
	})
	scr, w, ok := e.ui.Incoming(id)
	if !ok {
		t.Fatal("no incoming window")
	}
	if e.be.Playing() != 1 {
		t.Fatalf("ringtone not playing: %v", e.be.Actions())
	}
	w.Resize(fyne.NewSize(380, 340))
	e.assertScreen("incoming", w.Canvas())

	// The caller gives up: the window closes and the ringtone stops.
	if err := e.be.End(id, callengine.PartyRemote, callengine.ReasonUserHangup); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := e.ui.Incoming(id); ok {
		t.Fatal("incoming window stays after the caller hung up")
	}
	if e.be.Playing() != 0 {
		t.Fatal("ringtone still playing")
	}
	_ = scr
}

func TestIncomingAnsweredElsewhere(t *testing.T) {
	e := newEnv(t, true)
	id := e.be.Ring(bob, false)
	if err := e.be.End(id, callengine.PartyRemote, callengine.ReasonAnsweredElsewhere); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := e.ui.Incoming(id); ok {
		t.Fatal("incoming window stays after the call was answered elsewhere")
	}
	if e.ui.Call() != nil {
		t.Fatal("a call answered elsewhere opened the call view")
	}
}

func TestIncomingDecline(t *testing.T) {
	e := newEnv(t, true)
	id := e.be.Ring(bob, true)
	scr, _, _ := e.ui.Incoming(id)
	test.Tap(scr.Decline)
	if _, ok := e.be.Call(id); ok {
		t.Fatal("call still live after decline")
	}
	if got := e.be.Actions(); got[len(got)-1] != "stop 84524 bytes" && !contains(got, "reject "+id) {
		t.Fatalf("actions %v", got)
	}
}

// videoCall answers an incoming video call and connects it, with one
// remote and one local frame in the slots.
func videoCall(t *testing.T, e *env) string {
	t.Helper()
	remote := image.NewRGBA(image.Rect(0, 0, 320, 180))
	fake.Scene(remote, 0, fake.RemoteColors[0], fake.RemoteColors[1], fake.RemoteColors[2])
	e.be.RemoteSlot.Put(remote)
	local := image.NewRGBA(image.Rect(0, 0, 160, 120))
	fake.Scene(local, 0, fake.LocalColors[0], fake.LocalColors[1], fake.LocalColors[2])
	e.be.LocalSlot.Put(local)

	id := e.be.Ring(alice, true)
	scr, _, _ := e.ui.Incoming(id)
	test.Tap(scr.AcceptVideo)
	c := e.ui.Call()
	if c == nil || c.Info().ID != id {
		t.Fatal("accepting did not open the call view")
	}
	_ = e.be.Update(id, func(ci *callengine.CallInfo) { ci.State = callengine.StateConnected; ci.ConnectedAt = t0 })
	e.now = t0.Add(65 * time.Second)
	// The remote view's poll paints the self-view too (Lead).
	if !c.Remote.Poll() || c.Local.Repaints() != 1 {
		t.Fatal("video views took no frame")
	}
	if c.Remote.Poll() {
		t.Fatal("video view repainted without a new frame")
	}
	_ = e.be.Update(id, func(ci *callengine.CallInfo) { ci.RemoteAudioMuted = true })
	return id
}

func TestVideoCall(t *testing.T) {
	e := newEnv(t, true)
	id := videoCall(t, e)
	c := e.ui.Call()
	if c.Remote.Repaints() != 1 || !c.Remote.Showing() {
		t.Fatalf("remote repaints %d", c.Remote.Repaints())
	}
	e.assertScreen("call_video", e.ui.Window().Canvas())

	test.Tap(c.Mute)
	test.Tap(c.Camera)
	info, _ := e.be.Call(id)
	if !info.AudioMuted || !info.VideoMuted {
		t.Fatalf("mute buttons did nothing: %+v", info)
	}
	if c.Mute.Text != "Unmute" || c.Camera.Text != "Camera on" {
		t.Fatalf("buttons %q %q", c.Mute.Text, c.Camera.Text)
	}
	test.Tap(c.Hold)
	if info, _ := e.be.Call(id); !info.OnHold {
		t.Fatal("hold did nothing")
	}
	test.Tap(c.Full)
	if !e.ui.Window().FullScreen() {
		t.Fatal("full screen button did nothing")
	}
}

func TestVoiceCallOutgoing(t *testing.T) {
	e := newEnv(t, true)
	e.ui.PlaceCall(bob, false)
	c := e.ui.Call()
	if c == nil {
		t.Fatal("no call view")
	}
	id := c.Info().ID
	if id == "" {
		t.Fatal("call view not bound to the placed call")
	}
	if e.be.Playing() != 1 {
		t.Fatalf("no ringback while ringing: %v", e.be.Actions())
	}
	test.AssertRendersToMarkup(t, "call_ringing.xml", e.ui.Window().Canvas())
	_ = e.be.Update(id, func(ci *callengine.CallInfo) {
		ci.State = callengine.StateConnected
		ci.ConnectedAt = t0
		ci.Relay = true
	})
	if e.be.Playing() != 0 {
		t.Fatal("ringback still playing after connect")
	}
	e.now = t0.Add(3*time.Minute + 7*time.Second)
	_ = e.be.Update(id, func(ci *callengine.CallInfo) { ci.RemoteVideoMuted = false })
	if c.Camera.Visible() {
		t.Fatal("camera button shown in a voice call")
	}
	e.assertScreen("call_voice", e.ui.Window().Canvas())
}

func TestCallEnded(t *testing.T) {
	e := newEnv(t, true)
	id := videoCall(t, e)
	e.now = t0.Add(2 * time.Minute)
	if err := e.be.End(id, callengine.PartyRemote, callengine.ReasonUserHangup); err != nil {
		t.Fatal(err)
	}
	e.now = t0.Add(5 * time.Minute) // the timer stays at the end time
	c := e.ui.Call()
	if !c.BackBtn.Visible() || c.Hangup.Visible() {
		t.Fatal("ended call still offers hang up")
	}
	e.assertScreen("call_ended", e.ui.Window().Canvas())
	test.Tap(c.BackBtn)
	if e.ui.Call() != nil {
		t.Fatal("back did not leave the call")
	}
}

func TestHangup(t *testing.T) {
	e := newEnv(t, true)
	id := videoCall(t, e)
	test.Tap(e.ui.Call().Hangup)
	if !contains(e.be.Actions(), "hangup "+id) {
		t.Fatalf("actions %v", e.be.Actions())
	}
	if e.ui.Call().Info().State != callengine.StateEnded {
		t.Fatal("call view not ended")
	}
}

// A hangup that fails leaves the button usable and its error on screen,
// even after the next call update; the next action clears it.
func TestHangupFails(t *testing.T) {
	e := newEnv(t, true)
	id := videoCall(t, e)
	e.be.HangupErr = errors.New("homeserver unreachable")
	c := e.ui.Call()
	test.Tap(c.Hangup)
	if c.Hangup.Disabled() {
		t.Fatal("Hang up stays disabled after a failed hangup")
	}
	want := "Could not hang up: homeserver unreachable"
	if c.ActionError() != want {
		t.Fatalf("error shown = %q, want %q", c.ActionError(), want)
	}
	if err := e.be.Update(id, func(ci *callengine.CallInfo) { ci.RemoteAudioMuted = true }); err != nil {
		t.Fatal(err)
	}
	if c.ActionError() != want {
		t.Fatalf("a call update erased the error: %q", c.ActionError())
	}
	e.be.HangupErr = nil
	test.Tap(c.Hangup)
	if c.ActionError() != "" || c.Info().State != callengine.StateEnded {
		t.Fatalf("after a good hangup: error %q, state %v", c.ActionError(), c.Info().State)
	}
}

func TestSettings(t *testing.T) {
	e := newEnv(t, true)
	frame := image.NewRGBA(image.Rect(0, 0, 320, 240))
	fake.Scene(frame, 0, fake.LocalColors[0], fake.LocalColors[1], fake.LocalColors[2])
	e.be.LocalSlot.Put(frame)
	e.ui.ShowSettings()
	s := e.ui.Settings()
	if !s.Preview.Poll() {
		t.Fatal("no preview frame")
	}
	if s.Camera.Selected != "Integrated Camera" || s.Resolution.Selected != "1280×720 (HD)" {
		t.Fatalf("pickers %q %q", s.Camera.Selected, s.Resolution.Selected)
	}
	s.Microphone.SetSelected("USB Headset")
	if got := e.be.Settings().Microphone; got != "mic1" {
		t.Fatalf("microphone = %q", got)
	}
	e.assertScreen("settings", e.ui.Window().Canvas())
	e.ui.ShowRooms()
	if !contains(e.be.Actions(), "preview stop") {
		t.Fatal("preview not stopped when leaving settings")
	}
}

func TestLogout(t *testing.T) {
	e := newEnv(t, true)
	test.Tap(findButton(t, e.ui.Window().Canvas().Content(), "Log out"))
	if e.ui.Rooms() != nil || e.ui.Login() == nil {
		t.Fatal("logout did not return to login")
	}
}

func TestInitialsAndDuration(t *testing.T) {
	for in, want := range map[string]string{
		"Alice Liddell": "AL", "@bob:example.org": "B", "": "?", "élodie durand": "ÉD", "x.y_z": "XY",
	} {
		if got := ui.Initials(in); got != want {
			t.Errorf("Initials(%q) = %q, want %q", in, got, want)
		}
	}
	for d, want := range map[time.Duration]string{0: "0:00", 65 * time.Second: "1:05", time.Hour + 2*time.Second: "1:00:02"} {
		if got := ui.FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestEndText(t *testing.T) {
	for _, tc := range []struct {
		info callengine.CallInfo
		want string
	}{
		{callengine.CallInfo{EndedBy: callengine.PartyRemote, EndReason: callengine.ReasonUserHangup}, "Bob hung up"},
		{callengine.CallInfo{EndedBy: callengine.PartyLocal, EndReason: callengine.ReasonUserHangup}, "you hung up"},
		{callengine.CallInfo{EndedBy: callengine.PartyRemote, EndReason: callengine.ReasonRejected}, "Bob declined"},
		{callengine.CallInfo{Direction: callengine.Outgoing, EndReason: callengine.ReasonInviteTimeout}, "no answer"},
		{callengine.CallInfo{Direction: callengine.Incoming, EndReason: callengine.ReasonInviteTimeout}, "missed call"},
		{callengine.CallInfo{EndReason: callengine.ReasonUserBusy}, "Bob is busy"},
		{callengine.CallInfo{EndReason: callengine.ReasonICEFailed}, "the connection failed"},
		{callengine.CallInfo{EndReason: callengine.ReasonICETimeout}, "the connection failed"},
		{callengine.CallInfo{EndReason: callengine.ReasonAnsweredElsewhere}, "answered on another device"},
		{callengine.CallInfo{EndReason: callengine.ReasonUserMediaFailed}, "your camera or microphone failed"},
		{callengine.CallInfo{EndReason: callengine.ReasonSignallingFailed}, "could not reach the homeserver"},
		{callengine.CallInfo{EndReason: callengine.ReasonReplaced}, "replaced by another call"},
		{callengine.CallInfo{EndReason: callengine.ReasonUnknownError}, "error (unknown_error)"},
	} {
		if got := ui.EndText(tc.info, "Bob"); got != tc.want {
			t.Errorf("EndText(%s by %s) = %q, want %q", tc.info.EndReason, tc.info.EndedBy, got, tc.want)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Answering a second call hangs up the first.
func TestAnswerWhileInCall(t *testing.T) {
	e := newEnv(t, true)
	first := videoCall(t, e)
	second := e.be.Ring(bob, false)
	scr, _, ok := e.ui.Incoming(second)
	if !ok {
		t.Fatal("no incoming window during a call")
	}
	test.Tap(scr.AcceptVoice)
	if !contains(e.be.Actions(), "hangup "+first) {
		t.Fatalf("first call not hung up: %v", e.be.Actions())
	}
	if c := e.ui.Call(); c == nil || c.Info().ID != second {
		t.Fatal("call view does not show the answered call")
	}
}

// A snapshot equal to the shown one must not rebuild the list (syncs
// arrive all the time); a changed one must.
func TestRoomListSkipsEqualSnapshots(t *testing.T) {
	e := newEnv(t, true)
	r := e.ui.Rooms()
	accept := findButton(t, e.ui.Window().Canvas().Content(), "Accept")
	snap := e.be.RoomsSnapshot()
	snap.Rooms = append([]ui.Room(nil), snap.Rooms...)
	e.be.SetRooms(snap)
	if findButton(t, e.ui.Window().Canvas().Content(), "Accept") != accept {
		t.Fatal("an unchanged snapshot rebuilt the list")
	}
	snap.Rooms[0].Name = "Renamed"
	e.be.SetRooms(snap)
	if findButton(t, e.ui.Window().Canvas().Content(), "Accept") == accept {
		t.Fatal("a changed snapshot did not rebuild the list")
	}
	_ = r
}

// Settings can be opened during a call and Back returns to the call.
func TestSettingsDuringCall(t *testing.T) {
	e := newEnv(t, true)
	videoCall(t, e)
	c := e.ui.Call()
	test.Tap(c.Devices)
	s := e.ui.Settings()
	if s == nil {
		t.Fatal("settings not shown")
	}
	test.Tap(findButton(t, e.ui.Window().Canvas().Content(), "Back"))
	if e.ui.Window().Canvas().Content() != c {
		t.Fatal("back from settings did not return to the call")
	}
}

// An invite that never decrypted is listed as a missed call that could not
// be read, until dismissed.
func TestRoomListMissedCall(t *testing.T) {
	e := newEnv(t, true)
	r := e.ui.Rooms()
	s := e.be.RoomsSnapshot()
	s.Missed = []ui.MissedCall{{RoomID: bob.ID, EventID: "$undecryptable", Sender: bob.Peer, SenderName: "Bob",
		Time: t0.Add(-5 * time.Minute), Reason: "its key never arrived"}}
	e.be.SetRooms(s)
	if got := r.Missed(); len(got) != 1 || got[0].EventID != "$undecryptable" {
		t.Fatalf("missed = %+v", got)
	}
	e.assertScreen("rooms_missed", e.ui.Window().Canvas())

	test.Tap(findButton(t, e.ui.Window().Canvas().Content(), "Call back"))
	if got := e.be.Actions(); !contains(got, "place "+bob.ID+" "+bob.Peer+" video=false") {
		t.Fatalf("call back: actions %v", got)
	}
	_ = e.be.Hangup(context.Background(), e.ui.Call().Info().ID)
	e.ui.ShowRooms()

	test.Tap(findButton(t, e.ui.Window().Canvas().Content(), "Dismiss"))
	if len(r.Missed()) != 0 {
		t.Fatal("dismissed entry still listed")
	}
	e.be.SetRooms(s) // the backend still reports it: it stays dismissed
	if len(r.Missed()) != 0 {
		t.Fatal("dismissed entry came back with the next snapshot")
	}
}

// The call view says whether the call is encrypted and follows trust
// changes that arrive with later room snapshots.
func TestCallSecurity(t *testing.T) {
	e := newEnv(t, true)
	videoCall(t, e)
	c := e.ui.Call()
	if got, want := c.Security(), "End-to-end encrypted · Alice Liddell's devices are verified"; got != want {
		t.Fatalf("security = %q, want %q", got, want)
	}
	s := e.be.RoomsSnapshot()
	s.Rooms = append([]ui.Room(nil), s.Rooms...)
	for i := range s.Rooms {
		if s.Rooms[i].ID == alice.ID {
			s.Rooms[i].Trust = ui.TrustUnverified
		}
	}
	e.be.SetRooms(s)
	if got := c.Security(); !strings.Contains(got, "Alice Liddell has unverified devices") {
		t.Fatalf("security after a new device = %q", got)
	}
	for i := range s.Rooms {
		if s.Rooms[i].ID == alice.ID {
			s.Rooms[i].Encrypted = false
		}
	}
	e.be.SetRooms(s)
	if got := c.Security(); got != "Not encrypted" {
		t.Fatalf("security of a plain room = %q", got)
	}
}

func TestTrustString(t *testing.T) {
	for tr, want := range map[ui.Trust]string{ui.TrustUnknown: "unknown", ui.TrustVerified: "verified", ui.TrustUnverified: "unverified"} {
		if tr.String() != want {
			t.Errorf("%d.String() = %q, want %q", tr, tr.String(), want)
		}
	}
}
