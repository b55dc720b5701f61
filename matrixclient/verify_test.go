package matrixclient

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"
)

func TestVerificationSnapshots(t *testing.T) {
	tests := []struct {
		name  string
		steps []VerifyState
		want  VerifyState
	}{
		{"request to done", []VerifyState{VerifyRequested, VerifyReady, VerifyShowSAS, VerifyConfirmed, VerifyDone}, VerifyDone},
		{"cancelled stays cancelled", []VerifyState{VerifyWaiting, VerifyCancelled, VerifyDone}, VerifyCancelled},
		{"done stays done", []VerifyState{VerifyShowSAS, VerifyDone, VerifyCancelled}, VerifyDone},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := New()
			var seen []VerifyState
			c.SetVerificationHandler(func(v Verification) { seen = append(seen, v.State) })
			for _, s := range tc.steps {
				c.updateVerification("txn", func(v *Verification) { v.State = s })
			}
			v, ok := c.Verification("txn")
			if !ok || v.State != tc.want {
				t.Fatalf("state %v (%v), want %v", v.State, ok, tc.want)
			}
			if len(seen) != len(tc.steps) {
				t.Fatalf("handler called %d times, want %d", len(seen), len(tc.steps))
			}
		})
	}
}

func TestVerificationsBounded(t *testing.T) {
	c := New()
	for i := range maxVerifications + 10 {
		c.updateVerification(fmt.Sprint(i), func(v *Verification) { v.State = VerifyWaiting })
	}
	if n := len(c.Verifications()); n != maxVerifications {
		t.Fatalf("%d verifications kept, want %d", n, maxVerifications)
	}
	c.updateVerification("0-ended", func(v *Verification) { v.State = VerifyDone })
	c.updateVerification("new", func(v *Verification) { v.State = VerifyWaiting })
	if _, ok := c.Verification("0-ended"); ok {
		t.Fatal("the ended verification was kept over a waiting one")
	}
	if _, ok := c.Verification("new"); !ok {
		t.Fatal("the newest verification was dropped")
	}
}

func TestVerificationNeedsE2EE(t *testing.T) {
	c := New()
	ctx := context.Background()
	if _, err := c.StartVerification(ctx, "not-a-user", ""); !errors.Is(err, ErrInvalidUserID) {
		t.Fatalf("bad user ID: %v", err)
	}
	if _, err := c.StartVerification(ctx, "@bob:example.org", ""); !errors.Is(err, ErrNoE2EE) {
		t.Fatalf("without E2EE: %v", err)
	}
	for _, f := range []func() error{
		func() error { return c.AcceptVerification(ctx, "x") },
		func() error { return c.ConfirmSAS(ctx, "x") },
		func() error { return c.CancelVerification(ctx, "x", true) },
	} {
		if err := f(); !errors.Is(err, ErrNoE2EE) {
			t.Fatalf("without E2EE: %v", err)
		}
	}
	if n := len(c.Verifications()); n != 0 {
		t.Fatalf("%d verifications made up", n)
	}
}

func TestCrossSigningNeedsE2EE(t *testing.T) {
	c := New()
	ctx := context.Background()
	if _, err := c.CrossSigning(ctx); !errors.Is(err, ErrNoE2EE) {
		t.Fatalf("status: %v", err)
	}
	if _, err := c.SetUpCrossSigning(ctx, "pw"); !errors.Is(err, ErrNoE2EE) {
		t.Fatalf("set-up: %v", err)
	}
	if err := c.UnlockCrossSigning(ctx, strings.Repeat("EsTc ", 1<<20)); !errors.Is(err, ErrWrongRecoveryKey) || !errors.Is(err, ErrCrossSigning) {
		t.Fatalf("a megabyte of key: %v", err)
	}
	if err := c.UnlockCrossSigning(ctx, "key"); !errors.Is(err, ErrNoE2EE) {
		t.Fatalf("unlock: %v", err)
	}
}

// The kept cross-signing keys of a session go with it.
func TestCrossSigningKeysForgotten(t *testing.T) {
	kr := NewMemoryKeyring()
	c := New(WithKeyring(kr))
	s := Session{UserID: "@a:hs", DeviceID: "D1"}
	c.keepCrossSigning(s, []byte(`{}`))
	if _, err := kr.Get("mxcall", crossSigningAccount(s)); err != nil {
		t.Fatal(err)
	}
	c.forgetCrossSigning(s)
	if _, err := kr.Get("mxcall", crossSigningAccount(s)); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("still kept: %v", err)
	}
}

func TestSASEmojiAsInTheSpec(t *testing.T) {
	for _, tc := range []struct {
		in   rune
		want string
	}{
		{'❤', "❤\uFE0F"}, {'☂', "☂\uFE0F"}, {'☁', "☁\uFE0F"}, {'✈', "✈\uFE0F"},
		{'⚓', "⚓"}, {'⚽', "⚽"}, {'🐶', "🐶"}, {'⌛', "⌛"},
	} {
		if got := sasEmoji(tc.in); got != tc.want {
			t.Errorf("%q → %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestVerificationRequestsLimited(t *testing.T) {
	now := time.Unix(1000, 0)
	l := requestLimiter{now: func() time.Time { return now }}
	for i := range verifyLimit {
		if !l.allow() {
			t.Fatalf("request %d refused", i)
		}
	}
	if l.allow() {
		t.Fatal("a request over the limit went through")
	}
	now = now.Add(verifyWindow)
	if !l.allow() {
		t.Fatal("refused after the window passed")
	}
}

// The device-list callback hears a sync's changed users, as strings; a
// sync without changes calls nothing.
func TestDevicesChangedCallback(t *testing.T) {
	var got [][]string
	c := New(WithKeyring(NewMemoryKeyring()), WithOnDevicesChanged(func(u []string) { got = append(got, u) }))
	defer func() { _ = c.Close() }()
	c.devicesChanged(nil)
	c.devicesChanged([]id.UserID{"@bob:hs", "@carol:hs"})
	if len(got) != 1 || len(got[0]) != 2 || got[0][0] != "@bob:hs" || got[0][1] != "@carol:hs" {
		t.Fatalf("callback got %q", got)
	}
	New(WithKeyring(NewMemoryKeyring())).devicesChanged([]id.UserID{"@bob:hs"}) // no callback: no panic
}
