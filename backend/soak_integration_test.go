//go:build integration && goolm

package backend

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"
	"weak"

	"github.com/mxcall/mxcall/callengine"
	"github.com/mxcall/mxcall/callengine/calltest"
	"github.com/mxcall/mxcall/internal/cmem"
	"github.com/mxcall/mxcall/matrixclient"
	"github.com/mxcall/mxcall/media"
	"github.com/mxcall/mxcall/partner"
)

// Bounds of TestIntegrationSoakCallsReleaseMemory.
const (
	// soakHeapSlack is how much more live heap the process may hold after
	// the last call than after the first. When ended calls stayed
	// referenced, this process (app backend and echo partner, no UI) kept
	// about 3 MB per call (peer connections, the media Source with its
	// preview pictures): 31.8 MB after 12 calls, past the bound by the
	// fourth. What legitimately grows (the Matrix side's state for a few
	// dozen more events, connection pools) measured +0.1 MB over 12
	// calls; the bound leaves room for GC noise and slower machines.
	soakHeapSlack = 8 << 20
	// soakCHeapSlack is the same for the C heap in use (glibc's mallinfo2):
	// measured 0.2 MB after call 1 and 0.3 MB after call 20, every codec
	// freed. With the encoder's Close left out (tried), the C heap grew
	// 14 MB a call: 56 MB after call 4. A 640x480 decoder holds 2.9 MB:
	// its leak passes the bound by the third call.
	soakCHeapSlack = 4 << 20
	// soakGoroutineSlack is how many more goroutines may be left after the
	// last call than after the first (timers and HTTP keep-alives come and
	// go).
	soakGoroutineSlack = 5
)

// TestIntegrationSoakCallsReleaseMemory places many video calls in a row
// from a Backend (test pattern and tone) to an echo partner in the same
// process, through the real homeserver, each connected until remote
// frames are decoded, then hung up. Everything a call used must be
// released when it ends: after the last call the live heap, the C heap
// in use and the goroutines are back within a few MB (a handful) of what
// they were after the first, and the ended calls' media Sources and frame
// slots are unreachable.
//
// MXCALL_SOAK_CALLS sets the number of calls (default 12);
// MXCALL_SOAK_PROFILES names a directory for heap profiles after the first
// and the last call (diff them with `go tool pprof -base first last`).
func TestIntegrationSoakCallsReleaseMemory(t *testing.T) {
	ctx, hs := startIT(t)
	n := 12
	if s := os.Getenv("MXCALL_SOAK_CALLS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 2 {
			t.Fatalf("MXCALL_SOAK_CALLS=%q: want a number ≥ 2", s)
		}
	}
	profiles := os.Getenv("MXCALL_SOAK_PROFILES")
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, p, roomID, bob := soakSetup(ctx, t, hs, log, log)
	updates := make(chan callengine.CallInfo, 1024)
	defer a.SubscribeCalls(func(ci callengine.CallInfo) { updates <- ci })()

	var first soakPoint
	leaked := false
	for i := 1; i <= n; i++ {
		src, slot := soakCall(ctx, t, a, p, updates, roomID, bob, i)
		// The call's media must become unreachable once the call is over
		// (the release goroutine may still be closing it: wait, with a
		// bound that only guards against a hang, and once only).
		if !unreachable(ctx, leaked, func() bool { return src.Value() == nil && slot.Value() == nil }) {
			leaked = true
			t.Errorf("call %d: its media.Source (reachable: %v) or remote FrameSlot (%v) is still reachable after the call was released",
				i, src.Value() != nil, slot.Value() != nil)
		}
		switch i {
		case 1:
			first = measureSoak(t, profiles, "first")
			t.Logf("after call 1: live heap %.1f MB, C heap in use %.1f MB, %d goroutines", mb(first.heap), mb(first.cHeap), first.goroutines)
		case n:
			// Goroutines of the last call (pion's, the sinks') may still be
			// on their way out: wait for them rather than count them.
			var last soakPoint
			waitIT(ctx, t, "goroutines back to the first call's count", func() bool {
				last = measureSoak(t, "", "")
				return last.goroutines <= first.goroutines+soakGoroutineSlack
			})
			last = measureSoak(t, profiles, "last")
			t.Logf("after call %d: live heap %.1f MB (%+.1f MB), C heap in use %.1f MB (%+.1f MB), %d goroutines (%+d)", n, mb(last.heap),
				mb(last.heap)-mb(first.heap), mb(last.cHeap), mb(last.cHeap)-mb(first.cHeap), last.goroutines, last.goroutines-first.goroutines)
			if last.heap > first.heap+soakHeapSlack {
				t.Errorf("live heap grew from %.1f MB after call 1 to %.1f MB after call %d (bound +%d MB): ended calls stay referenced",
					mb(first.heap), mb(last.heap), n, soakHeapSlack>>20)
			}
			if last.cHeap > first.cHeap+soakCHeapSlack {
				t.Errorf("C heap in use grew from %.1f MB after call 1 to %.1f MB after call %d (bound +%d MB): codecs or buffers of ended calls are not freed",
					mb(first.cHeap), mb(last.cHeap), n, soakCHeapSlack>>20)
			}
		}
	}
	if profiles != "" {
		t.Logf("heap profiles in %s: go tool pprof -base %s %s", profiles,
			filepath.Join(profiles, "heap-first.pb.gz"), filepath.Join(profiles, "heap-last.pb.gz"))
	}
}

// soakSetup registers alice and bob, starts bob as the echo partner and
// alice as a Backend (test pattern and tone, loopback ICE) and returns
// them with the encrypted DM they share, once bob is in it.
func soakSetup(ctx context.Context, t *testing.T, hs string, appLog, partnerLog *slog.Logger) (a *Backend, p *soakPartner, roomID, bob string) {
	t.Helper()
	alice, apw := registerIT(t, hs, "alice")
	bob, bpw := registerIT(t, hs, "bob")
	se := calltest.LoopbackSettings()
	p = startSoakPartner(ctx, t, hs, bob, bpw, partnerLog)
	a, err := New(Config{Keyring: matrixclient.NewMemoryKeyring(), DataDir: t.TempDir(), Log: appLog,
		SettingEngine: &se, MediaOptions: []media.Option{media.WithTestPattern(), media.WithTone(440)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	if _, err := a.Login(ctx, hs, alice, apw); err != nil {
		t.Fatal(err)
	}
	waitIT(ctx, t, "encryption ready", func() bool { return a.mc.Status().E2EE })
	if roomID, err = a.CreateDM(ctx, bob); err != nil {
		t.Fatal(err)
	}
	waitIT(ctx, t, "bob's invite", func() bool { return len(p.mc.Invites()) > 0 })
	if err := p.mc.AcceptInvite(ctx, roomID); err != nil {
		t.Fatal(err)
	}
	waitIT(ctx, t, "bob in the encrypted DM", func() bool { _, err := a.mc.CallPeer(roomID); return err == nil })
	// Both clients share their room keys for the DM in the background as
	// soon as it has two members (about 0.1 s here); a person clicks later
	// than that. Without this wait the first call raced the sharing.
	waitIT(ctx, t, "room keys shared in advance", func() bool {
		return a.mc.RoomKeySharedAhead(roomID) && p.mc.RoomKeySharedAhead(roomID)
	})
	return a, p, roomID, bob
}

// soakPartner is the echo partner as `mxcall echo` runs it (partner.Run),
// built here so the test can see its engine.
type soakPartner struct {
	mc  *matrixclient.Client
	eng *callengine.Engine
}

func startSoakPartner(ctx context.Context, t *testing.T, hs, user, pw string, log *slog.Logger) *soakPartner {
	t.Helper()
	mc := matrixclient.New(matrixclient.WithKeyring(matrixclient.NewMemoryKeyring()), matrixclient.WithLogger(log),
		matrixclient.WithDeviceName("mxcall echo"), matrixclient.WithDataDir(t.TempDir()))
	if err := mc.Login(ctx, user, pw, hs); err != nil {
		t.Fatal(err)
	}
	echo := partner.New(log)
	eng, err := callengine.New(mc.UserID(), mc, callengine.WithLogger(log), callengine.WithOnUpdate(echo.OnUpdate),
		callengine.WithOnTrack(echo.OnTrack), callengine.WithICEServers(mc.ICEServers()),
		callengine.WithSettingEngine(calltest.LoopbackSettings()))
	if err != nil {
		t.Fatal(err)
	}
	echo.SetEngine(eng)
	mc.SetCallHandler(eng)
	if err := mc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		mc.SetCallHandler(nil)
		_ = eng.Close()
		mc.Stop()
		_ = echo.Close()
		_ = mc.Close()
	})
	return &soakPartner{mc: mc, eng: eng}
}

// soakCall places call number i, waits until remote frames are decoded,
// hangs up and waits until both sides have released the call. It returns
// weak pointers to the call's media Source and remote frame slot.
func soakCall(ctx context.Context, t *testing.T, a *Backend, p *soakPartner, updates <-chan callengine.CallInfo,
	roomID, peer string, i int,
) (src weak.Pointer[media.Source], slot weak.Pointer[media.FrameSlot]) {
	t.Helper()
	id, err := a.PlaceCall(ctx, roomID, peer, true)
	if err != nil {
		t.Fatalf("call %d: %v", i, err)
	}
	for connected := false; !connected; {
		select {
		case ci := <-updates:
			if ci.ID != id {
				continue
			}
			if ci.State == callengine.StateEnded {
				t.Fatalf("call %d ended (%v by %v) before connecting", i, ci.EndReason, ci.EndedBy)
			}
			connected = ci.State == callengine.StateConnected
		case <-ctx.Done():
			t.Fatalf("call %d never connected", i)
		}
	}
	// About a second of echoed video, decoded.
	waitIT(ctx, t, fmt.Sprintf("call %d: 30 remote frames", i), func() bool {
		fs := a.RemoteVideo(id)
		if fs == nil {
			return false
		}
		_, seq, _ := fs.FrameInto(nil, 0)
		return seq >= 30
	})
	cm := a.existingMedia(id)
	cm.frames.mu.Lock()
	slot = weak.Make(cm.frames.slot)
	cm.frames.mu.Unlock()
	src = weak.Make(cm.source())
	if err := a.Hangup(ctx, id); err != nil {
		t.Fatalf("call %d: hangup: %v", i, err)
	}
	for ended := false; !ended; {
		select {
		case ci := <-updates:
			ended = ci.ID == id && ci.State == callengine.StateEnded
		case <-ctx.Done():
			t.Fatalf("call %d never ended", i)
		}
	}
	waitIT(ctx, t, fmt.Sprintf("call %d: media released", i), func() bool { return a.existingMedia(id) == nil })
	waitIT(ctx, t, fmt.Sprintf("call %d: ended at the partner", i), func() bool {
		ci, ok := p.eng.Call(id)
		return ok && ci.State == callengine.StateEnded
	})
	return src, slot
}

// unreachable collects garbage until gone reports true; it gives up after
// 30 s, or at once when quick is set.
func unreachable(ctx context.Context, quick bool, gone func() bool) bool {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		runtime.GC()
		if gone() {
			return true
		}
		if quick {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(50 * time.Millisecond):
		}
	}
}

type soakPoint struct {
	heap       uint64 // live heap (HeapAlloc right after a collection)
	goroutines int
	cHeap      uint64 // C heap in use (libvpx, Opus; cmem.Read), 0 where unknown
}

// measureSoak collects garbage and reads the live heap and the number of
// goroutines; with dir set it also writes heap-NAME.pb.gz there.
func measureSoak(t *testing.T, dir, name string) soakPoint {
	t.Helper()
	runtime.GC()
	runtime.GC() // a second cycle frees what finalizers released
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	pt := soakPoint{heap: ms.HeapAlloc, goroutines: runtime.NumGoroutine()}
	if c, ok := cmem.Read(); ok {
		pt.cHeap = c.InUse
	}
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(filepath.Join(dir, "heap-"+name+".pb.gz"))
		if err != nil {
			t.Fatal(err)
		}
		if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
			t.Fatal(err)
		}
		_ = f.Close()
		if g, err := os.Create(filepath.Join(dir, "goroutines-"+name+".txt")); err == nil {
			_ = pprof.Lookup("goroutine").WriteTo(g, 1)
			_ = g.Close()
		}
	}
	return pt
}

func mb(b uint64) float64 { return float64(b) / (1 << 20) }
