//go:build integration && goolm

package matrixclient

import (
	"context"
	"slices"
	"testing"
)

// mautrix's verification helper expires every incoming request with a
// goroutine that sleeps for the request's lifetime (10 min) and cannot be
// stopped; they outlive the test that made them, so every test's leak
// check tolerates them. The client bounds how many there can be
// (verifyLimit).
const verifyExpiry = "verificationhelper.(*VerificationHelper).expireTransactionAt"

func watchVerifications(d *device) {
	d.c.SetVerificationHandler(func(Verification) { d.poke() })
}

// waitVerify waits until d knows a verification with peer in state s and
// returns it.
func waitVerify(d *device, peer string, s VerifyState) Verification {
	d.t.Helper()
	var got Verification
	d.waitFor("verification with "+peer+" "+s.String(), func() bool {
		for _, v := range d.c.Verifications() {
			if v.Peer == peer && v.State == s {
				got = v
				return true
			}
			if v.Peer == peer && v.State == VerifyCancelled && s != VerifyCancelled {
				d.t.Fatalf("%s: verification with %s cancelled while waiting for %s: %s (%s, by us: %v)",
					d.name, peer, s, v.Reason, v.CancelCode, v.ByUs)
			}
		}
		return false
	})
	return got
}

func deviceVerified(t *testing.T, d *device, userID, deviceID string) bool {
	t.Helper()
	devs, err := d.c.PeerDevices(context.Background(), userID)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range devs {
		if x.ID == deviceID {
			return x.Verified
		}
	}
	t.Fatalf("%s does not know device %s of %s (%+v)", d.name, deviceID, userID, devs)
	return false
}

// TestIntegrationVerifySAS: two mxcall clients verify each other by
// comparing emoji, asked by either side, to-device and in the room.
func TestIntegrationVerifySAS(t *testing.T) {
	for _, tc := range []struct {
		name   string
		inRoom bool
		bobAsk bool // bob asks alice, else alice asks bob
	}{
		{name: "alice asks, to-device"},
		{name: "bob asks, to-device", bobAsk: true},
		{name: "alice asks, in room", inRoom: true},
		{name: "bob asks, in room", inRoom: true, bobAsk: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			itLeakCheck(t, verifyExpiry)
			alice, bob, a, b := aliceAndBob(t)
			watchVerifications(a)
			watchVerifications(b)
			roomID := dm(t, a, b)
			asker, asked, askedUser := a, b, bob.userID
			if tc.bobAsk {
				asker, asked, askedUser = b, a, alice.userID
			}
			room := ""
			if tc.inRoom {
				room = roomID
			}
			ctx := context.Background()
			if deviceVerified(t, a, bob.userID, b.c.Status().DeviceID) {
				t.Fatal("bob's device verified before any verification")
			}
			txn, err := asker.c.StartVerification(ctx, askedUser, room)
			if err != nil {
				t.Fatal(err)
			}
			req := waitVerify(asked, asker.c.UserID(), VerifyRequested)
			if !req.Incoming || req.ID != txn || req.PeerDevice != asker.c.Status().DeviceID {
				t.Fatalf("request seen by %s: %+v (asker's id %s)", asked.name, req, txn)
			}
			if err := asked.c.AcceptVerification(ctx, req.ID); err != nil {
				t.Fatal(err)
			}
			sa := waitVerify(asker, askedUser, VerifyShowSAS)
			sb := waitVerify(asked, asker.c.UserID(), VerifyShowSAS)
			if len(sa.Emoji) != 7 || !slices.Equal(sa.Emoji, sb.Emoji) {
				t.Fatalf("emoji differ or not 7:\n%s: %v\n%s: %v", asker.name, sa.Emoji, asked.name, sb.Emoji)
			}
			for _, e := range sa.Emoji {
				if e.Emoji == "" || e.Name == "" {
					t.Fatalf("emoji without its name: %+v", sa.Emoji)
				}
			}
			t.Logf("emoji: %v", sa.Emoji)
			if err := asker.c.ConfirmSAS(ctx, sa.ID); err != nil {
				t.Fatal(err)
			}
			if err := asked.c.ConfirmSAS(ctx, sb.ID); err != nil {
				t.Fatal(err)
			}
			waitVerify(asker, askedUser, VerifyDone)
			waitVerify(asked, asker.c.UserID(), VerifyDone)
			if !deviceVerified(t, a, bob.userID, b.c.Status().DeviceID) {
				t.Fatal("alice does not see bob's device verified")
			}
			if !deviceVerified(t, b, alice.userID, a.c.Status().DeviceID) {
				t.Fatal("bob does not see alice's device verified")
			}
		})
	}
}

// toEmoji has a ask b to verify (to-device, in a DM it makes first) and b
// accept, and returns each side's verification once both show the emoji.
func toEmoji(t *testing.T, a, b *device) (sa, sb Verification) {
	t.Helper()
	watchVerifications(a)
	watchVerifications(b)
	dm(t, a, b)
	ctx := context.Background()
	if _, err := a.c.StartVerification(ctx, b.c.UserID(), ""); err != nil {
		t.Fatal(err)
	}
	req := waitVerify(b, a.c.UserID(), VerifyRequested)
	if err := b.c.AcceptVerification(ctx, req.ID); err != nil {
		t.Fatal(err)
	}
	return waitVerify(a, b.c.UserID(), VerifyShowSAS), waitVerify(b, a.c.UserID(), VerifyShowSAS)
}

// TestIntegrationVerifyTheyConfirmFirst: bob confirms the emoji first;
// alice sees that he did and confirms after his MAC arrived. Both have
// cross-signing set up, and both end verified. mautrix's own ConfirmSAS
// checks bob's master key against alice's here ("master keys do not
// match"; against a peer without cross-signing it crashed, in the js-sdk
// test); the client now hands bob's MAC to mautrix only after alice's
// confirmation.
func TestIntegrationVerifyTheyConfirmFirst(t *testing.T) {
	itLeakCheck(t, verifyExpiry)
	alice, bob, a, b := aliceAndBob(t)
	ctx := context.Background()
	setUpCrossSigning(t, a, alice.password)
	setUpCrossSigning(t, b, bob.password)
	sa, sb := toEmoji(t, a, b)
	if err := b.c.ConfirmSAS(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	waitVerifyThat(a, "bob confirmed", func(v Verification) bool { return v.ID == sa.ID && v.TheyConfirmed })
	if err := a.c.ConfirmSAS(ctx, sa.ID); err != nil {
		t.Fatal(err)
	}
	waitVerify(a, bob.userID, VerifyDone)
	waitVerify(b, alice.userID, VerifyDone)
	if !deviceVerified(t, a, bob.userID, b.c.Status().DeviceID) {
		t.Fatal("alice does not see bob's device verified")
	}
	if !deviceVerified(t, b, alice.userID, a.c.Status().DeviceID) {
		t.Fatal("bob does not see alice's device verified")
	}
}

// TestIntegrationVerifyTheyConfirmThenCancel: bob confirms, alice holds
// his MAC (see holdMAC), then bob cancels: alice sees the verification
// cancelled and lets the MAC go.
func TestIntegrationVerifyTheyConfirmThenCancel(t *testing.T) {
	itLeakCheck(t, verifyExpiry)
	_, bob, a, b := aliceAndBob(t)
	ctx := context.Background()
	sa, sb := toEmoji(t, a, b)
	if err := b.c.ConfirmSAS(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	waitVerifyThat(a, "bob confirmed", func(v Verification) bool { return v.ID == sa.ID && v.TheyConfirmed })
	held := func() int {
		m := a.c.crypto.(*mautrixCrypto)
		m.vmu.Lock()
		defer m.vmu.Unlock()
		return len(m.held)
	}
	if n := held(); n != 1 {
		t.Fatalf("alice holds %d MACs after bob confirmed, want 1", n)
	}
	if err := b.c.CancelVerification(ctx, sb.ID, false); err != nil {
		t.Fatal(err)
	}
	waitVerify(a, bob.userID, VerifyCancelled)
	a.waitFor("bob's MAC let go", func() bool { return held() == 0 })
}

// aliceAndBob registers alice and bob and logs each in on one device.
func aliceAndBob(t *testing.T) (alice, bob account, a, b *device) {
	t.Helper()
	alice, bob = register(t, "alice"), register(t, "bob")
	return alice, bob, login(t, "alice", alice, devOpts{}), login(t, "bob", bob, devOpts{})
}

// setUpCrossSigning sets up d's cross-signing (its recovery key kept out
// of the logs).
func setUpCrossSigning(t *testing.T, d *device, password string) {
	t.Helper()
	rk, err := d.c.SetUpCrossSigning(context.Background(), password)
	if err != nil {
		t.Fatal(err)
	}
	addSecret(rk, d.name+"'s recovery key")
}

// waitVerifyThat waits until one of d's verifications satisfies ok.
func waitVerifyThat(d *device, what string, ok func(Verification) bool) {
	d.t.Helper()
	d.waitFor(what, func() bool { return slices.ContainsFunc(d.c.Verifications(), ok) })
}

// TestIntegrationVerifyMismatch: when the emoji do not match and one side
// says so, both see the verification cancelled and nothing is trusted.
func TestIntegrationVerifyMismatch(t *testing.T) {
	itLeakCheck(t, verifyExpiry)
	alice, bob, a, b := aliceAndBob(t)
	ctx := context.Background()
	sa, sb := toEmoji(t, a, b)
	if err := a.c.ConfirmSAS(ctx, sa.ID); err != nil { // alice wrongly confirms
		t.Fatal(err)
	}
	if err := b.c.CancelVerification(ctx, sb.ID, true); err != nil {
		t.Fatal(err)
	}
	ca := waitVerify(a, bob.userID, VerifyCancelled)
	cb := waitVerify(b, alice.userID, VerifyCancelled)
	if ca.CancelCode != "m.mismatched_sas" || cb.CancelCode != "m.mismatched_sas" || !cb.ByUs || ca.ByUs {
		t.Fatalf("cancelled with %+v / %+v", ca, cb)
	}
	if deviceVerified(t, a, bob.userID, b.c.Status().DeviceID) || deviceVerified(t, b, alice.userID, a.c.Status().DeviceID) {
		t.Fatal("a device is verified after a mismatch")
	}
	if err := a.c.ConfirmSAS(ctx, sa.ID); err == nil {
		t.Fatal("confirming a cancelled verification succeeded")
	}
}
