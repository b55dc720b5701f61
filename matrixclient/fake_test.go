package matrixclient

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/transport/v5/test"
	"github.com/pion/webrtc/v4"
	"maunium.net/go/mautrix"

	"github.com/mxcall/mxcall/callengine"
)

const (
	fakeToken    = "syt_fake_SECRET_token_4711"
	fakeTURNPass = "turn-PASSWORD-0815"
)

// fakeHS is a minimal homeserver for unit tests.
type fakeHS struct {
	t   *testing.T
	srv *httptest.Server

	mu        sync.Mutex
	loggedOut bool
	syncs     chan fakeSync // scripted /sync answers, in order
	sendFails []int         // status codes (0 = drop connection) for the next sends
	sends     map[string]json.RawMessage
	sendTxns  []string // txn of every attempt
	turn      string   // JSON body of /voip/turnServer
	turnCalls int
	direct    map[string][]string
	joined    []string
	left      []string
	created   []map[string]any
	sinces    []string // the since parameter of every /sync
}

type fakeSync struct {
	status int
	body   string
}

// tolerantLeakCheck, when set (by the integration build), replaces pion's
// check in leakCheck.
var tolerantLeakCheck func(*testing.T)

// leakCheck fails the test if goroutines are left once all its cleanups ran.
// In the integration build the real keyring's godbus connection lives for
// the whole process, which pion's check would report (already at the start
// of any test that runs after one using the keyring), so the integration
// build's check, which tolerates it, is used there.
func leakCheck(t *testing.T) {
	t.Helper()
	if tolerantLeakCheck != nil {
		tolerantLeakCheck(t)
		return
	}
	t.Cleanup(test.CheckRoutines(t))
}

func newFakeHS(t *testing.T, tlsServer bool) *fakeHS {
	t.Helper()
	leakCheck(t)
	f := &fakeHS{t: t, syncs: make(chan fakeSync, 16), sends: map[string]json.RawMessage{},
		turn: `{}`, direct: map[string][]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/matrix/client", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"m.homeserver": map[string]string{"base_url": f.srv.URL}})
	})
	mux.HandleFunc("GET /_matrix/client/versions", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"versions": []string{"v1.2"}})
	})
	mux.HandleFunc("POST /_matrix/client/v3/login", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Identifier struct{ User string } `json:"identifier"`
			Password   string                `json:"password"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		if req.Password != "right-password" {
			writeJSON(w, 403, map[string]string{"errcode": "M_FORBIDDEN", "error": "bad password"})
			return
		}
		f.mu.Lock()
		f.loggedOut = false
		f.mu.Unlock()
		writeJSON(w, 200, map[string]string{"user_id": req.Identifier.User, "access_token": fakeToken, "device_id": "DEV1"})
	})
	auth := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			f.mu.Lock()
			out := f.loggedOut
			f.mu.Unlock()
			if r.Header.Get("Authorization") != "Bearer "+fakeToken || out {
				writeJSON(w, 401, map[string]string{"errcode": "M_UNKNOWN_TOKEN", "error": "unknown token"})
				return
			}
			h(w, r)
		}
	}
	mux.HandleFunc("POST /_matrix/client/v3/logout", auth(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.loggedOut = true
		f.mu.Unlock()
		writeJSON(w, 200, map[string]any{})
	}))
	mux.HandleFunc("GET /_matrix/client/v3/sync", auth(func(w http.ResponseWriter, r *http.Request) {
		// The client filters inline: what a real server parses as JSON.
		var filter mautrix.Filter
		if err := json.Unmarshal([]byte(r.URL.Query().Get("filter")), &filter); err != nil || filter.Presence == nil {
			f.t.Errorf("sync filter %q: %v", r.URL.Query().Get("filter"), err)
		}
		f.mu.Lock()
		f.sinces = append(f.sinces, r.URL.Query().Get("since"))
		f.mu.Unlock()
		select {
		case s := <-f.syncs:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(s.status)
			_, _ = io.WriteString(w, s.body)
		case <-time.After(200 * time.Millisecond):
			writeJSON(w, 200, map[string]any{"next_batch": "idle"})
		case <-r.Context().Done():
		}
	}))
	mux.HandleFunc("PUT /_matrix/client/v3/rooms/{room}/send/{type}/{txn}", auth(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		txn := r.PathValue("txn")
		f.mu.Lock()
		f.sendTxns = append(f.sendTxns, txn)
		var fail = -1
		if len(f.sendFails) > 0 {
			fail, f.sendFails = f.sendFails[0], f.sendFails[1:]
		}
		f.mu.Unlock()
		switch {
		case fail == 0:
			hj, _ := w.(http.Hijacker)
			conn, _, _ := hj.Hijack()
			_ = conn.Close()
			return
		case fail == 429:
			writeJSON(w, 429, map[string]any{"errcode": "M_LIMIT_EXCEEDED", "error": "slow down", "retry_after_ms": 20})
			return
		case fail > 0:
			writeJSON(w, fail, map[string]string{"errcode": "M_UNKNOWN", "error": "oops"})
			return
		}
		f.mu.Lock()
		f.sends[txn] = body
		f.mu.Unlock()
		writeJSON(w, 200, map[string]string{"event_id": "$" + txn})
	}))
	mux.HandleFunc("GET /_matrix/client/v3/rooms/{room}/state", auth(func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("room") == "!enc:hs" {
			writeJSON(w, 200, []map[string]any{{"type": "m.room.encryption", "state_key": "", "sender": "@x:hs",
				"event_id": "$e", "content": map[string]string{"algorithm": "m.megolm.v1.aes-sha2"}}})
			return
		}
		writeJSON(w, 200, []any{})
	}))
	mux.HandleFunc("GET /_matrix/client/v3/voip/turnServer", auth(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.turnCalls++
		body := f.turn
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
	}))
	mux.HandleFunc("GET /_matrix/client/v3/user/{user}/account_data/m.direct", auth(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if len(f.direct) == 0 {
			writeJSON(w, 404, map[string]string{"errcode": "M_NOT_FOUND", "error": "none"})
			return
		}
		writeJSON(w, 200, f.direct)
	}))
	mux.HandleFunc("PUT /_matrix/client/v3/user/{user}/account_data/m.direct", auth(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		_ = json.NewDecoder(r.Body).Decode(&f.direct)
		writeJSON(w, 200, map[string]any{})
	}))
	mux.HandleFunc("POST /_matrix/client/v3/createRoom", auth(func(w http.ResponseWriter, r *http.Request) {
		var req map[string]any
		_ = json.NewDecoder(r.Body).Decode(&req)
		f.mu.Lock()
		f.created = append(f.created, req)
		f.mu.Unlock()
		writeJSON(w, 200, map[string]string{"room_id": "!new:hs"})
	}))
	mux.HandleFunc("POST /_matrix/client/v3/rooms/{room}/join", auth(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.joined = append(f.joined, r.PathValue("room"))
		f.mu.Unlock()
		writeJSON(w, 200, map[string]string{"room_id": r.PathValue("room")})
	}))
	mux.HandleFunc("POST /_matrix/client/v3/rooms/{room}/leave", auth(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.left = append(f.left, r.PathValue("room"))
		f.mu.Unlock()
		writeJSON(w, 200, map[string]any{})
	}))
	if tlsServer {
		f.srv = httptest.NewTLSServer(mux)
	} else {
		f.srv = httptest.NewServer(mux)
	}
	t.Cleanup(f.srv.Close)
	return f
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeHS) pushSync(body string) { f.syncs <- fakeSync{status: 200, body: body} }

// recorder is a CallHandler that records what it is given.
type recorder struct {
	mu      sync.Mutex
	batches [][]callengine.RoomEvent
	left    []string
	ice     [][]webrtc.ICEServer
	order   []string
	changed chan struct{}
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{}, 100)} }

func (r *recorder) HandleEvents(_ context.Context, b []callengine.RoomEvent) {
	r.mu.Lock()
	r.batches = append(r.batches, b)
	r.order = append(r.order, "events")
	r.mu.Unlock()
	r.changed <- struct{}{}
}

func (r *recorder) PeerLeft(_ context.Context, roomID, userID string) {
	r.mu.Lock()
	r.left = append(r.left, roomID+" "+userID)
	r.order = append(r.order, "left")
	r.mu.Unlock()
	r.changed <- struct{}{}
}

func (r *recorder) SetICEServers(s []webrtc.ICEServer) {
	r.mu.Lock()
	r.ice = append(r.ice, s)
	r.mu.Unlock()
	r.changed <- struct{}{}
}

func (r *recorder) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		r.mu.Lock()
		ok := cond()
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-r.changed:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// logBuffer collects debug logs so tests can check them for secrets.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func testLogger(t *testing.T) (*slog.Logger, *logBuffer) {
	t.Helper()
	lb := &logBuffer{}
	t.Cleanup(func() {
		for _, secret := range []string{fakeToken, fakeTURNPass, "right-password"} {
			if strings.Contains(lb.String(), secret) {
				t.Errorf("log contains a secret %q:\n%s", secret, lb.String())
			}
		}
	})
	return slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})), lb
}
