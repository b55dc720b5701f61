package matrixclient

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func (f *fakeHS) sinceLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.sinces...)
}

// syncedOnce logs in, syncs initialSync and stops, leaving a session cache
// in dir; it returns the keyring holding the session.
func syncedOnce(t *testing.T, f *fakeHS, dir string) *MemoryKeyring {
	t.Helper()
	c, kr := loggedIn(t, f, WithDataDir(dir))
	f.pushSync(initialSync)
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "rooms", func() bool { return len(c.Rooms()) == 2 })
	c.Stop()
	// The fake's handler of the stopped client's last long-poll may still
	// be waiting (up to 200 ms) and would take the next scripted answer.
	time.Sleep(300 * time.Millisecond)
	return kr
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func restarted(t *testing.T, f *fakeHS, kr Keyring, dir string) *Client {
	t.Helper()
	log, _ := testLogger(t)
	c := New(WithKeyring(kr), WithLogger(log), WithHTTPClient(f.srv.Client()), WithE2EE(false), WithDataDir(dir),
		WithReconnectBackoff(5*time.Millisecond, 20*time.Millisecond), WithSyncTimeout(100*time.Millisecond))
	t.Cleanup(func() { _ = c.Close() })
	if ok, err := c.Restore(context.Background()); !ok || err != nil {
		t.Fatalf("restore: %v %v", ok, err)
	}
	return c
}

// After a restart the room list is there before any sync, and the first
// sync continues from the saved position.
func TestRestartShowsRoomsAndSyncsIncrementally(t *testing.T) {
	f := newFakeHS(t, false)
	dir := t.TempDir()
	kr := syncedOnce(t, f, dir)
	n := len(f.sinceLog())

	c := restarted(t, f, kr, dir)
	dm, ok := c.Room("!dm:hs")
	if !ok || dm.Name != "Bob" || dm.CallPeer != "@bob:hs" || dm.DirectPeer != "@bob:hs" || len(c.Rooms()) != 2 {
		t.Fatalf("rooms before the first sync: %+v", c.Rooms())
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a sync after the restart", func() bool { return len(f.sinceLog()) > n })
	if got := f.sinceLog()[n]; got != "s1" {
		t.Fatalf("first sync after the restart has since=%q, want s1", got)
	}
	// A leave in that sync still applies to the cached rooms.
	f.pushSync(leaveSync)
	waitUntil(t, "the leave", func() bool { r, _ := c.Room("!dm:hs"); return r.CallPeer == "" })
}

func TestRestartIgnoresBadCache(t *testing.T) {
	for _, tc := range []struct {
		name    string
		content string
	}{
		{"garbage", "{not json"},
		{"other device", `{"version":1,"user_id":"@alice:hs","device_id":"OTHER","next_batch":"s1","rooms":{"!x:hs":{"members":{}}}}`},
		{"no token", `{"version":1,"user_id":"@alice:hs","device_id":"DEV1","rooms":{"!x:hs":{"members":{}}}}`},
		{"future version", `{"version":99,"user_id":"@alice:hs","device_id":"DEV1","next_batch":"s1","rooms":{"!x:hs":{"members":{}}}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeHS(t, false)
			dir := t.TempDir()
			kr := syncedOnce(t, f, dir)
			files, _ := filepath.Glob(filepath.Join(dir, "session-*.json"))
			if len(files) != 1 {
				t.Fatalf("cache files %v", files)
			}
			if err := os.WriteFile(files[0], []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			n := len(f.sinceLog())
			c := restarted(t, f, kr, dir)
			if r := c.Rooms(); len(r) != 0 {
				t.Fatalf("rooms from a bad cache: %+v", r)
			}
			if err := c.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			waitUntil(t, "a sync", func() bool { return len(f.sinceLog()) > n })
			if got := f.sinceLog()[n]; got != "" {
				t.Fatalf("since=%q after a bad cache, want a full sync", got)
			}
		})
	}
}

// A saved position the server refuses leads to a full sync, not a loop.
func TestRestartWithRefusedToken(t *testing.T) {
	f := newFakeHS(t, false)
	dir := t.TempDir()
	kr := syncedOnce(t, f, dir)
	n := len(f.sinceLog())
	c := restarted(t, f, kr, dir)
	f.syncs <- fakeSync{status: 400, body: `{"errcode":"M_INVALID_PARAM","error":"bad since"}`}
	f.pushSync(initialSync)
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "two syncs", func() bool { return len(f.sinceLog()) >= n+2 })
	if got := f.sinceLog()[n : n+2]; got[0] != "s1" || got[1] != "" {
		t.Fatalf("since after a refused position: %q", got)
	}
	waitUntil(t, "rooms again", func() bool { return len(c.Rooms()) == 2 })
}

func TestLogoutRemovesCache(t *testing.T) {
	f := newFakeHS(t, false)
	dir := t.TempDir()
	kr := syncedOnce(t, f, dir)
	c := restarted(t, f, kr, dir)
	if err := c.Logout(context.Background()); err != nil {
		t.Fatal(err)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "session-*")); len(files) != 0 {
		t.Fatalf("left after logout: %v", files)
	}
}

// Without a keyring the session lives in memory only: nothing is cached.
func TestNoCacheWithoutKeyring(t *testing.T) {
	f := newFakeHS(t, false)
	dir := t.TempDir()
	kr := NewMemoryKeyring()
	log, _ := testLogger(t)
	kr.Fail = os.ErrPermission
	c := New(WithKeyring(kr), WithLogger(log), WithHTTPClient(f.srv.Client()), WithE2EE(false), WithDataDir(dir),
		WithSyncTimeout(100*time.Millisecond))
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Login(context.Background(), "@alice:hs", "right-password", f.srv.URL); err != nil {
		t.Fatal(err)
	}
	f.pushSync(initialSync)
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "rooms", func() bool { return len(c.Rooms()) == 2 })
	c.Stop()
	if files, _ := filepath.Glob(filepath.Join(dir, "session-*")); len(files) != 0 {
		t.Fatalf("cached without a keyring: %v", files)
	}
}
