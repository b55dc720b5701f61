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

// The sync hands verification events to the queue and goes on: a worker
// held up (a send to a slow homeserver) never blocks it; a full queue
// drops; the worker takes the events in order and stops with its context.
func TestVerifyQueue(t *testing.T) {
	q := newVerifyQueue[int](3)
	for i := range 3 {
		if !q.push(i) {
			t.Fatalf("push %d refused with room in the queue", i)
		}
	}
	if q.push(3) {
		t.Fatal("push into a full queue was taken")
	}
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan int)
	release := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		q.run(ctx, func(v int) {
			got <- v
			<-release // the helper busy with a send
		})
	}()
	if v := <-got; v != 0 {
		t.Fatalf("first handled: %d, want 0", v)
	}
	if !q.push(4) { // the worker holds one, the queue has room for one more
		t.Fatal("push refused while the worker was busy and the queue had room")
	}
	if q.push(5) {
		t.Fatal("push into a full queue was taken while the worker was busy")
	}
	for _, want := range []int{1, 2, 4} { // 3 and 5 were dropped
		release <- struct{}{}
		if v := <-got; v != want {
			t.Fatalf("handled %d, want %d", v, want)
		}
	}
	cancel()
	close(release)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the worker did not stop with its context")
	}
}
