//go:build integration && goolm

package backend

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"maunium.net/go/mautrix"

	"github.com/mxcall/mxcall/internal/cmem"
	"github.com/mxcall/mxcall/matrixclient"
	"github.com/mxcall/mxcall/ui"
)

// TestIntegrationRoomsSnapshotE2EE runs against a real homeserver
// (MXCALL_HS_URL, as scripts/test-integration.sh sets it): the room list of
// an encrypted DM says it is encrypted, and that the peer's (never
// verified) device is unverified once the background fetch is done.
func TestIntegrationRoomsSnapshotE2EE(t *testing.T) {
	ctx, hs := startIT(t)
	alice, apw := registerIT(t, hs, "alice")
	bob, bpw := registerIT(t, hs, "bob")

	b, err := New(Config{Keyring: matrixclient.NewMemoryKeyring(), DataDir: t.TempDir(),
		Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Close() }()
	if _, err := b.Login(ctx, hs, alice, apw); err != nil {
		t.Fatal(err)
	}
	pb := matrixclient.New(matrixclient.WithKeyring(matrixclient.NewMemoryKeyring()), matrixclient.WithDataDir(t.TempDir()))
	defer func() { pb.Stop(); _ = pb.Close() }()
	if err := pb.Login(ctx, bob, bpw, hs); err != nil {
		t.Fatal(err)
	}
	if err := pb.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitIT(ctx, t, "encryption ready", func() bool { return b.mc.Status().E2EE && pb.Status().E2EE })

	snaps := make(chan ui.RoomsSnapshot, 100)
	stop := b.SubscribeRooms(func(s ui.RoomsSnapshot) {
		select {
		case snaps <- s:
		default:
		}
	})
	defer stop()
	roomID, err := b.CreateDM(ctx, bob)
	if err != nil {
		t.Fatal(err)
	}
	waitIT(ctx, t, "bob's invite", func() bool { return len(pb.Invites()) > 0 })
	if err := pb.AcceptInvite(ctx, roomID); err != nil {
		t.Fatal(err)
	}
	var last ui.Room
	for {
		select {
		case s := <-snaps:
			for _, r := range s.Rooms {
				if r.ID == roomID {
					last = r
				}
			}
			if last.Encrypted && last.DM && last.Peer == bob && last.Trust == ui.TrustUnverified {
				t.Logf("room list: %+v", last)
				return
			}
		case <-ctx.Done():
			t.Fatalf("room never showed as encrypted with bob's device unverified; last %+v", last)
		}
	}
}

// startIT returns a context that ends with the test (at most 2 minutes)
// and the homeserver's URL (MXCALL_HS_URL, as scripts/test-integration.sh
// sets it).
func startIT(t *testing.T) (context.Context, string) {
	t.Helper()
	hs := os.Getenv("MXCALL_HS_URL")
	if hs == "" {
		t.Fatal("MXCALL_HS_URL not set: run against the local Dendrite (scripts/homeserver.sh start)")
	}
	// As the app (main.go): two malloc arenas, so that what the calls'
	// C libraries free is found again as it is there.
	cmem.LimitArenas(2)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx, hs
}

func registerIT(t *testing.T, hs, name string) (string, string) {
	t.Helper()
	mx, err := mautrix.NewClient(hs, "", "")
	if err != nil {
		t.Fatal(err)
	}
	local := fmt.Sprintf("%s%d", name, time.Now().UnixNano()%1e9)
	pw := fmt.Sprintf("pw-%d", time.Now().UnixNano())
	resp, err := mx.RegisterDummy(context.Background(), &mautrix.ReqRegister[any]{Username: local, Password: pw, InhibitLogin: true})
	if err != nil {
		t.Fatalf("register %s: %v", local, err)
	}
	return resp.UserID.String(), pw
}

func waitIT(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
