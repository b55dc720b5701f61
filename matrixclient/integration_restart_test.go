//go:build integration && goolm

package matrixclient

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mxcall/mxcall/callengine"
)

// sinceRecorder records the since parameter of every /sync.
type sinceRecorder struct {
	mu     sync.Mutex
	sinces []string
}

func (s *sinceRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if strings.HasSuffix(req.URL.Path, "/sync") {
		s.mu.Lock()
		s.sinces = append(s.sinces, req.URL.Query().Get("since"))
		s.mu.Unlock()
	}
	return http.DefaultTransport.RoundTrip(req)
}

func (s *sinceRecorder) first() (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sinces) == 0 {
		return "", false
	}
	return s.sinces[0], true
}

// startToRooms starts a process-like client on a stored session and
// returns how long it took until roomID was in its room list, and the
// since of its first sync.
func startToRooms(t *testing.T, kr Keyring, svc, dataDir, roomID string) (time.Duration, string) {
	t.Helper()
	rec := &sinceRecorder{}
	sl, zl := testLog("alice-timing")
	t0 := time.Now()
	c := New(WithKeyring(kr), WithKeyringService(svc), WithDataDir(dataDir), WithLogger(sl), WithMautrixLogger(zl),
		WithHTTPClient(&http.Client{Transport: rec}))
	defer func() { _ = c.Close() }()
	if ok, err := c.Restore(context.Background()); !ok || err != nil {
		t.Fatalf("restore: %v %v", ok, err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	for {
		if _, ok := c.Room(roomID); ok {
			break
		}
		if time.Since(t0) > 20*time.Second {
			t.Fatal("room list never showed the room")
		}
		time.Sleep(time.Millisecond)
	}
	took := time.Since(t0)
	for {
		if s, ok := rec.first(); ok {
			return took, s
		}
		if time.Since(t0) > 20*time.Second {
			t.Fatal("no sync")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestIntegrationRestartKeepsRoomsAndRings: an app stopped and started
// again shows its rooms from local state before the network answers,
// syncs on from where it stopped, and rings for a call placed while it was
// away.
func TestIntegrationRestartKeepsRoomsAndRings(t *testing.T) {
	itLeakCheck(t)
	alice, bob := register(t, "alice"), register(t, "bob")
	akr, asvc := NewMemoryKeyring(), "mxcall-it-"+randomID(8)
	a := login(t, "alice", alice, devOpts{keyring: akr, service: asvc})
	b := login(t, "bob", bob, devOpts{})
	roomID := dm(t, a, b)
	a.stop()
	dataDir := filepath.Join(cmpOr(os.Getenv("HOME"), t.TempDir()), "mxcall-data")
	files, _ := filepath.Glob(filepath.Join(dataDir, "session-*-"+a.c.Status().DeviceID+".json"))
	if len(files) != 1 {
		t.Fatalf("session cache files: %v", files)
	}

	// Without the cache (as before it existed): a full sync first.
	if err := os.Rename(files[0], files[0]+".off"); err != nil {
		t.Fatal(err)
	}
	before, since := startToRooms(t, akr, asvc, dataDir, roomID)
	if since != "" {
		t.Fatalf("without a cache the first sync had since=%q", since)
	}
	if err := os.Rename(files[0]+".off", files[0]); err != nil {
		t.Fatal(err)
	}
	// With it: the rooms at once, then an incremental sync.
	after, since := startToRooms(t, akr, asvc, dataDir, roomID)
	if since == "" {
		t.Fatal("with the cache the first sync was a full one")
	}
	t.Logf("start → room list: %v without the session cache (full sync), %v with it", before, after)

	// Bob calls while alice is away; alice's app starts and rings.
	id := place(t, b, roomID)
	a2 := login(t, "alice-restarted", alice, devOpts{keyring: akr, service: asvc, restore: true})
	a2.waitState(id, callengine.StateRinging)
	answer(t, a2, id)
	a2.waitState(id, callengine.StateConnected)
	b.waitState(id, callengine.StateConnected)
	hangupAndCheck(t, b, a2, id)
}
