// Command mxcall is a desktop app for one-to-one voice and video calls over
// Matrix (VoIP v1, MSC2746).
//
//	mxcall                 open the app
//	mxcall echo [flags]    run a headless call partner that echoes media
//
// main.go only wires packages together; it holds no logic of its own.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"fyne.io/fyne/v2/app"
	lklogger "github.com/livekit/protocol/logger"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/webrtc/v4"

	"github.com/mxcall/mxcall/backend"
	"github.com/mxcall/mxcall/callengine"
	"github.com/mxcall/mxcall/internal/cmem"
	_ "github.com/mxcall/mxcall/internal/fynelocale" // before Fyne's lang package: no locale error on C.UTF-8
	"github.com/mxcall/mxcall/matrixclient"
	"github.com/mxcall/mxcall/matrixrtc"
	"github.com/mxcall/mxcall/media"
	"github.com/mxcall/mxcall/partner"
	"github.com/mxcall/mxcall/ui"
)

// Environment used by the demo and by scripts (the password never goes on
// a command line, where other users could read it).
const (
	envUser       = "MXCALL_USER"
	envPassword   = "MXCALL_PASSWORD"
	envHomeserver = "MXCALL_HOMESERVER"
	envTestMedia  = "MXCALL_TEST_MEDIA"   // "1": test pattern and tone instead of camera and mic
	envLog        = "MXCALL_LOG"          // "debug" for verbose logs
	envNoKeyring  = "MXCALL_NO_KEYRING"   // "1": keep the session in memory only
	envLoopback   = "MXCALL_ICE_LOOPBACK" // "1": ICE on 127.0.0.1 only (tests in a loopback-only namespace)
	envDataDir    = "MXCALL_DATA_DIR"     // where the encryption store lives (default: the OS config dir)
	envResolution = "MXCALL_RESOLUTION"   // capture size, e.g. 1280x720 (default 640x480; also in Settings)
	envStats      = "MXCALL_STATS"        // "1": log video repaint rates every 5 s
	envLegacy     = "MXCALL_LEGACY_CALLS" // "1": one-to-one calls the legacy way (m.call.invite) at start (also in Settings)
	// envRTCFocus is a MatrixRTC focus (the livekit_service_url of a
	// LiveKit token service) used when the homeserver advertises none.
	envRTCFocus = "MXCALL_RTC_FOCUS"
)

func main() {
	mainStarted = time.Now()
	tightenGC()
	log := newLogger()
	quietLiveKit()
	if len(os.Args) > 1 && os.Args[1] == "echo" {
		os.Exit(runEcho(log, os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "member" { // hidden: for scripts/bench-group.sh
		os.Exit(runMember(log, os.Args[2:]))
	}
	os.Exit(runApp(log))
}

// tightenGC lets the Go heap grow by half of what is live before a
// collection, not by all of it (Go's default, GOGC=100), unless GOGC is
// set. The media path hardly allocates, so collections stay rare: in a
// 4-way MatrixRTC call (scripts/bench-group.sh) the heap held fell from
// 75 to 60 MB and the app's RSS from 259 to 245 MB, its own CPU 40 % →
// 41 % of a core (within the noise).
func tightenGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(50)
	}
}

func newLogger() *slog.Logger {
	level := slog.LevelInfo
	if os.Getenv(envLog) == "debug" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// quietLiveKit keeps LiveKit's client (MatrixRTC calls) to warnings and
// errors on stderr; by default it logs every step through the standard
// log package, which the UI routes into our log as errors.
func quietLiveKit() {
	level := "warn"
	if os.Getenv(envLog) == "debug" {
		level = "info"
	}
	if l, err := lklogger.NewZapLogger(&lklogger.Config{Level: level}); err == nil {
		lksdk.SetLogger(l)
	}
}

func keyring() matrixclient.Keyring {
	if os.Getenv(envNoKeyring) == "1" {
		return matrixclient.NewMemoryKeyring()
	}
	return matrixclient.SystemKeyring()
}

// settingEngine returns pion settings for $MXCALL_ICE_LOOPBACK, else nil.
func settingEngine() *webrtc.SettingEngine {
	if os.Getenv(envLoopback) != "1" {
		return nil
	}
	se := &webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeTCP4})
	return se
}

func runApp(log *slog.Logger) int {
	// Two malloc arenas instead of up to 16: C memory freed by one thread
	// (libvpx, Mesa, Opus) is reused by the others instead of staying
	// resident in an arena of its own.
	cmem.LimitArenas(2)
	profileOnSignal(log)
	ui.RouteFyneLog(log)
	cfg := backend.Config{Log: log, Keyring: keyring(), SettingEngine: settingEngine(), DataDir: os.Getenv(envDataDir),
		ShareReleased: giveBack}
	if _, err := fmt.Sscanf(os.Getenv(envResolution), "%dx%d", &cfg.Resolution.Width, &cfg.Resolution.Height); err != nil {
		cfg.Resolution = ui.Resolution{}
	}
	cfg.LegacyCalls = os.Getenv(envLegacy) == "1"
	if os.Getenv(envTestMedia) == "1" {
		cfg.MediaOptions = []media.Option{media.WithTestPattern(), media.WithTone(440)}
	}
	if u := os.Getenv(envRTCFocus); u != "" {
		cfg.RTCFoci = []matrixrtc.Transport{{Type: matrixrtc.TransportLiveKit, ServiceURL: u}}
	}
	log.Info("starting", "since_exec", sinceExec()) // after Go's and the packages' initialisation
	be, err := backend.New(cfg)
	if err != nil {
		log.Error("starting", "err", err)
		return 1
	}
	log.Info("backend ready", "since_exec", sinceExec())
	defer func() { _ = be.Close() }()
	if user, pw := os.Getenv(envUser), os.Getenv(envPassword); user != "" && pw != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := be.Login(ctx, os.Getenv(envHomeserver), user, pw)
		cancel()
		log.Info("login from the environment", "since_exec", sinceExec())
		if err != nil {
			log.Error("login from the environment failed", "user", user, "err", err)
		}
	}
	// Armed once: when quitting starts, or when the loop ended some other way.
	bound := sync.OnceFunc(func() { exitIfStuck(log, shutdownLimit) })
	opts := []ui.Option{ui.WithRoomsShown(logRoomsShown(log)), ui.WithCallScreenGone(giveBack), ui.WithQuitting(bound)}
	if os.Getenv(envStats) == "1" {
		opts = append(opts, ui.WithStatsLog(log, 5*time.Second))
	}
	u := ui.New(app.NewWithID("im.mxcall.app"), be.UI(), opts...)
	log.Info("window created", "since_exec", sinceExec())
	u.Run()
	bound()
	_ = be.Close()
	return 0
}

// shutdownLimit is how long quitting may take before exitIfStuck ends the
// process. A normal quit takes well under a second (a hangup bounded at
// 3 s, the engine's Close bounding its own).
const shutdownLimit = 15 * time.Second

// exitIfStuck ends the process with status 1 if it is still running limit
// after the call, having logged every goroutine's stack: a quit must never
// leave a window-less process behind (once in CI, under Wine, the app
// still ran 20 s after its window was closed, and nothing said where it
// waited). The process exits on its own long before, normally.
func exitIfStuck(log *slog.Logger, limit time.Duration) {
	time.AfterFunc(limit, func() {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		log.Error("quitting takes too long: exiting anyway", "after", limit, "goroutines", string(buf))
		os.Exit(1)
	})
}

func runEcho(log *slog.Logger, args []string) int {
	fs := flag.NewFlagSet("echo", flag.ContinueOnError)
	user := fs.String("user", os.Getenv(envUser), "Matrix user ID of the partner, e.g. @echo:example.org")
	hs := fs.String("homeserver", os.Getenv(envHomeserver), "homeserver URL (default: discovered from the user ID)")
	answerAfter := fs.Duration("answer-after", 0, "let calls ring this long before answering")
	callRoom := fs.String("call", "", "place one video call into this room (ID) once it can be called")
	fs.Usage = func() {
		_, _ = fmt.Fprintf(fs.Output(), "usage: mxcall echo --user @echo:example.org [--homeserver URL]\n\n"+
			"Answers every call in the user's rooms and sends the caller's media back.\n"+
			"The password comes from $%s; without it the session stored in the keyring is used.\n\n", envPassword)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var engineOpts []callengine.Option
	if se := settingEngine(); se != nil {
		engineOpts = append(engineOpts, callengine.WithSettingEngine(*se))
	}
	err := partner.Run(ctx, partner.Config{
		UserID: *user, Password: os.Getenv(envPassword), Homeserver: *hs, Keyring: keyring(), Log: log,
		EngineOptions: engineOpts, DataDir: os.Getenv(envDataDir),
		Ready:       func(id string) { fmt.Printf("echo partner %s is ready\n", id) },
		AnswerAfter: *answerAfter, CallRoom: *callRoom,
	})
	if err != nil {
		log.Error("echo partner", "err", err)
		return 1
	}
	return 0
}

// runMember is the hidden `mxcall member`: a headless device that joins a
// room's MatrixRTC call and publishes the test pattern (at
// $MXCALL_RESOLUTION, default 640x480) and a tone until SIGTERM or
// SIGINT, then leaves (scripts/bench-group.sh runs three of them).
func runMember(log *slog.Logger, args []string) int {
	fs := flag.NewFlagSet("member", flag.ContinueOnError)
	user := fs.String("user", os.Getenv(envUser), "Matrix user ID, e.g. @bob:example.org")
	hs := fs.String("homeserver", os.Getenv(envHomeserver), "homeserver URL (default: discovered from the user ID)")
	room := fs.String("room", "", "ID of the room whose call to join (the user must be in the room)")
	focus := fs.String("focus", os.Getenv(envRTCFocus), "MatrixRTC focus (a token service URL) when the homeserver advertises none")
	tone := fs.Float64("tone", 440, "frequency of the tone sent, in Hz")
	fs.Usage = func() {
		_, _ = fmt.Fprintf(fs.Output(), "usage: mxcall member --user @bob:example.org --room '!room:server' [--focus URL]\n\n"+
			"Joins the room's MatrixRTC call and sends a test pattern and a tone until stopped (password from $%s).\n\n", envPassword)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *user == "" || *room == "" {
		fs.Usage()
		return 2
	}
	opts := []media.Option{media.WithTestPattern(), media.WithTone(*tone), media.WithLogger(log)}
	var w, h int
	if _, err := fmt.Sscanf(os.Getenv(envResolution), "%dx%d", &w, &h); err == nil {
		opts = append(opts, media.WithVideoSize(w, h))
	}
	src, err := media.NewSource(opts...)
	if err != nil {
		log.Error("member: media", "err", err)
		return 1
	}
	defer func() { _ = src.Close() }() // after the session's connection (media's close order)
	cfg := partner.MemberConfig{
		UserID: *user, Password: os.Getenv(envPassword), Homeserver: *hs, DataDir: os.Getenv(envDataDir),
		RoomID: *room, Tracks: []webrtc.TrackLocal{src.Audio(), src.Video()}, Log: log,
		Joined: func() { fmt.Printf("member %s joined the call\n", *user) },
	}
	if *focus != "" {
		cfg.Discovery.Configured = []matrixrtc.Transport{{Type: matrixrtc.TransportLiveKit, ServiceURL: *focus}}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := partner.RunMember(ctx, cfg); err != nil {
		log.Error("member", "err", err)
		return 1
	}
	return 0
}
