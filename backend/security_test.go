package backend

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"maunium.net/go/mautrix"

	"github.com/mxcall/mxcall/matrixclient"
	"github.com/mxcall/mxcall/ui"
)

func TestSecurityErr(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   error
		want error
	}{
		{"wrong recovery key", fmt.Errorf("%w: %w: incorrect SSSS key", matrixclient.ErrCrossSigning, matrixclient.ErrWrongRecoveryKey), ui.ErrWrongRecoveryKey},
		{"no secret storage", fmt.Errorf("%w: %w", matrixclient.ErrCrossSigning, matrixclient.ErrNoSecretStorage), ui.ErrNoRecoveryKey},
		{"wrong password", fmt.Errorf("%w: %w", matrixclient.ErrCrossSigning, mautrix.MForbidden), ui.ErrBadCredentials},
	} {
		if got := securityErr(tc.in); !errors.Is(got, tc.want) {
			t.Errorf("%s: %v does not wrap %v", tc.name, got, tc.want)
		}
	}
}

func TestDeviceLabel(t *testing.T) {
	for _, tc := range []struct {
		d    matrixclient.Device
		want string
	}{
		{matrixclient.Device{ID: "ABC"}, "ABC"},
		{matrixclient.Device{ID: "ABC", Name: "ABC"}, "ABC"},
		{matrixclient.Device{ID: "ABC", Name: "Element Web"}, "Element Web (ABC)"},
	} {
		if got := deviceLabel(tc.d); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.d, got, tc.want)
		}
	}
}

// stale keeps what is known (no flicker in the room list) but makes the
// next request fetch it again, well before trustMaxAge.
func TestTrustStale(t *testing.T) {
	f := &fakeFetch{calls: map[string]int{}, release: make(chan struct{}),
		devs: []matrixclient.Device{{ID: "A"}, {ID: "B", Verified: true}}}
	changed := make(chan struct{}, 10)
	c := newTrustCache(f.fetch, func() { changed <- struct{}{} })
	defer c.close()
	now := time.Unix(1000, 0)
	c.now = func() time.Time { return now }
	c.known["@bob:hs"] = trustEntry{trust: ui.TrustVerified, at: now}
	c.known["@carol:hs"] = trustEntry{trust: ui.TrustVerified, at: now}

	c.request([]string{"@bob:hs"})
	if n := f.count("@bob:hs"); n != 0 {
		t.Fatalf("fresh entry fetched %d times", n)
	}
	c.stale([]string{"@bob:hs"})
	if got := c.get("@bob:hs"); got != ui.TrustVerified {
		t.Fatalf("stale entry reads %v, want the old verified", got)
	}
	c.request([]string{"@bob:hs", "@carol:hs"})
	f.release <- struct{}{}
	<-changed
	if got := c.get("@bob:hs"); got != ui.TrustUnverified {
		t.Fatalf("after the refetch: %v", got)
	}
	if n := f.count("@carol:hs"); n != 0 {
		t.Fatalf("carol (not stale) fetched %d times", n)
	}
	c.stale(nil)
	c.request([]string{"@carol:hs"})
	f.release <- struct{}{}
	<-changed
	if n := f.count("@carol:hs"); n != 1 {
		t.Fatalf("after stale(nil) carol fetched %d times, want 1", n)
	}
}

// Without a session the security calls fail at once; nothing waits for
// encryption that never comes.
func TestSecurityNotLoggedIn(t *testing.T) {
	b, err := New(Config{Keyring: matrixclient.NewMemoryKeyring(), DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := b.CrossSigningStatus(ctx); err == nil {
		t.Fatal("status without a session")
	}
	if _, err := b.SetUpCrossSigning(ctx, "pw"); err == nil {
		t.Fatal("set-up without a session")
	}
	if err := b.UnlockCrossSigning(ctx, "key"); err == nil {
		t.Fatal("unlock without a session")
	}
	if _, err := b.PeerTrust(ctx, "@bob:hs"); err == nil {
		t.Fatal("peer trust without a session")
	}
	if ctx.Err() != nil {
		t.Fatal("a call waited for the context to end")
	}
}
