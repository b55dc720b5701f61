// Command preview runs the mxcall UI against the in-memory fake backend
// (ui/fake), so every screen can be seen, clicked through and screenshotted
// without a homeserver, camera or sound card.
//
//	go run ./ui/cmd/preview                    # interactive demo: any password logs in
//	go run ./ui/cmd/preview -screen call-video # open straight in one state
//	go run ./ui/cmd/preview -screen call-grid  # a group call of four
//	go run ./ui/cmd/preview -screen share-picker         # the screen-share picker
//	go run ./ui/cmd/preview -screen call-sharing         # we share: the call view and the bar
//	go run ./ui/cmd/preview -screen call-receiving-share # Alice shares her screen
//	go run ./ui/cmd/preview -screen call-grid-share      # Bob shares in the group call
//
// Remote and local video are synthetic frames drawn at -res and -fps, fed
// through the same latest-frame slot interface a decoder uses; the other
// members of a group call send 640×360 frames of their own colours. Group
// (MatrixRTC) calls are on: "Team standup" has a call in progress to join.
// With -stats it prints the remote view's repaint rate, CPU and RSS every
// 5 s.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/app"

	"github.com/mxcall/mxcall/callengine"
	"github.com/mxcall/mxcall/ui"
	"github.com/mxcall/mxcall/ui/fake"
)

var screens = []string{"demo", "login", "login-error", "rooms", "rooms-offline", "incoming", "incoming-group",
	"call-ringing", "call-video", "call-voice", "call-ended", "call-grid", "settings", "verify-emoji",
	"crosssign-key", "recovery-key", "call-new-device", "incoming-new-device",
	"share-picker", "call-sharing", "call-receiving-share", "call-grid-share"}

// securityScreens show the trust UI of issue 16; only they get the fake's
// Security side, so the other screens stay as docs/ shows them.
var securityScreens = map[string]bool{"crosssign-key": true, "recovery-key": true, "call-new-device": true,
	"incoming-new-device": true}

func main() {
	screen := flag.String("screen", "demo", "state to open in: "+strings.Join(screens, ", "))
	res := flag.String("res", "1280x720", "size of the synthetic remote video")
	fps := flag.Int("fps", 30, "frame rate of the synthetic video")
	stats := flag.Bool("stats", false, "print repaint rate, CPU and RSS every 5 s")
	quitAfter := flag.Duration("quit-after", 0, "quit after this long (0: run until closed)")
	size := flag.String("size", "960x640", "main window size")
	speakers := flag.Bool("speakers", false, "in a group call, pass the speaker highlight and Bob's muted microphone around every 2 s")
	flag.Parse()

	w, h, err := parseSize(*res)
	if err != nil {
		log.Fatalf("-res: %v", err)
	}
	ww, wh, err := parseSize(*size)
	if err != nil {
		log.Fatalf("-size: %v", err)
	}
	known := false
	for _, s := range screens {
		known = known || s == *screen
	}
	if !known {
		log.Fatalf("unknown -screen %q; one of %s", *screen, strings.Join(screens, ", "))
	}

	a := app.NewWithID("im.mxcall.app")
	be := fake.New()
	be.AutoProgress = true
	be.GroupCalls = true
	be.Verifier = true
	be.Securer = securityScreens[*screen]
	be.RingFor = 2 * time.Second
	be.HomeserverFor = func(id string) (string, error) {
		if i := strings.IndexByte(id, ':'); i > 0 {
			return "https://matrix." + id[i+1:], nil
		}
		return "", ui.ErrInvalidUserID
	}
	be.Password = ""
	be.LoginErr = nil
	me := ui.Session{UserID: "@me:example.org", DisplayName: "Sam Example", Homeserver: "https://matrix.example.org"}
	if *screen != "demo" && !strings.HasPrefix(*screen, "login") {
		be.Stored = &me
	}
	now := time.Now()
	// Alice: encrypted, devices verified; Bob: encrypted, an unverified
	// device; Dana: encrypted, devices not known yet; the group rooms: plain.
	alice := ui.Room{ID: "!alice", Name: "Alice Liddell", Peer: "@alice:example.org", DM: true, LastActive: now.Add(-2 * time.Minute),
		Encrypted: true, Trust: ui.TrustVerified}
	bob := ui.Room{ID: "!bob", Name: "Bob Builder", Peer: "@bob:matrix.org", DM: true, LastActive: now.Add(-3 * time.Hour),
		Encrypted: true, Trust: ui.TrustUnverified}
	team := ui.Room{ID: "!team", Name: "Team standup", LastActive: now, CallMembers: 3}
	snap := ui.RoomsSnapshot{
		Rooms: []ui.Room{
			team,
			alice, bob,
			{ID: "!dana", Name: "Dana Scully", Peer: "@dana:fbi.example", DM: true, LastActive: now.Add(-48 * time.Hour), Encrypted: true},
			{ID: "!matrix", Name: "Matrix HQ", LastActive: now.Add(-time.Hour)},
		},
		Invites: []ui.Invite{{RoomID: "!carol", Inviter: "@carol:example.org", InviterName: "Carol Danvers", DM: true}},
		Sync:    ui.SyncOK,
	}
	if *screen == "rooms" {
		// An invite from Dana that never decrypted (not in "demo": the
		// clicked-through GUI test expects the rows where they are).
		snap.Missed = []ui.MissedCall{{RoomID: "!dana", EventID: "$undecryptable", Sender: "@dana:fbi.example",
			SenderName: "Dana Scully", Time: now.Add(-7 * time.Minute), Reason: "its key has not reached this device"}}
	}
	if *screen == "rooms-offline" {
		snap.Sync = ui.SyncOffline
		snap.NoTURN = true
	}
	be.SetRooms(snap)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go fake.Produce(ctx, be.RemoteSlot, w, h, *fps, fake.RemoteColors)
	go fake.Produce(ctx, be.LocalSlot, 640, 480, *fps, fake.LocalColors)
	// A shared screen (Alice's in -screen call-receiving-share, Bob's in
	// call-grid-share): 1280×720 at 5 fps, as screens are sent.
	if *screen == "call-receiving-share" || *screen == "call-grid-share" {
		go fake.ProduceScreen(ctx, be.RemoteScreenSlot, 1280, 720, 5, 1)
	}
	// Who is in Team standup's call: Alice speaks, Bob has muted his
	// microphone, Dana sends no video.
	for i, m := range []ui.Participant{
		{ID: "@alice:example.org:ALICEPHONE", Name: "Alice Liddell", Speaking: true},
		{ID: "@bob:matrix.org:BOBLAPTOP", Name: "Bob Builder", AudioMuted: true},
		{ID: "@dana:fbi.example:DANADESK", Name: "Dana Scully"},
	} {
		if i < 2 {
			slot := &fake.FrameSlot{}
			go fake.Produce(ctx, slot, 640, 360, *fps, fake.Palettes[1+i])
			m.Video = slot
		}
		be.Members = append(be.Members, m)
	}
	if *screen == "call-grid-share" {
		be.Members = append(be.Members, ui.Participant{ID: "@bob:matrix.org:BOBLAPTOP#screen", Name: "Bob Builder",
			Video: be.RemoteScreenSlot, Screen: true})
	}

	opts := []ui.Option{}
	if *screen == "call-ended" {
		opts = append(opts, ui.WithEndDelay(0))
	}
	if *stats {
		opts = append(opts, ui.WithStatsLog(slog.New(slog.NewTextHandler(os.Stderr, nil)), 5*time.Second))
	}
	u := ui.New(a, be.UI(), opts...)
	u.Window().Resize(fyne.NewSize(float32(ww), float32(wh)))

	// Drive the fake into the requested state once the window is up.
	go func() {
		// Wait until the session is restored (or the login screen is up).
		for ready := false; !ready; {
			time.Sleep(100 * time.Millisecond)
			fyne.DoAndWait(func() { ready = u.Rooms() != nil || u.Login() != nil })
		}
		time.Sleep(300 * time.Millisecond)
		fyne.DoAndWait(func() { drive(*screen, u, be, alice, bob, team) })
		if *screen == "call-ended" {
			time.Sleep(3 * time.Second) // let it connect and run a little
			if c := u.Call(); c != nil {
				_ = be.End(c.Info().ID, callengine.PartyRemote, callengine.ReasonUserHangup)
			}
		}
		if *screen == "demo" {
			// Someone calls 10 s after login, so the incoming window can be tried.
			for u.Rooms() == nil {
				time.Sleep(200 * time.Millisecond)
			}
			time.Sleep(10 * time.Second)
			fyne.Do(func() {
				if u.Call() == nil {
					be.Ring(alice, true)
				}
			})
		}
	}()
	if *stats {
		go printStats(u)
	}
	if *speakers {
		go passSpeaker(u, be)
	}
	if *quitAfter > 0 {
		time.AfterFunc(*quitAfter, func() { fyne.Do(a.Quit) })
	}
	u.Run()
}

func drive(screen string, u *ui.UI, be *fake.Backend, alice, bob, team ui.Room) {
	switch screen {
	case "demo":
		if l := u.Login(); l != nil {
			l.UserID.SetText("@me:example.org")
		}
	case "login-error":
		l := u.Login()
		if l == nil {
			return
		}
		be.Password = "secret"
		l.UserID.SetText("@me:example.org")
		l.SetHomeserver("https://matrix.example.org")
		l.Password.SetText("hunter2")
		l.Submit.OnTapped()
	case "incoming":
		be.Ring(alice, true)
	case "incoming-group":
		be.RingGroup(team, "@alice:example.org", true)
	case "call-grid":
		u.JoinCall(team, true)
	case "call-ringing":
		be.RingFor = time.Hour
		u.PlaceCall(alice, true)
	case "call-video", "call-ended":
		id := be.Ring(alice, true)
		go func() {
			time.Sleep(300 * time.Millisecond) // the ring reaches the UI through fyne.Do
			fyne.Do(func() { u.Answer(id, true) })
			time.Sleep(1500 * time.Millisecond)
			_ = be.Update(id, func(c *callengine.CallInfo) { c.RemoteAudioMuted = true })
		}()
	case "call-voice":
		u.PlaceCall(bob, false)
		go func() {
			time.Sleep(2500 * time.Millisecond)
			if c := u.Call(); c != nil {
				_ = be.Update(c.Info().ID, func(c *callengine.CallInfo) { c.Relay = true })
			}
		}()
	case "call-grid-share":
		u.JoinCall(team, true)
	case "share-picker", "call-sharing", "call-receiving-share":
		id := be.Ring(alice, true)
		go func() {
			time.Sleep(300 * time.Millisecond) // the ring reaches the UI through fyne.Do
			fyne.Do(func() { u.Answer(id, true) })
			time.Sleep(1500 * time.Millisecond) // connected
			switch screen {
			case "share-picker":
				fyne.Do(u.ShareScreen)
			case "call-sharing":
				fyne.DoAndWait(u.ShareScreen)
				for shared := false; !shared; time.Sleep(100 * time.Millisecond) {
					fyne.DoAndWait(func() {
						p := u.SharePicker()
						if shared = p == nil; !shared && len(p.Sources()) > 0 {
							p.Share.OnTapped() // the first screen
						}
					})
				}
			case "call-receiving-share":
				_ = be.SetRemoteShare(id, true)
			}
		}()
	case "settings":
		u.ShowSettings()
	case "crosssign-key":
		// Set-up done: the recovery key, shown once.
		u.SetUpCrossSigning()
		if v, ok := u.SecurityDialog(); ok {
			v.Password.SetText("hunter2")
			v.SetUp.OnTapped()
		}
	case "recovery-key":
		// A new device: a mistyped recovery key.
		be.SetCrossSigning(ui.CrossSigningStatus{Published: true})
		u.VerifyWithRecoveryKey()
		if v, ok := u.SecurityDialog(); ok {
			v.RecoveryKey.SetText("EsTj 3yST y93F SLpB jJsz eAXc 2XzA ygD3 w69H fDKq 8PLr Uj5K")
			v.Unlock.OnTapped()
		}
	case "call-new-device":
		// Bob, verified before, logged in on a new phone.
		be.SetPeerTrust(ui.PeerTrust{UserID: bob.Peer, Verified: 1, Unverified: []string{"Bob's phone (QWERTYUIOP)"}})
		be.RingFor = time.Hour
		u.PlaceCall(bob, true)
	case "incoming-new-device":
		be.SetPeerTrust(ui.PeerTrust{UserID: bob.Peer, Verified: 1, Unverified: []string{"Bob's phone (QWERTYUIOP)"}})
		be.Ring(bob, true)
	case "verify-emoji":
		// Bob asked, we accepted: the emoji to compare.
		be.PushVerification(ui.Verification{ID: "preview", Peer: bob.Peer, Incoming: true,
			State: ui.VerifyShowSAS, Emoji: fake.SampleEmoji})
	}
}

// passSpeaker makes the next member of the shown group call the speaker
// every 2 s, and toggles Bob's microphone, so the tiles can be seen to
// follow.
func passSpeaker(u *ui.UI, be *fake.Backend) {
	for i := 0; ; i++ {
		time.Sleep(2 * time.Second)
		var id string
		fyne.DoAndWait(func() {
			if c := u.Call(); c != nil && c.Grouped() {
				id = c.Info().ID
			}
		})
		if id == "" {
			continue
		}
		ps := be.Participants(id)
		if len(ps) < 2 {
			continue
		}
		speaker := 1 + i%(len(ps)-1) // ours is first: never us
		for j := range ps {
			ps[j].Speaking = j == speaker
			if ps[j].Name == "Bob Builder" {
				ps[j].AudioMuted = i%2 == 1
			}
		}
		be.SetParticipants(id, ps)
	}
}

// errBadSize means a size flag is not WxH.
var errBadSize = errors.New("want WxH")

func parseSize(s string) (int, int, error) {
	a, b, ok := strings.Cut(s, "x")
	if !ok {
		return 0, 0, fmt.Errorf("%w: %q", errBadSize, s)
	}
	w, err1 := strconv.Atoi(a)
	h, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil || w <= 0 || h <= 0 {
		return 0, 0, fmt.Errorf("%w: %q", errBadSize, s)
	}
	return w, h, nil
}

// printStats prints the remote view's repaint rate (in a group call: of
// all tiles together) and the process's CPU share and RSS every 5 s.
func printStats(u *ui.UI) {
	const every = 5 * time.Second
	var lastPaint uint64
	lastCPU := cpuTime()
	for range time.Tick(every) {
		var paints uint64
		what := "remote"
		fyne.DoAndWait(func() {
			c := u.Call()
			switch {
			case c == nil:
			case c.Grouped():
				what = fmt.Sprintf("%d tiles", len(c.Grid.Tiles()))
				for _, t := range c.Grid.Tiles() {
					paints += t.Video.Repaints()
				}
			default:
				paints = c.Remote.Repaints()
			}
		})
		cpu := cpuTime()
		fmt.Fprintf(os.Stderr, "stats: %s repaint %.1f/s  cpu %.0f%% of one core  rss %d MB\n",
			what, float64(paints-lastPaint)/every.Seconds(), 100*(cpu-lastCPU).Seconds()/every.Seconds(), rssMB())
		lastPaint, lastCPU = paints, cpu
	}
}

// cpuTime is the process's user+system CPU time from /proc (Linux only;
// zero elsewhere).
func cpuTime() time.Duration {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.Atoi(f[11])
	st, _ := strconv.Atoi(f[12])
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ is 100 on Linux
}

func rssMB() int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			kb, _ := strconv.Atoi(strings.Fields(l)[1])
			return kb / 1024
		}
	}
	return 0
}
