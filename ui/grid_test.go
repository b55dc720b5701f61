package ui_test

import (
	"fmt"
	"image"
	"runtime"
	"strings"
	"testing"
	"time"
	"weak"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/mxcall/mxcall/callengine"
	"github.com/mxcall/mxcall/ui"
	"github.com/mxcall/mxcall/ui/fake"
)

// teamCall is team with a MatrixRTC call of three devices in progress.
var teamCall = func() ui.Room { r := team; r.CallMembers = 3; return r }()

func newGroupEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, true, func(b *fake.Backend) { b.GroupCalls = true })
}

// people are the names of the group call's participants after us; the
// last is too long for a tile of a 3×3 grid.
var people = []string{"Alice Liddell", "Bob", "Carol Danvers", "Dana Scully", "Eve Moneypenny", "Frank Castle",
	"Grace Hopper", "Maximilian Alexander von Habsburg-Lothringen", "Ivan Drago", "Judy Hopps", "Mallory Knox"}

// participants returns n participants, ours first, each with a frame of
// its own colours in its slot (slots[i], nil for one without video):
// Alice speaks, Bob's microphone is off, Carol sends no video, Eve has
// turned off both microphone and camera.
func participants(e *env, n int) (ps []ui.Participant, slots []*fake.FrameSlot) {
	for i := 0; i < n; i++ {
		p := ui.Participant{ID: fmt.Sprintf("p%d", i)}
		if i == 0 {
			p = ui.Participant{ID: e.be.LocalID(), Name: "Me Myself", Local: true}
		} else {
			p.Name = people[(i-1)%len(people)]
		}
		var slot *fake.FrameSlot
		if i != 3 {
			w, h := 320, 180
			if i == 0 {
				w, h = 160, 120
			}
			img := image.NewRGBA(image.Rect(0, 0, w, h))
			c := fake.Palettes[i%len(fake.Palettes)]
			fake.Scene(img, time.Duration(i)*time.Second, c[0], c[1], c[2])
			slot = &fake.FrameSlot{}
			slot.Put(img)
			p.Video = slot
		}
		switch i {
		case 1:
			p.Speaking = true
		case 2:
			p.AudioMuted = true
		case 5:
			p.AudioMuted, p.VideoMuted = true, true
		}
		ps = append(ps, p)
		slots = append(slots, slot)
	}
	return ps, slots
}

// joinTeam joins the team room's call from the room list's Join button and
// connects it.
func joinTeam(t *testing.T, e *env) (string, *ui.CallScreen) {
	t.Helper()
	e.be.SetRooms(ui.RoomsSnapshot{Rooms: []ui.Room{teamCall, bob, alice}, Sync: ui.SyncOK})
	test.Tap(findButton(t, e.ui.Window().Canvas().Content(), "Join"))
	c := e.ui.Call()
	if c == nil || c.Info().ID == "" {
		t.Fatalf("Join opened no call view; actions %v", e.be.Actions())
	}
	id := c.Info().ID
	if err := e.be.Update(id, func(ci *callengine.CallInfo) { ci.State = callengine.StateConnected; ci.ConnectedAt = t0 }); err != nil {
		t.Fatal(err)
	}
	e.now = t0.Add(65 * time.Second)
	return id, c
}

// pollTiles puts every tile's pending frame on screen: one poll of the
// grid takes them all (one repaint of the window).
func pollTiles(t *testing.T, c *ui.CallScreen) {
	t.Helper()
	c.Grid.Poll()
}

// TestGroupCallGrid shows group calls of 1, 2, 4, 9 and 12 participants:
// tiles in a 1, 2, 2×2 and 3×3 grid, the speaker's tile highlighted, mute
// badges, initials for who sends no video, long names cut short, and a
// "+3 more" note for the three who do not fit.
func TestGroupCallGrid(t *testing.T) {
	for _, tc := range []struct {
		n     int
		shown int
		state string
	}{
		{1, 1, "Video call · just you"},
		{2, 2, "Video call · 2 people"},
		{4, 4, "Video call · 4 people"},
		{9, 9, "Video call · 9 people"},
		{12, 9, "Video call · 12 people"},
	} {
		t.Run(fmt.Sprint(tc.n), func(t *testing.T) {
			e := newGroupEnv(t)
			id, c := joinTeam(t, e)
			ps, _ := participants(e, tc.n)
			e.be.SetParticipants(id, ps)
			pollTiles(t, c)
			if !c.Grouped() {
				t.Fatal("no grid for a call with participants")
			}
			if got := len(c.Grid.Tiles()); got != tc.shown {
				t.Fatalf("%d tiles, want %d", got, tc.shown)
			}
			if got := c.Grid.More(); got != tc.n-tc.shown {
				t.Fatalf("%d more, want %d", got, tc.n-tc.shown)
			}
			if got := stateOf(t, c); got != tc.state {
				t.Errorf("state %q, want %q", got, tc.state)
			}
			for i, tile := range c.Grid.Tiles() {
				p := ps[i]
				if tile.Participant().ID != p.ID {
					t.Fatalf("tile %d shows %s, want %s", i, tile.Participant().ID, p.ID)
				}
				mic, cam := tile.Badges()
				if mic != p.AudioMuted || cam != p.VideoMuted || tile.Highlighted() != p.Speaking {
					t.Errorf("tile %s: badges %v %v, highlighted %v; want %v %v %v", p.ID, mic, cam, tile.Highlighted(),
						p.AudioMuted, p.VideoMuted, p.Speaking)
				}
				if want := p.Video != nil && !p.VideoMuted; tile.Video.Showing() != want {
					t.Errorf("tile %s: showing video %v, want %v", p.ID, tile.Video.Showing(), want)
				}
			}
			if tc.n >= 8 {
				if name := c.Grid.Tiles()[8].Name(); !strings.HasSuffix(name, "…") {
					t.Errorf("long name %q not cut short", name)
				}
			}
			for _, b := range []string{"Mute", "Camera off", "Hang up"} {
				findButton(t, c, b)
			}
			if c.Hold.Visible() {
				t.Error("group call offers hold")
			}
			e.assertScreen(fmt.Sprintf("grid_%d", tc.n), e.ui.Window().Canvas())
		})
	}
}

// stateOf returns the call view's state line.
func stateOf(t *testing.T, c *ui.CallScreen) string {
	t.Helper()
	return ui.StateText(c)
}

// Participants who stay keep their tile (and its video view) across
// updates; what changed is redrawn on it.
func TestGridTilesReused(t *testing.T) {
	e := newGroupEnv(t)
	id, c := joinTeam(t, e)
	ps, _ := participants(e, 4)
	e.be.SetParticipants(id, ps)
	before := map[string]*ui.Tile{}
	views := map[string]*ui.VideoView{}
	for _, tile := range c.Grid.Tiles() {
		before[tile.Participant().ID] = tile
		views[tile.Participant().ID] = tile.Video
	}

	// Alice stops speaking, Bob starts and unmutes, Dana joins, Carol
	// leaves.
	ps2 := []ui.Participant{ps[0], ps[1], ps[2], {ID: "p9", Name: "Dana Scully"}}
	ps2[1].Speaking = false
	ps2[2].Speaking, ps2[2].AudioMuted = true, false
	e.be.SetParticipants(id, ps2)
	tiles := c.Grid.Tiles()
	if len(tiles) != 4 {
		t.Fatalf("%d tiles", len(tiles))
	}
	for _, tile := range tiles[:3] {
		pid := tile.Participant().ID
		if tile != before[pid] || tile.Video != views[pid] {
			t.Errorf("tile of %s rebuilt", pid)
		}
	}
	if tiles[3] == before["p3"] {
		t.Error("Dana got Carol's tile")
	}
	if _, ok := c.Grid.Tile("p3"); ok {
		t.Error("Carol's tile stays after she left")
	}
	if tiles[1].Highlighted() || !tiles[2].Highlighted() {
		t.Error("speaker highlight did not move from Alice to Bob")
	}
	if mic, _ := tiles[2].Badges(); mic {
		t.Error("Bob's mute badge stays after he unmuted")
	}

	// Our own mute button mutes our tile too (through the backend).
	test.Tap(c.Mute)
	if mic, _ := c.Grid.Tiles()[0].Badges(); !mic {
		t.Error("our tile shows no mute badge after Mute")
	}
	if c.Grid.Tiles()[0] != before[e.be.LocalID()] {
		t.Error("our tile rebuilt by a mute")
	}
}

// A participant who leaves takes nothing with them: their frame source and
// their tile's frame buffers become unreachable.
func TestGridReleasesLeavers(t *testing.T) {
	e := newGroupEnv(t)
	id, c := joinTeam(t, e)
	ps, slots := participants(e, 4)
	e.be.SetParticipants(id, ps)
	pollTiles(t, c)
	bobTile, _ := c.Grid.Tile("p2")
	bufs := ui.VideoBuffers(bobTile.Video)
	if len(bufs) == 0 {
		t.Fatal("Bob's tile holds no frame")
	}
	var weakBufs []weak.Pointer[image.RGBA]
	for _, b := range bufs {
		weakBufs = append(weakBufs, weak.Make(b))
	}
	weakSlot := weak.Make(slots[2])
	ps = append(ps[:2:2], ps[3:]...) // Bob leaves
	e.be.SetParticipants(id, ps)
	runtime.GC()
	runtime.GC()
	if weakSlot.Value() != nil {
		t.Error("Bob's frame source is still reachable after he left")
	}
	for _, w := range weakBufs {
		if w.Value() != nil {
			t.Error("a frame buffer of Bob's tile is still reachable after he left")
		}
	}
	if len(c.Grid.Tiles()) != 3 {
		t.Fatalf("%d tiles after one of four left", len(c.Grid.Tiles()))
	}
}

// Once a group call ended and its view was left, none of its frame
// sources or tile buffers stay reachable.
func TestGroupCallReleasesVideo(t *testing.T) {
	e := newGroupEnv(t)
	var weakSlots []weak.Pointer[fake.FrameSlot]
	var weakBufs []weak.Pointer[image.RGBA]
	func() { // keeps the participants' references in its frame
		id, c := joinTeam(t, e)
		ps, slots := participants(e, 6)
		for i := range ps {
			ps[i].Local = false // our camera slot is the fake's own
		}
		e.be.SetParticipants(id, ps)
		pollTiles(t, c)
		for _, s := range slots {
			if s != nil {
				weakSlots = append(weakSlots, weak.Make(s))
			}
		}
		for _, tile := range c.Grid.Tiles() {
			for _, b := range ui.VideoBuffers(tile.Video) {
				weakBufs = append(weakBufs, weak.Make(b))
			}
		}
		test.Tap(c.Hangup)
		test.Tap(c.BackBtn)
	}()
	if e.ui.Call() != nil {
		t.Fatal("still on the call view after Back")
	}
	runtime.GC()
	runtime.GC()
	for _, w := range weakSlots {
		if w.Value() != nil {
			t.Error("a participant's frame source is still reachable after the call")
		}
	}
	for _, w := range weakBufs {
		if w.Value() != nil {
			t.Error("a tile's frame buffer is still reachable after the call")
		}
	}
}

// countPollers counts the goroutines polling a video view.
func countPollers() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Count(string(buf), "ui.(*VideoView).Start.func1") + strings.Count(string(buf), "ui.(*Grid).Start.func1")
}

// waitPollers waits (a little) until n video pollers run.
func waitPollers(t *testing.T, n int) {
	t.Helper()
	for i := 0; i < 500 && countPollers() != n; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if got := countPollers(); got != n {
		t.Fatalf("%d video pollers run, want %d", got, n)
	}
}

// In a running UI every tile polls its video on a goroutine of its own;
// a tile's goroutine ends when its participant leaves, and all of them
// when the call ends.
func TestGridPollersEnd(t *testing.T) {
	app := test.NewTempApp(t)
	be := fake.New()
	be.GroupCalls = true
	be.Stored = &ui.Session{UserID: "@me:example.org", Homeserver: "https://example.org"}
	be.SetRooms(ui.RoomsSnapshot{Rooms: []ui.Room{teamCall}, Sync: ui.SyncOK})
	u := ui.New(app, be.UI(), ui.WithRunner(func(f func()) { f() }), ui.WithEndDelay(0), ui.WithVideoRate(100))
	u.Start()
	base := countPollers()
	u.JoinCall(teamCall, true)
	c := u.Call()
	id := c.Info().ID
	defer c.Stop()
	// Slots without frames: the pollers find nothing to draw.
	var ps []ui.Participant
	for i := 0; i < 5; i++ {
		ps = append(ps, ui.Participant{ID: fmt.Sprint(i), Name: people[i], Video: &fake.FrameSlot{}})
	}
	be.SetParticipants(id, ps)
	// The one-to-one views (one poller: the remote view's, which paints
	// the self-view too) and the grid's, one for all five tiles.
	waitPollers(t, base+1+1)
	be.SetParticipants(id, ps[:2])
	waitPollers(t, base+1+1)
	if err := be.Hangup(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	if len(c.Grid.Tiles()) != 0 {
		t.Fatal("tiles stay after the call ended")
	}
	waitPollers(t, base+1)
	c.Stop()
	waitPollers(t, base)
}

// The Join button of a room with a call in progress joins it with video
// and opens the call view, which shows the grid.
func TestJoinButton(t *testing.T) {
	e := newGroupEnv(t)
	e.be.SetRooms(ui.RoomsSnapshot{Rooms: []ui.Room{teamCall, bob, alice}, Sync: ui.SyncOK})
	test.Tap(findButton(t, e.ui.Window().Canvas().Content(), "Join"))
	if !contains(e.be.Actions(), "join "+team.ID+" video=true") {
		t.Fatalf("actions %v", e.be.Actions())
	}
	c := e.ui.Call()
	if c == nil || !c.Grouped() || len(c.Grid.Tiles()) != 1 || !c.Grid.Tiles()[0].Participant().Local {
		t.Fatal("joining shows no grid with our own tile")
	}
	if got := stateOf(t, c); got != "Connecting…" {
		t.Errorf("state %q while joining", got)
	}
	test.Tap(c.Hangup)
	if got := stateOf(t, c); got != "Call ended: you left" {
		t.Errorf("state after hangup %q", got)
	}
	if c.Grouped() || len(c.Grid.Tiles()) != 0 {
		t.Error("the grid stays after leaving")
	}
}

// A group room without a call offers voice and video calls, which start
// one (JoinCall), when group calls are possible, and no call at all when
// they are not.
func TestGroupRoomCallButtons(t *testing.T) {
	e := newGroupEnv(t)
	r := e.ui.Rooms()
	if _, ok := r.RoomByID(team.ID); !ok {
		t.Fatal("no team room")
	}
	e.be.SetRooms(ui.RoomsSnapshot{Rooms: []ui.Room{team}, Sync: ui.SyncOK})
	buttons := callButtons(e.ui.Window().Canvas().Content())
	if len(buttons) != 2 {
		t.Fatalf("%d call buttons in a group room", len(buttons))
	}
	test.Tap(buttons[0])
	if !contains(e.be.Actions(), "join "+team.ID+" video=false") {
		t.Fatalf("voice button: actions %v", e.be.Actions())
	}

	e2 := newEnv(t, true)
	e2.be.SetRooms(ui.RoomsSnapshot{Rooms: []ui.Room{teamCall}, Sync: ui.SyncOK})
	if n := len(callButtons(e2.ui.Window().Canvas().Content())); n != 0 {
		t.Fatalf("%d call buttons in a group room without group calls", n)
	}
}

// The room list marks a room whose call is in progress (with the count)
// and offers Join; the mark follows the count in later snapshots.
func TestRoomListCallInProgress(t *testing.T) {
	e := newGroupEnv(t)
	s := e.be.RoomsSnapshot()
	e.be.SetRooms(s) // no call yet
	if hasButton(e.ui.Window().Canvas().Content(), "Join") {
		t.Fatal("Join offered without a call")
	}
	s.Rooms = []ui.Room{teamCall, bob, alice}
	e.be.SetRooms(s)
	if !hasButton(e.ui.Window().Canvas().Content(), "Join") {
		t.Fatal("no Join for a room with a call in progress")
	}
	e.assertScreen("rooms_call", e.ui.Window().Canvas())
	s.Rooms = []ui.Room{team, bob, alice}
	e.be.SetRooms(s)
	if hasButton(e.ui.Window().Canvas().Content(), "Join") {
		t.Fatal("Join stays after the call ended")
	}
}

// A legacy one-to-one call looks as it always did when group calls exist.
func TestLegacyCallWithGroupBackend(t *testing.T) {
	e := newGroupEnv(t)
	videoCall(t, e)
	c := e.ui.Call()
	if c.Grouped() {
		t.Fatal("a one-to-one call shows the grid")
	}
	e.assertScreen("call_video", e.ui.Window().Canvas())
}

// Participant changes that arrive once the app quits are dropped: they
// must not bring tiles (and their pollers) back to a taken-down view.
func TestGroupUpdatesAfterQuitDropped(t *testing.T) {
	e := newGroupEnv(t)
	var notify func(string)
	grp := &spyGroup{Backend: e.be, sub: func(fn func(string)) { notify = fn }}
	b := e.be.UI()
	b.Group = grp
	u := ui.New(e.app, b, ui.WithRunner(func(f func()) { f() }), ui.WithClock(func() time.Time { return t0 }),
		ui.WithEndDelay(0), ui.WithStatic())
	u.Start()
	u.JoinCall(teamCall, true)
	c := u.Call()
	id := c.Info().ID
	ps, _ := participants(e, 4)
	e.be.SetParticipants(id, ps)
	if len(c.Grid.Tiles()) != 4 {
		t.Fatalf("%d tiles before quitting", len(c.Grid.Tiles()))
	}
	ui.Quit(u)
	if len(c.Grid.Tiles()) != 0 {
		t.Fatal("quitting left tiles")
	}
	ps2, _ := participants(e, 6)
	grp.parts = ps2
	notify(id) // a notice already on its way when the app quit
	if len(c.Grid.Tiles()) != 0 {
		t.Fatal("a participant update after quitting reached the call view")
	}
}

// spyGroup records the participant subscription and, once parts is set,
// answers with it.
type spyGroup struct {
	*fake.Backend
	sub   func(func(string))
	parts []ui.Participant
}

func (g *spyGroup) SubscribeParticipants(fn func(string)) func() {
	g.sub(fn)
	return g.Backend.SubscribeParticipants(fn)
}

func (g *spyGroup) Participants(id string) []ui.Participant {
	if g.parts != nil {
		return g.parts
	}
	return g.Backend.Participants(id)
}

// A ring from a group room names the room and the caller; long names are
// cut short to fit the window.
func TestIncomingGroupRing(t *testing.T) {
	e := newGroupEnv(t)
	var id string
	test.AssertNotificationSent(t, fyne.NewNotification("Incoming group video call", "@bob:example.org is calling in Team standup"), func() {
		id = e.be.RingGroup(team, "@bob:example.org", true)
	})
	scr, w, ok := e.ui.Incoming(id)
	if !ok {
		t.Fatal("no incoming window")
	}
	w.Resize(fyne.NewSize(380, 340))
	if title, kind, from := scr.Texts(); title != "Team standup" || kind != "Incoming group video call" || from != "from @bob:example.org" {
		t.Fatalf("texts %q %q %q", title, kind, from)
	}
	e.assertScreen("incoming_group", w.Canvas())
	test.Tap(scr.AcceptVideo)
	c := e.ui.Call()
	if c == nil || c.Info().ID != id || !c.Grouped() {
		t.Fatal("accepting a group ring shows no grid")
	}

	long := ui.Room{ID: "!l:example.org", Name: "The quarterly planning meeting of the extended leadership team and friends"}
	s := e.be.RoomsSnapshot()
	s.Rooms = append(s.Rooms, long)
	e.be.SetRooms(s)
	_ = e.be.Hangup(t.Context(), id)
	id2 := e.be.RingGroup(long, "", false)
	scr2, w2, _ := e.ui.Incoming(id2)
	w2.Resize(fyne.NewSize(380, 340))
	title, kind, from := scr2.Texts()
	if !strings.HasSuffix(title, "…") || kind != "Incoming group voice call" || from != "" {
		t.Fatalf("long room: texts %q %q %q", title, kind, from)
	}
	if tw := fyne.MeasureText(title, 22, fyne.TextStyle{Bold: true}).Width; tw > 372 {
		t.Fatalf("title %q is %v wide in a 380 px window", title, tw)
	}
}

// The settings offer the legacy-call choice when group calls exist, and
// store it.
func TestSettingsLegacyCalls(t *testing.T) {
	e := newGroupEnv(t)
	frame := image.NewRGBA(image.Rect(0, 0, 320, 240))
	fake.Scene(frame, 0, fake.LocalColors[0], fake.LocalColors[1], fake.LocalColors[2])
	e.be.LocalSlot.Put(frame)
	e.ui.ShowSettings()
	s := e.ui.Settings()
	if !s.Legacy.Visible() || s.Legacy.Checked {
		t.Fatalf("legacy choice visible %v checked %v", s.Legacy.Visible(), s.Legacy.Checked)
	}
	test.Tap(s.Legacy)
	if !e.be.Settings().LegacyCalls {
		t.Fatal("checking it did not store LegacyCalls")
	}
	s.Preview.Poll()
	e.ui.Window().Canvas().Unfocus()
	e.assertScreen("settings_rtc", e.ui.Window().Canvas())
	test.Tap(s.Legacy)
	if e.be.Settings().LegacyCalls {
		t.Fatal("unchecking it did not clear LegacyCalls")
	}

	e2 := newEnv(t, true)
	e2.ui.ShowSettings()
	if e2.ui.Settings().Legacy.Visible() {
		t.Fatal("legacy choice shown without group calls")
	}
}

func TestEllipsize(t *testing.T) {
	st := fyne.TextStyle{}
	full := "Maximilian Alexander"
	w := fyne.MeasureText(full, 14, st).Width
	for _, tc := range []struct {
		max  float32
		want func(string) bool
	}{
		{w, func(s string) bool { return s == full }},
		{w - 1, func(s string) bool {
			return strings.HasSuffix(s, "…") && strings.HasPrefix(full, strings.TrimSuffix(s, "…"))
		}},
		{fyne.MeasureText("M…", 14, st).Width, func(s string) bool { return s == "M…" }},
		{1, func(s string) bool { return s == "" }},
		{-5, func(s string) bool { return s == "" }},
	} {
		got := ui.Ellipsize(full, 14, st, tc.max)
		if !tc.want(got) || fyne.MeasureText(got, 14, st).Width > fyne.Max(tc.max, 0) {
			t.Errorf("ellipsize to %v: %q", tc.max, got)
		}
	}
	if got := ui.Ellipsize("", 14, st, 0); got != "" {
		t.Errorf("empty: %q", got)
	}
}

// A legacy one-to-one call in a group room is no group call: it keeps
// Hold and says who hung up.
func TestLegacyCallInGroupRoom(t *testing.T) {
	e := newGroupEnv(t)
	club := ui.Room{ID: "!club:example.org", Name: "Book club", LastActive: t0}
	s := e.be.RoomsSnapshot()
	s.Rooms = append(s.Rooms, club)
	e.be.SetRooms(s)
	const id = "legacy1"
	e.be.Emit(callengine.CallInfo{ID: id, RoomID: club.ID, Peer: "@bob:example.org", Direction: callengine.Incoming,
		State: callengine.StateRinging, Created: t0})
	scr, _, ok := e.ui.Incoming(id)
	if !ok {
		t.Fatal("no incoming window")
	}
	if title, _, from := scr.Texts(); title != "Book club" || from != "from @bob:example.org" {
		t.Fatalf("incoming texts %q %q", title, from)
	}
	test.Tap(scr.AcceptVoice)
	if err := e.be.Update(id, func(ci *callengine.CallInfo) { ci.State = callengine.StateConnected; ci.ConnectedAt = t0 }); err != nil {
		t.Fatal(err)
	}
	c := e.ui.Call()
	if c.Grouped() || !c.Hold.Visible() {
		t.Fatalf("grouped %v, hold shown %v", c.Grouped(), c.Hold.Visible())
	}
	if err := e.be.End(id, callengine.PartyRemote, callengine.ReasonUserHangup); err != nil {
		t.Fatal(err)
	}
	if got := stateOf(t, c); got != "Call ended: @bob:example.org hung up" {
		t.Fatalf("state %q", got)
	}
}

// TestGroupCallEncryption: in an encrypted room the call view says
// "end-to-end encrypted" only when every tile's media is, names one whose
// media is not, and a tile whose key has not arrived says so and shows
// no picture until it does.
func TestGroupCallEncryption(t *testing.T) {
	e := newGroupEnv(t)
	id, c := joinTeam(t, e)
	room := teamCall
	room.Encrypted = true
	c.SetRoom(room)
	ps, _ := participants(e, 3)
	for i := range ps {
		ps[i].Encrypted = true
	}
	ps[2].WaitingForKey = true
	e.be.SetParticipants(id, ps)
	if got := c.Security(); !strings.HasPrefix(got, "End-to-end encrypted") {
		t.Errorf("all encrypted: security line %q", got)
	}
	bob, ok := c.Grid.Tile(ps[2].ID)
	if !ok || !bob.WaitingForKey() {
		t.Fatal("Bob's tile does not say it waits for his key")
	}
	if alice, _ := c.Grid.Tile(ps[1].ID); alice.WaitingForKey() {
		t.Error("Alice's tile waits for a key she sent")
	}
	pollTiles(t, c)
	if bob.Video.Showing() {
		t.Error("Bob's tile shows a picture before his key arrived")
	}
	ps[2].WaitingForKey = false
	e.be.SetParticipants(id, ps)
	pollTiles(t, c)
	if bob.WaitingForKey() || !bob.Video.Showing() {
		t.Error("Bob's key arrived but his tile still waits or shows no picture")
	}
	ps[1].Encrypted = false
	e.be.SetParticipants(id, ps)
	if got, want := c.Security(), "Not end-to-end encrypted: Alice Liddell's media is not"; got != want {
		t.Errorf("one plain member: security line %q, want %q", got, want)
	}
}

// TestGridRepaints: the grid counts what its tiles on screen painted
// (for the stats log), and forgets the tiles of those who left.
func TestGridRepaints(t *testing.T) {
	e := newGroupEnv(t)
	id, c := joinTeam(t, e)
	ps, slots := participants(e, 4) // the fourth (Carol) sends no video
	e.be.SetParticipants(id, ps)
	pollTiles(t, c)
	if tiles, frames := c.Grid.Repaints(); tiles != 4 || frames != 3 {
		t.Fatalf("Repaints() = %d tiles, %d frames; want 4, 3", tiles, frames)
	}
	for _, s := range slots[:2] {
		s.Put(image.NewRGBA(image.Rect(0, 0, 320, 180)))
	}
	pollTiles(t, c)
	if tiles, frames := c.Grid.Repaints(); tiles != 4 || frames != 5 {
		t.Fatalf("after two new frames: Repaints() = %d tiles, %d frames; want 4, 5", tiles, frames)
	}
	if c.Grid.Poll() {
		t.Error("Poll queued a repaint without a new frame")
	}
	e.be.SetParticipants(id, ps[:2])
	if tiles, frames := c.Grid.Repaints(); tiles != 2 || frames != 4 {
		t.Fatalf("after two left: Repaints() = %d tiles, %d frames; want 2, 4", tiles, frames)
	}
}
