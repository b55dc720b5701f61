//go:build integration && goolm

package backend

import (
	"context"
	"log/slog"
	"os"
	"testing"

	"github.com/mxcall/mxcall/callengine"
	"github.com/mxcall/mxcall/callengine/calltest"
	"github.com/mxcall/mxcall/matrixclient"
	"github.com/mxcall/mxcall/media"
	"github.com/mxcall/mxcall/partner"
)

// TestIntegrationShutdownHangsUpEncrypted quits each side in the middle of
// a call in an encrypted DM, as closing the app or stopping `mxcall echo`
// does. The other side must hear a hangup (user_hangup from the remote
// party), not wait for ICE to fail: the hangup has to be encrypted before
// the client and its crypto machine stop.
func TestIntegrationShutdownHangsUpEncrypted(t *testing.T) {
	ctx, hs := startIT(t)
	alice, apw := registerIT(t, hs, "alice")
	bob, bpw := registerIT(t, hs, "bob")
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	se := calltest.LoopbackSettings()

	newBackend := func() *Backend {
		b, err := New(Config{Keyring: matrixclient.NewMemoryKeyring(), DataDir: t.TempDir(), Log: log,
			SettingEngine: &se, MediaOptions: []media.Option{media.WithTestPattern(), media.WithTone(440)}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	}
	a := newBackend()
	if _, err := a.Login(ctx, hs, alice, apw); err != nil {
		t.Fatal(err)
	}
	updates := make(chan callengine.CallInfo, 256)
	defer a.SubscribeCalls(func(ci callengine.CallInfo) { updates <- ci })()
	waitEnd := func(what, id string) callengine.CallInfo {
		t.Helper()
		for {
			select {
			case ci := <-updates:
				if ci.ID == id && ci.State == callengine.StateEnded {
					return ci
				}
			case <-ctx.Done():
				t.Fatalf("%s: alice's call never ended", what)
			}
		}
	}
	waitConnected := func(what, id string) {
		t.Helper()
		for {
			select {
			case ci := <-updates:
				if ci.ID != id {
					continue
				}
				if ci.State == callengine.StateConnected {
					return
				}
				if ci.State == callengine.StateEnded {
					t.Fatalf("%s: call ended (%v) before connecting", what, ci.EndReason)
				}
			case <-ctx.Done():
				t.Fatalf("%s: call never connected", what)
			}
		}
	}

	// 1. Bob is the echo partner; stopping it mid-call hangs up.
	pctx, stopPartner := context.WithCancel(ctx)
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- partner.Run(pctx, partner.Config{UserID: bob, Password: bpw, Homeserver: hs, DataDir: t.TempDir(),
			Log: log, EngineOptions: []callengine.Option{callengine.WithSettingEngine(se)},
			Ready: func(string) { close(ready) }})
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("partner: %v", err)
	}
	waitIT(ctx, t, "encryption ready", func() bool { return a.mc.Status().E2EE })
	roomID, err := a.CreateDM(ctx, bob)
	if err != nil {
		t.Fatal(err)
	}
	waitIT(ctx, t, "bob in the encrypted DM", func() bool { _, err := a.mc.CallPeer(roomID); return err == nil })
	id, err := a.PlaceCall(ctx, roomID, bob, false)
	if err != nil {
		t.Fatal(err)
	}
	waitConnected("echo call", id)
	stopPartner()
	if err := <-done; err != nil {
		t.Fatalf("partner: %v", err)
	}
	if ci := waitEnd("partner stopped", id); ci.EndedBy != callengine.PartyRemote || ci.EndReason != callengine.ReasonUserHangup {
		t.Fatalf("partner stopped: call ended by %v with %v, want the remote's user_hangup", ci.EndedBy, ci.EndReason)
	}

	// 2. Bob is another app; Alice's app closes mid-call and Bob's call ends.
	b := newBackend()
	if _, err := b.Login(ctx, hs, bob, bpw); err != nil {
		t.Fatal(err)
	}
	bobUpdates := make(chan callengine.CallInfo, 256)
	defer b.SubscribeCalls(func(ci callengine.CallInfo) { bobUpdates <- ci })()
	waitIT(ctx, t, "encryption ready on bob's second device", func() bool { return b.mc.Status().E2EE })
	// Alice's client learns of the new device from its sync (device list
	// change), which also retires the room key that device never got.
	waitIT(ctx, t, "alice sees bob's second device", func() bool {
		devs, _ := a.mc.PeerDevices(ctx, bob)
		for _, d := range devs {
			if d.ID == b.mc.Status().DeviceID {
				return true
			}
		}
		return false
	})
	id, err = a.PlaceCall(ctx, roomID, bob, false)
	if err != nil {
		t.Fatal(err)
	}
	var bobCall callengine.CallInfo
	for bobCall.State != callengine.StateConnected {
		select {
		case ci := <-bobUpdates:
			if ci.ID != id {
				continue
			}
			if ci.State == callengine.StateRinging {
				if err := b.Answer(ctx, id, false); err != nil {
					t.Fatal(err)
				}
			}
			if ci.State == callengine.StateEnded {
				t.Fatalf("bob's call ended (%v) before connecting", ci.EndReason)
			}
			bobCall = ci
		case <-ctx.Done():
			t.Fatal("bob's call never connected")
		}
	}
	_ = a.Close()
	for bobCall.State != callengine.StateEnded {
		select {
		case bobCall = <-bobUpdates:
		case <-ctx.Done():
			t.Fatal("bob's call never ended after alice quit")
		}
	}
	if bobCall.EndedBy != callengine.PartyRemote || bobCall.EndReason != callengine.ReasonUserHangup {
		t.Fatalf("alice quit: bob's call ended by %v with %v, want the remote's user_hangup", bobCall.EndedBy, bobCall.EndReason)
	}
}
