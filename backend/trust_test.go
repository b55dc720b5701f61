package backend

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/pion/transport/v5/test"

	"github.com/mxcall/mxcall/matrixclient"
	"github.com/mxcall/mxcall/ui"
)

func TestDeviceTrust(t *testing.T) {
	v := matrixclient.Device{ID: "A", Verified: true}
	u := matrixclient.Device{ID: "B"}
	for _, tc := range []struct {
		name string
		devs []matrixclient.Device
		want ui.Trust
	}{
		{"no devices", nil, ui.TrustUnknown},
		{"all verified", []matrixclient.Device{v, v}, ui.TrustVerified},
		{"one unverified", []matrixclient.Device{v, u}, ui.TrustUnverified},
	} {
		if got := deviceTrust(tc.devs); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// fakeFetch is a PeerDevices stand-in whose answers the test releases.
type fakeFetch struct {
	mu      sync.Mutex
	calls   map[string]int
	release chan struct{}
	devs    []matrixclient.Device
}

func (f *fakeFetch) fetch(ctx context.Context, userID string) ([]matrixclient.Device, error) {
	f.mu.Lock()
	f.calls[userID]++
	f.mu.Unlock()
	select {
	case <-f.release:
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.devs, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (f *fakeFetch) count(userID string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[userID]
}

func TestTrustCache(t *testing.T) {
	defer checkRoutines(t)()
	defer test.TimeOut(10 * time.Second).Stop()

	f := &fakeFetch{calls: map[string]int{}, release: make(chan struct{}),
		devs: []matrixclient.Device{{ID: "A", Verified: true}}}
	changed := make(chan struct{}, 10)
	c := newTrustCache(f.fetch, func() { changed <- struct{}{} })
	now := time.Unix(1000, 0)
	var clock sync.Mutex
	c.now = func() time.Time { clock.Lock(); defer clock.Unlock(); return now }

	// request never blocks, even while the fetch hangs; a peer is queued once.
	c.request([]string{"@alice:x", "@alice:x"})
	c.request([]string{"@alice:x"})
	if got := c.get("@alice:x"); got != ui.TrustUnknown {
		t.Fatalf("before the fetch: %v", got)
	}
	f.release <- struct{}{}
	<-changed
	if got := c.get("@alice:x"); got != ui.TrustVerified {
		t.Fatalf("after the fetch: %v", got)
	}
	if n := f.count("@alice:x"); n != 1 {
		t.Fatalf("%d fetches, want 1", n)
	}

	// Fresh entries are not fetched again; stale ones are.
	c.request([]string{"@alice:x"})
	if n := f.count("@alice:x"); n != 1 {
		t.Fatalf("fresh entry fetched again (%d)", n)
	}
	clock.Lock()
	now = now.Add(trustMaxAge + time.Second)
	clock.Unlock()
	f.mu.Lock()
	f.devs = append(f.devs, matrixclient.Device{ID: "NEW"})
	f.mu.Unlock()
	c.request([]string{"@alice:x"})
	f.release <- struct{}{}
	<-changed
	if got := c.get("@alice:x"); got != ui.TrustUnverified {
		t.Fatalf("after a new unverified device: %v", got)
	}

	// close cancels a hanging fetch; CheckRoutines sees the workers gone.
	c.request([]string{"@bob:x"})
	for f.count("@bob:x") == 0 {
		time.Sleep(time.Millisecond)
	}
	c.close()
	c.close()
	waitWorkersDone(c)
	c.request([]string{"@carol:x"}) // after close: ignored
	if f.count("@carol:x") != 0 {
		t.Fatal("fetched after close")
	}
}

func TestTrustCacheBounded(t *testing.T) {
	defer checkRoutines(t)()
	f := &fakeFetch{calls: map[string]int{}, release: make(chan struct{})}
	c := newTrustCache(f.fetch, nil)
	peers := make([]string, trustMaxQueue+50)
	for i := range peers {
		peers[i] = "@u" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + ":x"
	}
	c.request(peers)
	c.mu.Lock()
	queued, running := len(c.queued), c.running
	c.mu.Unlock()
	if queued != trustMaxQueue || running != trustWorkers {
		t.Fatalf("queued %d running %d, want %d and %d", queued, running, trustMaxQueue, trustWorkers)
	}
	c.close()
	waitWorkersDone(c)
}

// waitWorkersDone waits until no fetch worker of c is running.
func waitWorkersDone(c *trustCache) {
	for {
		c.mu.Lock()
		n := c.running
		c.mu.Unlock()
		if n == 0 {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

func TestMissedCalls(t *testing.T) {
	dm := matrixclient.Room{ID: "!dm", CallPeer: "@bob:x", Members: []matrixclient.Member{
		{UserID: "@me:x"}, {UserID: "@bob:x", DisplayName: "Bob"}}}
	group := matrixclient.Room{ID: "!group"}
	ts := time.Unix(2000, 0)
	noKey := errors.New("failed to decrypt megolm event: no session with given ID found")
	got := missedCalls("@me:x", []matrixclient.Room{dm, group}, []matrixclient.Undecryptable{
		{RoomID: "!dm", EventID: "$1", Sender: "@bob:x", Time: ts, Err: noKey},
		{RoomID: "!dm", EventID: "$mine", Sender: "@me:x", Time: ts, Err: noKey},
		{RoomID: "!group", EventID: "$2", Sender: "@carol:x", Time: ts, Err: noKey},
		{RoomID: "!gone", EventID: "$3", Sender: "@dave:x", Time: ts, Err: noKey},
	})
	want := ui.MissedCall{RoomID: "!dm", EventID: "$1", Sender: "@bob:x", SenderName: "Bob", Time: ts,
		Reason: "its key has not reached this device"}
	if len(got) != 1 || got[0] != want {
		t.Fatalf("missed = %+v, want only %+v", got, want)
	}
	if r := undecryptableReason(errors.New("boom")); r != "decryption failed: boom" {
		t.Fatalf("reason %q", r)
	}
}

// The room list gets encryption at once and trust once the background
// fetch is done; building it never waits for the fetch.
func TestUIRoomsTrust(t *testing.T) {
	defer checkRoutines(t)()
	f := &fakeFetch{calls: map[string]int{}, release: make(chan struct{}),
		devs: []matrixclient.Device{{ID: "A", Verified: true}}}
	changed := make(chan struct{}, 1)
	b := &Backend{}
	b.trust = newTrustCache(f.fetch, func() { changed <- struct{}{} })
	defer b.trust.close()
	rooms := []matrixclient.Room{
		{ID: "!dm", Name: "Bob", CallPeer: "@bob:x", Encrypted: true},
		{ID: "!plain", Name: "Plain", CallPeer: "@carol:x"},
		{ID: "!group", Name: "Group", Encrypted: true},
	}
	if got := b.uiRooms(rooms, false); got[0].Trust != ui.TrustUnknown || f.count("@bob:x") != 0 {
		t.Fatalf("without encryption ready: %+v, %d fetches", got, f.count("@bob:x"))
	}
	got := b.uiRooms(rooms, true) // the fetch hangs: this must not
	want := []ui.Room{
		{ID: "!dm", Name: "Bob", Peer: "@bob:x", DM: true, Encrypted: true},
		{ID: "!group", Name: "Group", Encrypted: true},
		{ID: "!plain", Name: "Plain", Peer: "@carol:x", DM: true},
	}
	for i := range want {
		if got[i].ID != want[i].ID || got[i].DM != want[i].DM || got[i].Encrypted != want[i].Encrypted || got[i].Trust != want[i].Trust {
			t.Fatalf("room %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	f.release <- struct{}{}
	<-changed
	if got := b.uiRooms(rooms, true); got[0].Trust != ui.TrustVerified {
		t.Fatalf("after the fetch: %v", got[0].Trust)
	}
	if f.count("@carol:x") != 0 {
		t.Fatal("fetched devices of a peer in a plain room")
	}
}
