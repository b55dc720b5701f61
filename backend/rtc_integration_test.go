//go:build integration && goolm

package backend

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"
	"weak"

	"github.com/mxcall/mxcall/callengine"
	"github.com/mxcall/mxcall/matrixclient"
	"github.com/mxcall/mxcall/matrixrtc"
	"github.com/mxcall/mxcall/media"
	"github.com/mxcall/mxcall/partner"
)

// The MatrixRTC tests run against the whole stack that scripts/test-rtc.sh
// starts in a loopback-only namespace: Dendrite (MXCALL_HS_URL), the
// token service (MXCALL_RTC_AUTH_URL, given to the callers as their
// configured focus: Dendrite advertises none) and the LiveKit SFU behind
// it. Elsewhere (scripts/test-integration.sh) they skip.

// rtcIT is startIT plus the token service's URL.
func rtcIT(t *testing.T) (context.Context, string, string) {
	t.Helper()
	focus := os.Getenv("MXCALL_RTC_AUTH_URL")
	if focus == "" {
		t.Skip("MXCALL_RTC_AUTH_URL not set: the MatrixRTC stack runs in scripts/test-rtc.sh")
	}
	ctx, hs := startIT(t)
	return ctx, hs, focus
}

// rtcUser is a logged-in Backend (test pattern and tone; its DMs
// plaintext unless encryptedDMs) and its call updates.
type rtcUser struct {
	b       *Backend
	id      string
	pw      string
	updates chan callengine.CallInfo
}

func newRTCUser(ctx context.Context, t *testing.T, hs, name, focus string, encryptedDMs ...bool) *rtcUser {
	t.Helper()
	user, pw := registerIT(t, hs, name)
	plain := len(encryptedDMs) == 0 || !encryptedDMs[0]
	cfg := Config{Keyring: matrixclient.NewMemoryKeyring(), DataDir: t.TempDir(),
		Log:           slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: itLogLevel()})).With("user", name),
		MediaOptions:  []media.Option{media.WithTestPattern(), media.WithTone(440)},
		ClientOptions: []matrixclient.Option{matrixclient.WithPlaintextDMs(plain)},
	}
	if focus != "" {
		cfg.RTCFoci = []matrixrtc.Transport{{Type: matrixrtc.TransportLiveKit, ServiceURL: focus}}
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	if _, err := b.Login(ctx, hs, user, pw); err != nil {
		t.Fatal(err)
	}
	u := &rtcUser{b: b, id: user, pw: pw, updates: make(chan callengine.CallInfo, 1024)}
	t.Cleanup(b.SubscribeCalls(func(ci callengine.CallInfo) { u.updates <- ci }))
	waitIT(ctx, t, name+"'s encryption ready", func() bool { return b.mc.Status().E2EE })
	return u
}

// dm makes a plaintext direct chat between u and peer (who joins it).
func (u *rtcUser) dm(ctx context.Context, t *testing.T, peer *rtcUser) string {
	t.Helper()
	room, err := u.b.CreateDM(ctx, peer.id)
	if err != nil {
		t.Fatal(err)
	}
	waitIT(ctx, t, "the invite", func() bool {
		for _, inv := range peer.b.mc.Invites() {
			if inv.RoomID == room {
				return true
			}
		}
		return false
	})
	if err := peer.b.AcceptInvite(ctx, room); err != nil {
		t.Fatal(err)
	}
	waitIT(ctx, t, "the DM callable", func() bool { _, err := u.b.mc.CallPeer(room); return err == nil })
	return room
}

// until reads u's updates until one satisfies ok; it fails on an ended
// call that does not.
func (u *rtcUser) until(ctx context.Context, t *testing.T, what string, ok func(callengine.CallInfo) bool) callengine.CallInfo {
	t.Helper()
	for {
		select {
		case ci := <-u.updates:
			if ok(ci) {
				return ci
			}
			if ci.State == callengine.StateEnded {
				t.Fatalf("waiting for %s: call %s ended (%v by %v)", what, ci.ID, ci.EndReason, ci.EndedBy)
			}
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// ended waits for callID's end and checks who ended it and why.
func (u *rtcUser) ended(ctx context.Context, t *testing.T, callID string, by callengine.Party, why callengine.EndReason) {
	t.Helper()
	for {
		select {
		case ci := <-u.updates:
			if ci.ID != callID || ci.State != callengine.StateEnded {
				continue
			}
			if ci.EndedBy != by || ci.EndReason != why {
				t.Fatalf("%s ended %v by %v, want %v by %v", callID, ci.EndReason, ci.EndedBy, why, by)
			}
			waitIT(ctx, t, "the call released", func() bool { return !u.b.rtc.has(callID) })
			return
		case <-ctx.Done():
			t.Fatalf("%s never ended", callID)
		}
	}
}

// ringing waits for an incoming MatrixRTC ring from caller.
func (u *rtcUser) ringing(ctx context.Context, t *testing.T, caller string) callengine.CallInfo {
	t.Helper()
	return u.until(ctx, t, "the ring", func(ci callengine.CallInfo) bool {
		return ci.State == callengine.StateRinging && ci.Direction == callengine.Incoming && ci.Peer == caller &&
			strings.HasPrefix(ci.ID, rtcIDPrefix)
	})
}

// frames waits until callID's remote picture has n frames.
func (u *rtcUser) frames(ctx context.Context, t *testing.T, callID string, n uint64) {
	t.Helper()
	waitIT(ctx, t, "remote frames", func() bool {
		fs := u.b.RemoteVideo(callID)
		if fs == nil {
			return false
		}
		_, seq, _ := fs.FrameInto(nil, 0)
		return seq >= n
	})
}

// TestIntegrationRTCDMCall: in a plaintext DM with a focus, PlaceCall
// places a MatrixRTC call that rings the callee (a second Backend, which
// finds the focus in the caller's membership). Declined, the caller's
// call ends as rejected; unanswered, it times out on both sides;
// answered, video is decoded both ways, each sees the other's tile, and
// a hangup ends the call on both sides and takes both memberships away.
func TestIntegrationRTCDMCall(t *testing.T) {
	ctx, hs, focus := rtcIT(t)
	alice := newRTCUser(ctx, t, hs, "alice", focus)
	bob := newRTCUser(ctx, t, hs, "bob", "")
	room := alice.dm(ctx, t, bob)

	t.Run("decline", func(t *testing.T) {
		id, err := alice.b.PlaceCall(ctx, room, bob.id, true)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(id, rtcIDPrefix) {
			t.Fatalf("placed %q: not a MatrixRTC call", id)
		}
		alice.until(ctx, t, "ringing out", func(ci callengine.CallInfo) bool { return ci.State == callengine.StateInviteSent })
		in := bob.ringing(ctx, t, alice.id)
		if !in.Video || in.RoomID != room {
			t.Errorf("ring shown as %+v", in)
		}
		if err := bob.b.Reject(ctx, in.ID); err != nil {
			t.Fatal(err)
		}
		bob.ended(ctx, t, in.ID, callengine.PartyLocal, callengine.ReasonRejected)
		alice.ended(ctx, t, id, callengine.PartyRemote, callengine.ReasonRejected)
		waitIT(ctx, t, "no one in the call", func() bool { return alice.b.callMembers(room) == 0 })
	})

	t.Run("ring times out", func(t *testing.T) {
		alice.b.rtc.cfg.ringLifetime = 3 * time.Second // read by the next call's goroutine
		defer func() { alice.b.rtc.cfg.ringLifetime = matrixrtc.DefaultRingLifetime }()
		id, err := alice.b.PlaceCall(ctx, room, bob.id, false)
		if err != nil {
			t.Fatal(err)
		}
		in := bob.ringing(ctx, t, alice.id)
		alice.ended(ctx, t, id, callengine.PartyLocal, callengine.ReasonInviteTimeout)
		// Bob's ring ends when its lifetime passes or when alice leaves,
		// whichever bob's sync sees first.
		ci := bob.until(ctx, t, "bob's ring to end", func(ci callengine.CallInfo) bool {
			return ci.ID == in.ID && ci.State == callengine.StateEnded
		})
		if ci.EndedBy != callengine.PartyRemote ||
			(ci.EndReason != callengine.ReasonInviteTimeout && ci.EndReason != callengine.ReasonUserHangup) {
			t.Errorf("bob's ring ended %v by %v", ci.EndReason, ci.EndedBy)
		}
		waitIT(ctx, t, "bob's ring released", func() bool { return !bob.b.rtc.has(in.ID) })
		waitIT(ctx, t, "no one in the call", func() bool { return alice.b.callMembers(room) == 0 })
	})

	t.Run("answer, video both ways, hangup", func(t *testing.T) {
		start := time.Now()
		since := func() time.Duration { return time.Since(start).Round(time.Millisecond) }
		id, err := alice.b.PlaceCall(ctx, room, bob.id, true)
		if err != nil {
			t.Fatal(err)
		}
		placed := since() // joined and rung
		in := bob.ringing(ctx, t, alice.id)
		rung := since()
		if err := bob.b.Answer(ctx, in.ID, true); err != nil {
			t.Fatal(err)
		}
		answered := since() // bob joined
		bob.until(ctx, t, "bob connected", func(ci callengine.CallInfo) bool { return ci.State == callengine.StateConnected })
		alice.until(ctx, t, "alice connected", func(ci callengine.CallInfo) bool {
			return ci.ID == id && ci.State == callengine.StateConnected
		})
		connected := since()
		alice.frames(ctx, t, id, 1)
		first := since()
		bob.frames(ctx, t, in.ID, 1)
		t.Logf("DM call steps after PlaceCall: caller joined and rang %v, callee's ring shown %v, callee joined (Answer returned) %v, "+
			"caller saw the callee in the call %v, first remote frame at the caller %v, at the callee %v",
			placed, rung, answered, connected, first, since())
		alice.frames(ctx, t, id, 30)
		bob.frames(ctx, t, in.ID, 30)
		for _, c := range []struct {
			u      *rtcUser
			callID string
			peer   *rtcUser
		}{{alice, id, bob}, {bob, in.ID, alice}} {
			ps := c.u.b.Participants(c.callID)
			if len(ps) != 2 || !ps[0].Local || ps[0].Video == nil || !strings.HasPrefix(ps[1].ID, c.peer.id+":") || ps[1].Video == nil {
				t.Errorf("%s's tiles: %+v", c.u.id, ps)
			}
		}
		if err := alice.b.Hangup(ctx, id); err != nil {
			t.Fatal(err)
		}
		alice.ended(ctx, t, id, callengine.PartyLocal, callengine.ReasonUserHangup)
		bob.ended(ctx, t, in.ID, callengine.PartyRemote, callengine.ReasonUserHangup)
		waitIT(ctx, t, "no one in the call", func() bool {
			return alice.b.callMembers(room) == 0 && bob.b.callMembers(room) == 0
		})
	})
}

// TestIntegrationRTCEchoPartner: the echo partner (partner.Run, as `mxcall
// echo` runs it) answers a MatrixRTC ring in a plaintext DM, the caller
// decodes its own picture sent back, and the partner leaves when the
// caller hangs up (TestIntegrationRTCEchoPartnerEncrypted does the same in
// an encrypted DM).
func TestIntegrationRTCEchoPartner(t *testing.T) {
	ctx, hs, focus := rtcIT(t)
	echo := startRTCEcho(ctx, t, hs)
	rtcEchoCall(ctx, t, newRTCUser(ctx, t, hs, "alice", focus), echo, false)
}

func rtcEchoCall(ctx context.Context, t *testing.T, alice *rtcUser, echo string, encrypted bool) {
	t.Helper()
	room, err := alice.b.CreateDM(ctx, echo)
	if err != nil {
		t.Fatal(err)
	}
	waitIT(ctx, t, "the partner in the DM", func() bool { _, err := alice.b.mc.CallPeer(room); return err == nil })
	if r, _ := alice.b.mc.Room(room); r.Encrypted != encrypted {
		t.Fatalf("room encrypted: %v, want %v", r.Encrypted, encrypted)
	}

	start := time.Now()
	id, err := alice.b.PlaceCall(ctx, room, echo, true)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(id, rtcIDPrefix) {
		t.Fatalf("placed %q: not a MatrixRTC call", id)
	}
	alice.until(ctx, t, "connected", func(ci callengine.CallInfo) bool { return ci.ID == id && ci.State == callengine.StateConnected })
	alice.frames(ctx, t, id, 1)
	t.Logf("echo: PlaceCall → first echoed frame %v", time.Since(start).Round(time.Millisecond))
	alice.frames(ctx, t, id, 30)
	if ps := alice.b.Participants(id); len(ps) != 2 || ps[1].Encrypted != encrypted || ps[1].WaitingForKey {
		t.Errorf("tiles %+v", ps)
	}
	if err := alice.b.Hangup(ctx, id); err != nil {
		t.Fatal(err)
	}
	alice.ended(ctx, t, id, callengine.PartyLocal, callengine.ReasonUserHangup)
	waitIT(ctx, t, "the partner gone from the call", func() bool {
		state, err := alice.b.mc.RoomState(ctx, room, matrixrtc.TypeCallMember)
		return err == nil && len(matrixrtc.NewMemberships(room, state, time.Now()).Slot(matrixrtc.SlotRoom)) == 0
	})
}

// TestIntegrationRTCSoak places MatrixRTC video calls to the echo partner
// (in this process) one after another, each until echoed frames are
// decoded, then hung up. Everything a call used must be released when it
// ends: the call's media Source and remote frame slot become unreachable,
// and after the last call the goroutines and the live heap are back
// within soakGoroutineSlack and soakHeapSlack of what they were after the
// first (what the LiveKit client and the partner keep between calls
// included). MXCALL_SOAK_CALLS sets the number of calls (default 6).
func TestIntegrationRTCSoak(t *testing.T) {
	ctx, hs, focus := rtcIT(t)
	n := 6
	if s := os.Getenv("MXCALL_SOAK_CALLS"); s != "" {
		if _, err := fmt.Sscan(s, &n); err != nil || n < 2 {
			t.Fatalf("MXCALL_SOAK_CALLS=%q: want a number ≥ 2", s)
		}
	}
	alice := newRTCUser(ctx, t, hs, "alice", focus)
	echo := startRTCEcho(ctx, t, hs)
	room, err := alice.b.CreateDM(ctx, echo)
	if err != nil {
		t.Fatal(err)
	}
	waitIT(ctx, t, "the partner in the DM", func() bool { _, err := alice.b.mc.CallPeer(room); return err == nil })
	var first soakPoint
	for i := 1; i <= n; i++ {
		id, err := alice.b.PlaceCall(ctx, room, echo, true)
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		alice.until(ctx, t, fmt.Sprintf("call %d connected", i), func(ci callengine.CallInfo) bool {
			return ci.ID == id && ci.State == callengine.StateConnected
		})
		alice.frames(ctx, t, id, 30)
		c := alice.b.rtc.get(id)
		c.media.frames.mu.Lock()
		slot := weak.Make(c.media.frames.slot)
		c.media.frames.mu.Unlock()
		src := weak.Make(c.media.source())
		c = nil
		if err := alice.b.Hangup(ctx, id); err != nil {
			t.Fatalf("call %d: hangup: %v", i, err)
		}
		alice.ended(ctx, t, id, callengine.PartyLocal, callengine.ReasonUserHangup)
		waitIT(ctx, t, fmt.Sprintf("call %d: the partner gone", i), func() bool { return alice.b.callMembers(room) == 0 })
		if !unreachable(ctx, false, func() bool { return src.Value() == nil && slot.Value() == nil }) {
			t.Fatalf("call %d: its media.Source (reachable: %v) or remote FrameSlot (%v) is still reachable after the call was released",
				i, src.Value() != nil, slot.Value() != nil)
		}
		switch i {
		case 1:
			first = measureSoak(t, "", "")
			t.Logf("after call 1: live heap %.1f MB, %d goroutines", mb(first.heap), first.goroutines)
		case n:
			var last soakPoint
			waitIT(ctx, t, "goroutines back to the first call's count", func() bool {
				last = measureSoak(t, "", "")
				return last.goroutines <= first.goroutines+soakGoroutineSlack
			})
			t.Logf("after call %d: live heap %.1f MB (%+.1f MB), %d goroutines (%+d)", n, mb(last.heap),
				mb(last.heap)-mb(first.heap), last.goroutines, last.goroutines-first.goroutines)
			if last.heap > first.heap+soakHeapSlack {
				t.Errorf("live heap grew from %.1f MB after call 1 to %.1f MB after call %d (bound +%d MB): ended calls stay referenced",
					mb(first.heap), mb(last.heap), n, soakHeapSlack>>20)
			}
		}
	}
}

// itLogLevel is Warn, or Debug when MXCALL_BENCH_DEBUG is set (to see
// inside a benchmark's steps).
func itLogLevel() slog.Level {
	if os.Getenv("MXCALL_BENCH_DEBUG") != "" {
		return slog.LevelDebug
	}
	return slog.LevelWarn
}

// startRTCEcho runs the echo partner (partner.Run) as a new user until the
// test ends, and returns its user ID once it is ready.
func startRTCEcho(ctx context.Context, t *testing.T, hs string) string {
	t.Helper()
	echo, pw := registerIT(t, hs, "echo")
	pctx, stop := context.WithCancel(ctx)
	ready, done := make(chan struct{}), make(chan error, 1)
	go func() {
		done <- partner.Run(pctx, partner.Config{UserID: echo, Password: pw, Homeserver: hs, DataDir: t.TempDir(),
			Log:   slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: itLogLevel()})).With("user", "echo"),
			Ready: func(string) { close(ready) }})
	}()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("partner: %v", err)
		}
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("partner: %v", err)
	}
	return echo
}
