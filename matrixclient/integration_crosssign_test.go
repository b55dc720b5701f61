//go:build integration && goolm

package matrixclient

import (
	"context"
	"errors"
	"testing"
)

// sasVerify runs a whole emoji verification: asker asks askedUser's
// device asked, both confirm.
func sasVerify(t *testing.T, asker, asked *device) {
	t.Helper()
	ctx := context.Background()
	if _, err := asker.c.StartVerification(ctx, asked.c.UserID(), ""); err != nil {
		t.Fatal(err)
	}
	req := waitVerify(asked, asker.c.UserID(), VerifyRequested)
	if err := asked.c.AcceptVerification(ctx, req.ID); err != nil {
		t.Fatal(err)
	}
	sa := waitVerify(asker, asked.c.UserID(), VerifyShowSAS)
	sb := waitVerify(asked, asker.c.UserID(), VerifyShowSAS)
	if err := asker.c.ConfirmSAS(ctx, sa.ID); err != nil {
		t.Fatal(err)
	}
	if err := asked.c.ConfirmSAS(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	waitVerify(asker, asked.c.UserID(), VerifyDone)
	waitVerify(asked, asker.c.UserID(), VerifyDone)
}

// TestIntegrationCrossSigningRecoveryRestart: alice and bob set up
// cross-signing and verify each other once by emoji; alice's new device,
// unlocked with her recovery key, is then verified for bob without another
// comparison, and all of it still holds after bob's app restarts.
func TestIntegrationCrossSigningRecoveryRestart(t *testing.T) {
	itLeakCheck(t, verifyExpiry)
	ctx := context.Background()
	alice, bob := register(t, "alice"), register(t, "bob")
	bkr, bsvc := NewMemoryKeyring(), "mxcall-it-"+randomID(8)
	a1 := login(t, "alice1", alice, devOpts{})
	b := login(t, "bob", bob, devOpts{keyring: bkr, service: bsvc})
	watchVerifications(a1)
	watchVerifications(b)
	dm(t, a1, b) // device list changes reach users who share a room

	if st, err := a1.c.CrossSigning(ctx); err != nil || st.Published || st.CanSign {
		t.Fatalf("before set-up: %+v %v", st, err)
	}
	if _, err := a1.c.SetUpCrossSigning(ctx, "wrong-password"); !errors.Is(err, ErrCrossSigning) {
		t.Fatalf("set-up with a wrong password: %v", err)
	}
	rk, err := a1.c.SetUpCrossSigning(ctx, alice.password)
	if err != nil || rk == "" {
		t.Fatalf("alice's set-up: %q %v", rk, err)
	}
	addSecret(rk, "alice's recovery key")
	if _, err := b.c.SetUpCrossSigning(ctx, bob.password); err != nil {
		t.Fatal(err)
	}
	if st, err := a1.c.CrossSigning(ctx); err != nil || !st.Published || !st.CanSign || !st.Trusted {
		t.Fatalf("after set-up: %+v %v", st, err)
	}

	sasVerify(t, b, a1)
	if !deviceVerified(t, b, alice.userID, a1.c.Status().DeviceID) {
		t.Fatal("bob does not see alice's first device verified")
	}

	// Alice's second device: a stranger until unlocked with the recovery key.
	a2 := login(t, "alice2", alice, devOpts{})
	a2dev := a2.c.Status().DeviceID
	b.waitFor("alice's second device", func() bool {
		devs, _ := b.c.PeerDevices(ctx, alice.userID)
		return len(devs) == 2
	})
	if deviceVerified(t, b, alice.userID, a2dev) {
		t.Fatal("alice's new device verified before it was unlocked")
	}
	if err := a2.c.UnlockCrossSigning(ctx, "EsTc not the key"); !errors.Is(err, ErrCrossSigning) {
		t.Fatalf("unlock with a wrong key: %v", err)
	}
	if err := a2.c.UnlockCrossSigning(ctx, rk); err != nil {
		t.Fatal(err)
	}
	b.waitFor("alice's second device verified through cross-signing", func() bool {
		return deviceVerified(t, b, alice.userID, a2dev)
	})

	// Bob's app restarts: the trust and his signing keys are still there.
	b.stop()
	b2 := login(t, "bob-restarted", bob, devOpts{keyring: bkr, service: bsvc, restore: true})
	for _, d := range []string{a1.c.Status().DeviceID, a2dev} {
		if !deviceVerified(t, b2, alice.userID, d) {
			t.Fatalf("after bob's restart alice's device %s is not verified", d)
		}
	}
	if st, err := b2.c.CrossSigning(ctx); err != nil || !st.CanSign || !st.Trusted {
		t.Fatalf("bob's cross-signing after the restart: %+v %v", st, err)
	}
}
