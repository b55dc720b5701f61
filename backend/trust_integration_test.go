//go:build integration && goolm

package backend

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mxcall/mxcall/matrixclient"
	"github.com/mxcall/mxcall/ui"
)

// TestIntegrationTrustRecoveryAndNewDevice runs the trust UI's backend
// against the real homeserver. Bob (the app) sets up cross-signing (a
// wrong password refused) and verifies Alice by emoji in their DM. Alice
// then logs in a second device: without a call or a minute's wait, Bob's
// room list turns unverified and PeerTrust names one new device next to
// the verified one (what the call view and the incoming-call window warn
// about). On that device (an app too) a malformed key and Bob's recovery
// key are refused as wrong keys; Alice's recovery key makes the device
// trusted, and Bob sees all of her devices verified again.
func TestIntegrationTrustRecoveryAndNewDevice(t *testing.T) {
	ctx, hs := startIT(t)
	alice, apw := registerIT(t, hs, "alice")
	bob, bpw := registerIT(t, hs, "bob")

	b := loginITBackend(ctx, t, hs, bob, bpw)
	a1 := matrixclient.New(matrixclient.WithKeyring(matrixclient.NewMemoryKeyring()), matrixclient.WithDataDir(t.TempDir()))
	defer func() { a1.Stop(); _ = a1.Close() }()
	a1Verifs := make(chan matrixclient.Verification, 64)
	a1.SetVerificationHandler(func(v matrixclient.Verification) {
		select {
		case a1Verifs <- v:
		default:
		}
	})
	if err := a1.Login(ctx, alice, apw, hs); err != nil {
		t.Fatal(err)
	}
	if err := a1.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitIT(ctx, t, "encryption ready", func() bool { return b.mc.Status().E2EE && a1.Status().E2EE })

	trust := &latestTrust{} // the DM's trust in the newest room snapshot
	roomSeen := make(chan string, 1)
	stop := b.SubscribeRooms(func(s ui.RoomsSnapshot) {
		for _, r := range s.Rooms {
			if r.Peer == alice && r.Encrypted {
				select {
				case roomSeen <- r.ID:
				default:
				}
				trust.set(r.Trust)
			}
		}
	})
	defer stop()
	roomID, err := b.CreateDM(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	waitIT(ctx, t, "alice's invite", func() bool { return len(a1.Invites()) > 0 })
	if err := a1.AcceptInvite(ctx, roomID); err != nil {
		t.Fatal(err)
	}
	select {
	case <-roomSeen:
	case <-ctx.Done():
		t.Fatal("the encrypted DM never reached bob's room list")
	}

	// Cross-signing: alice on her client, bob through the UI's interface.
	rkA, err := a1.SetUpCrossSigning(ctx, apw)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := b.CrossSigningStatus(ctx); err != nil || st.Published || st.Trusted {
		t.Fatalf("bob before set-up: %+v %v", st, err)
	}
	if _, err := b.SetUpCrossSigning(ctx, "wrong-password"); !errors.Is(err, ui.ErrBadCredentials) {
		t.Fatalf("set-up with a wrong password: %v", err)
	}
	rkB, err := b.SetUpCrossSigning(ctx, bpw)
	if err != nil || len(strings.Fields(rkB)) != 12 {
		t.Fatalf("bob's set-up: %q %v", rkB, err)
	}
	if st, err := b.CrossSigningStatus(ctx); err != nil || !st.Published || !st.Trusted {
		t.Fatalf("bob after set-up: %+v %v", st, err)
	}

	// Bob verifies alice by emoji in the DM, as the room list's Verify does.
	sasFromBackend(ctx, t, b, a1, a1Verifs, roomID, alice)
	waitIT(ctx, t, "alice verified for bob", func() bool {
		pt, err := b.PeerTrust(ctx, alice)
		return err == nil && pt.Verified == 1 && len(pt.Unverified) == 0 && !pt.IdentityChanged
	})
	waitTrust(ctx, t, trust, ui.TrustVerified, "the DM verified")

	// Alice's second device (an app): bob's app warns at once.
	a2 := loginITBackend(ctx, t, hs, alice, apw)
	a2dev := a2.mc.Status().DeviceID
	loggedIn := time.Now()
	waitTrust(ctx, t, trust, ui.TrustUnverified, "the DM unverified after alice's new device")
	t.Logf("alice's new device → bob's room list unverified: %v", time.Since(loggedIn).Round(time.Millisecond))
	pt, err := b.PeerTrust(ctx, alice)
	if err != nil || pt.Verified != 1 || len(pt.Unverified) != 1 || !strings.Contains(pt.Unverified[0], a2dev) || pt.IdentityChanged {
		t.Fatalf("bob's reading of alice's devices: %+v %v (new device %s)", pt, err, a2dev)
	}

	// Recovery on the new device: wrong keys are errors, the right one trusts it.
	if st, err := a2.CrossSigningStatus(ctx); err != nil || !st.Published || st.Trusted {
		t.Fatalf("alice's new device before unlocking: %+v %v", st, err)
	}
	for _, bad := range []string{"EsTc not the key", rkB, "\x00", strings.Repeat("x", 1<<16)} {
		if err := a2.UnlockCrossSigning(ctx, bad); !errors.Is(err, ui.ErrWrongRecoveryKey) {
			t.Fatalf("unlock with %.20q: %v", bad, err)
		}
	}
	unlocked := time.Now()
	if err := a2.UnlockCrossSigning(ctx, rkA); err != nil {
		t.Fatal(err)
	}
	if st, err := a2.CrossSigningStatus(ctx); err != nil || !st.Trusted {
		t.Fatalf("alice's new device after unlocking: %+v %v", st, err)
	}
	waitTrust(ctx, t, trust, ui.TrustVerified, "the DM verified again after the recovery key")
	t.Logf("recovery key entered → bob's room list verified: %v", time.Since(unlocked).Round(time.Millisecond))
	pt, err = b.PeerTrust(ctx, alice)
	if err != nil || pt.Verified != 2 || len(pt.Unverified) != 0 {
		t.Fatalf("bob's reading after the unlock: %+v %v", pt, err)
	}
}

// loginITBackend is an app Backend logged in as user.
func loginITBackend(ctx context.Context, t *testing.T, hs, user, pw string) *Backend {
	t.Helper()
	b, err := New(Config{Keyring: matrixclient.NewMemoryKeyring(), DataDir: t.TempDir(),
		Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	if _, err := b.Login(ctx, hs, user, pw); err != nil {
		t.Fatal(err)
	}
	return b
}

// latestTrust is the newest trust a room snapshot showed.
type latestTrust struct {
	mu   sync.Mutex
	last ui.Trust
}

func (l *latestTrust) set(t ui.Trust) {
	l.mu.Lock()
	l.last = t
	l.mu.Unlock()
}

func (l *latestTrust) get() ui.Trust {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

// waitTrust waits until the newest room snapshot shows the DM as want.
func waitTrust(ctx context.Context, t *testing.T, trust *latestTrust, want ui.Trust, what string) {
	t.Helper()
	waitIT(ctx, t, what, func() bool { return trust.get() == want })
}

// sasFromBackend: the app b asks peer's client to verify in roomID; both
// accept and confirm the emoji.
func sasFromBackend(ctx context.Context, t *testing.T, b *Backend, peer *matrixclient.Client,
	peerVerifs <-chan matrixclient.Verification, roomID, peerID string) {
	t.Helper()
	mine := make(chan ui.Verification, 64)
	stop := b.SubscribeVerifications(func(v ui.Verification) {
		select {
		case mine <- v:
		default:
		}
	})
	defer stop()
	id, err := b.StartVerification(ctx, roomID, peerID)
	if err != nil {
		t.Fatal(err)
	}
	waitPeer := func(st matrixclient.VerifyState) matrixclient.Verification {
		for {
			select {
			case v := <-peerVerifs:
				if v.State == st {
					return v
				}
				if v.State == matrixclient.VerifyCancelled {
					t.Fatalf("peer: cancelled: %+v", v)
				}
			case <-ctx.Done():
				t.Fatalf("peer: no %v", st)
			}
		}
	}
	waitMine := func(st ui.VerifyState) ui.Verification {
		for {
			select {
			case v := <-mine:
				if v.ID == id && v.State == st {
					return v
				}
				if v.State == ui.VerifyCancelled {
					t.Fatalf("app: cancelled: %+v", v)
				}
			case <-ctx.Done():
				t.Fatalf("app: no %v", st)
			}
		}
	}
	req := waitPeer(matrixclient.VerifyRequested)
	if err := peer.AcceptVerification(ctx, req.ID); err != nil {
		t.Fatal(err)
	}
	sas := waitMine(ui.VerifyShowSAS)
	psas := waitPeer(matrixclient.VerifyShowSAS)
	var pe []string
	for _, e := range psas.Emoji {
		pe = append(pe, e.Emoji)
	}
	var me []string
	for _, e := range sas.Emoji {
		me = append(me, e.Emoji)
	}
	if !slices.Equal(me, pe) || len(me) != 7 {
		t.Fatalf("emoji differ: %q vs %q", me, pe)
	}
	if err := b.ConfirmVerification(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := peer.ConfirmSAS(ctx, psas.ID); err != nil {
		t.Fatal(err)
	}
	waitMine(ui.VerifyDone)
	waitPeer(matrixclient.VerifyDone)
}
