package rtcauth

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livekit/protocol/auth"
	"github.com/pion/transport/v5/test"
)

const (
	testKey    = "APItestkey"
	testSecret = "a-secret-that-is-long-enough-for-hs256-0123456789"
	testLKURL  = "ws://127.0.0.1:7880"
)

// fakeHomeserver serves the federation userinfo endpoint: tokens maps an
// access token to the user it belongs to; "expired" answers like Dendrite
// does for an expired or unknown token.
func fakeHomeserver(tokens map[string]string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != userInfoPath || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		sub, ok := tokens[r.URL.Query().Get("access_token")]
		if !ok {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"errcode":"M_UNKNOWN_TOKEN","error":"Access Token unknown or expired"}`)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"sub": sub})
	})
}

type testEnv struct {
	handler *Handler
	client  *http.Client
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	hs := httptest.NewServer(fakeHomeserver(map[string]string{
		"alice-token": "@alice:hs.test",
		"liar-token":  "@mallory:other.test", // hs.test vouching for another server's user
		"blank-token": "",
	}))
	t.Cleanup(hs.Close)
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close() // a homeserver that does not answer
	client := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}
	t.Cleanup(client.CloseIdleConnections)
	v, err := NewFederationVerifier([]string{"hs.test=" + hs.URL, "down.test=" + down.URL, ""}, client)
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewHandler(Config{LiveKitURL: testLKURL, APIKey: testKey, APISecret: testSecret, Verifier: v})
	if err != nil {
		t.Fatal(err)
	}
	return &testEnv{handler: h, client: client}
}

func openID(token, server string) string {
	return `{"access_token":"` + token + `","token_type":"Bearer","matrix_server_name":"` + server + `","expires_in":3600}`
}

func sfuGet(room, token, server, device string) string {
	return `{"room":"` + room + `","openid_token":` + openID(token, server) + `,"device_id":"` + device + `"}`
}

func getToken(room, slot, token, server, member, user, device string) string {
	return `{"room_id":"` + room + `","slot_id":"` + slot + `","openid_token":` + openID(token, server) +
		`,"member":{"id":"` + member + `","claimed_user_id":"` + user + `","claimed_device_id":"` + device + `"}}`
}

func TestHandler(t *testing.T) {
	t.Cleanup(test.CheckRoutines(t)) // runs after newTestEnv's cleanups
	env := newTestEnv(t)
	huge := `{"room":"` + strings.Repeat("x", MaxBodyBytes) + `"}`
	tests := []struct {
		name, method, path, body string
		status                   int
		errcode                  string
		room, identity           string // for 200
	}{
		{name: "health", method: "GET", path: "/healthz", status: 200},
		{name: "health POST", method: "POST", path: "/healthz", status: 405, errcode: "M_UNRECOGNIZED"},
		{name: "unknown path", method: "POST", path: "/sfu/get/x", status: 404, errcode: "M_UNRECOGNIZED"},
		{name: "GET sfu/get", method: "GET", path: "/sfu/get", status: 405, errcode: "M_UNRECOGNIZED"},
		{name: "PUT get_token", method: "PUT", path: "/get_token", status: 405, errcode: "M_UNRECOGNIZED"},
		{name: "CORS preflight", method: "OPTIONS", path: "/sfu/get", status: 200},
		{name: "garbage", method: "POST", path: "/sfu/get", body: "\x00\xffnot json", status: 400, errcode: "M_NOT_JSON"},
		{name: "empty body", method: "POST", path: "/sfu/get", body: "", status: 400, errcode: "M_NOT_JSON"},
		{name: "array", method: "POST", path: "/get_token", body: "[1,2]", status: 400, errcode: "M_NOT_JSON"},
		{name: "null", method: "POST", path: "/get_token", body: "null", status: 400, errcode: "M_BAD_JSON"},
		{name: "unknown field", method: "POST", path: "/sfu/get", body: `{"room":"!r:hs.test","evil":1}`, status: 400, errcode: "M_NOT_JSON"},
		{name: "unknown nested field", method: "POST", path: "/sfu/get",
			body: `{"room":"!r:hs.test","device_id":"D","openid_token":{"access_token":"a","matrix_server_name":"hs.test","x":1}}`, status: 400, errcode: "M_NOT_JSON"},
		{name: "trailing data", method: "POST", path: "/sfu/get", body: sfuGet("!r:hs.test", "alice-token", "hs.test", "D") + "{}", status: 400, errcode: "M_NOT_JSON"},
		{name: "wrong type", method: "POST", path: "/sfu/get", body: `{"room":5}`, status: 400, errcode: "M_NOT_JSON"},
		{name: "expires_in not a number", method: "POST", path: "/sfu/get",
			body: `{"room":"!r:hs.test","device_id":"D","openid_token":{"access_token":"a","matrix_server_name":"hs.test","expires_in":"soon"}}`, status: 400, errcode: "M_NOT_JSON"},
		{name: "truncated", method: "POST", path: "/sfu/get", body: `{"room":"!r:hs.test"`, status: 400, errcode: "M_NOT_JSON"},
		{name: "huge", method: "POST", path: "/sfu/get", body: huge, status: 413, errcode: "M_TOO_LARGE"},
		{name: "no room", method: "POST", path: "/sfu/get", body: sfuGet("", "alice-token", "hs.test", "D"), status: 400, errcode: "M_BAD_JSON"},
		{name: "no device", method: "POST", path: "/sfu/get", body: sfuGet("!r:hs.test", "alice-token", "hs.test", ""), status: 400, errcode: "M_BAD_JSON"},
		{name: "no openid token", method: "POST", path: "/sfu/get", body: `{"room":"!r:hs.test","device_id":"D"}`, status: 400, errcode: "M_BAD_JSON"},
		{name: "no access token", method: "POST", path: "/sfu/get", body: sfuGet("!r:hs.test", "", "hs.test", "D"), status: 400, errcode: "M_BAD_JSON"},
		{name: "server name with a path", method: "POST", path: "/sfu/get", body: sfuGet("!r:hs.test", "alice-token", "evil.test/x?", "D"), status: 400, errcode: "M_BAD_JSON"},
		{name: "server name with a user", method: "POST", path: "/sfu/get", body: sfuGet("!r:hs.test", "alice-token", "a@evil.test", "D"), status: 400, errcode: "M_BAD_JSON"},
		{name: "room too long", method: "POST", path: "/sfu/get", body: sfuGet("!"+strings.Repeat("r", 300), "alice-token", "hs.test", "D"), status: 400, errcode: "M_BAD_JSON"},
		{name: "expired or unknown token", method: "POST", path: "/sfu/get", body: sfuGet("!r:hs.test", "expired", "hs.test", "D"), status: 401, errcode: "M_UNAUTHORIZED"},
		{name: "foreign homeserver", method: "POST", path: "/sfu/get", body: sfuGet("!r:hs.test", "alice-token", "other.test", "D"), status: 401, errcode: "M_UNAUTHORIZED"},
		{name: "homeserver vouches for a foreign user", method: "POST", path: "/sfu/get", body: sfuGet("!r:hs.test", "liar-token", "hs.test", "D"), status: 401, errcode: "M_UNAUTHORIZED"},
		{name: "homeserver sends no user", method: "POST", path: "/sfu/get", body: sfuGet("!r:hs.test", "blank-token", "hs.test", "D"), status: 401, errcode: "M_UNAUTHORIZED"},
		{name: "homeserver down", method: "POST", path: "/sfu/get", body: sfuGet("!r:hs.test", "alice-token", "down.test", "D"), status: 401, errcode: "M_UNAUTHORIZED"},
		{name: "sfu/get", method: "POST", path: "/sfu/get", body: sfuGet("!r:hs.test", "alice-token", "hs.test", "ALICEDEV"), status: 200,
			room: RoomName("!r:hs.test", "m.call#ROOM"), identity: "@alice:hs.test:ALICEDEV"},
		{name: "sfu/get with delay fields", method: "POST", path: "/sfu/get",
			body:   `{"room":"!r:hs.test","openid_token":` + openID("alice-token", "hs.test") + `,"device_id":"D","delay_id":"x","delay_timeout":10000,"delay_cs_api_url":"https://hs.test"}`,
			status: 200, room: RoomName("!r:hs.test", "m.call#ROOM"), identity: "@alice:hs.test:D"},
		{name: "get_token", method: "POST", path: "/get_token",
			body:   getToken("!r:hs.test", "m.call#ROOM", "alice-token", "hs.test", "m1", "@alice:hs.test", "ALICEDEV"),
			status: 200, room: RoomName("!r:hs.test", "m.call#ROOM"), identity: Identity("@alice:hs.test", "ALICEDEV", "m1")},
		{name: "get_token for someone else", method: "POST", path: "/get_token",
			body:   getToken("!r:hs.test", "m.call#ROOM", "alice-token", "hs.test", "m1", "@bob:hs.test", "BOBDEV"),
			status: 401, errcode: "M_UNAUTHORIZED"},
		{name: "get_token without member id", method: "POST", path: "/get_token",
			body:   getToken("!r:hs.test", "m.call#ROOM", "alice-token", "hs.test", "", "@alice:hs.test", "ALICEDEV"),
			status: 400, errcode: "M_BAD_JSON"},
		{name: "get_token without slot", method: "POST", path: "/get_token",
			body:   getToken("!r:hs.test", "", "alice-token", "hs.test", "m1", "@alice:hs.test", "ALICEDEV"),
			status: 400, errcode: "M_BAD_JSON"},
		{name: "get_token in the sfu/get shape", method: "POST", path: "/get_token",
			body: sfuGet("!r:hs.test", "alice-token", "hs.test", "D"), status: 400, errcode: "M_NOT_JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
			rec := httptest.NewRecorder()
			env.handler.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d; body %s", rec.Code, tt.status, rec.Body)
			}
			if got := rec.Header().Get("Access-Control-Allow-Origin"); got != "*" {
				t.Errorf("Access-Control-Allow-Origin = %q", got)
			}
			if tt.errcode != "" {
				var e struct{ Errcode, Error string }
				if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Errcode != tt.errcode {
					t.Fatalf("body %s, want errcode %s", rec.Body, tt.errcode)
				}
				if strings.Contains(rec.Body.String(), "token") && strings.Contains(rec.Body.String(), "alice-token") {
					t.Errorf("error leaks the access token: %s", rec.Body)
				}
			}
			if tt.identity != "" {
				checkJWT(t, rec.Body.Bytes(), tt.room, tt.identity)
			}
		})
	}
}

// checkJWT checks a success body: the URL, the signature, identity, room and grants.
func checkJWT(t *testing.T, body []byte, room, identity string) {
	t.Helper()
	var resp Response
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&resp); err != nil {
		t.Fatalf("response %s: %v", body, err)
	}
	if resp.URL != testLKURL {
		t.Errorf("url %q, want %q", resp.URL, testLKURL)
	}
	v, err := auth.ParseAPIToken(resp.JWT)
	if err != nil {
		t.Fatal(err)
	}
	if v.APIKey() != testKey {
		t.Errorf("API key %q", v.APIKey())
	}
	claims, grants, err := v.Verify(testSecret)
	if err != nil {
		t.Fatalf("token does not verify: %v", err)
	}
	if grants.Identity != identity {
		t.Errorf("identity %q, want %q", grants.Identity, identity)
	}
	g := grants.Video
	if g == nil || g.Room != room || !g.RoomJoin || g.RoomCreate || !g.GetCanPublish() || !g.GetCanSubscribe() ||
		!g.GetCanPublishData() || !g.GetCanUpdateOwnMetadata() || g.RoomAdmin || g.Hidden || g.Recorder {
		t.Errorf("grant %+v, want join+publish+subscribe in room %q", g, room)
	}
	if ttl := time.Until(claims.ExpiresAt.Time); ttl < 59*time.Minute || ttl > 61*time.Minute {
		t.Errorf("token valid for %v, want 1h", ttl)
	}
	if _, _, err := v.Verify("another-secret-that-is-long-enough-0123456789"); err == nil {
		t.Error("token verifies with another secret")
	}
}

func TestNewHandlerConfig(t *testing.T) {
	v, err := NewFederationVerifier([]string{"*"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no URL", Config{APIKey: "k", APISecret: "s", Verifier: v}},
		{"http URL", Config{LiveKitURL: "http://x", APIKey: "k", APISecret: "s", Verifier: v}},
		{"no key", Config{LiveKitURL: "ws://x", APISecret: "s", Verifier: v}},
		{"no secret", Config{LiveKitURL: "ws://x", APIKey: "k", Verifier: v}},
		{"no verifier", Config{LiveKitURL: "ws://x", APIKey: "k", APISecret: "s"}},
	}
	for _, tt := range tests {
		if _, err := NewHandler(tt.cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: err %v, want ErrConfig", tt.name, err)
		}
	}
}

func TestNewFederationVerifier(t *testing.T) {
	tests := []struct {
		entries []string
		ok      bool
	}{
		{[]string{"example.org"}, true},
		{[]string{"example.org=https://matrix.example.org:8448"}, true},
		{[]string{"localhost=http://127.0.0.1:8008/"}, true},
		{[]string{"*"}, true},
		{[]string{"example.org", "", " other.org "}, true},
		{nil, false},
		{[]string{""}, false},
		{[]string{"bad name"}, false},
		{[]string{"example.org=ftp://x"}, false},
		{[]string{"example.org=https://x/path"}, false},
		{[]string{"example.org=https://u:p@x"}, false},
		{[]string{"example.org=https://x?q=1"}, false},
		{[]string{"=https://x"}, false},
	}
	for _, tt := range tests {
		_, err := NewFederationVerifier(tt.entries, nil)
		if (err == nil) != tt.ok {
			t.Errorf("NewFederationVerifier(%q): err %v, want ok=%v", tt.entries, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrConfig) {
			t.Errorf("NewFederationVerifier(%q): err %v is not ErrConfig", tt.entries, err)
		}
	}
}

func TestValidServerName(t *testing.T) {
	good := []string{"example.org", "example.org:8448", "localhost", "127.0.0.1", "127.0.0.1:8008", "[::1]", "[::1]:8448", "a-b.c"}
	bad := []string{"", ":", "example.org:", "example.org:0", "example.org:65536", "example.org:+1", "exa mple.org",
		"example.org/x", "a@b", "[::1", "[1.2.3.4]", "[::1]x", "[::1]:", "ex:am:ple", "é.org", strings.Repeat("a", 256)}
	for _, s := range good {
		if !ValidServerName(s) {
			t.Errorf("ValidServerName(%q) = false", s)
		}
	}
	for _, s := range bad {
		if ValidServerName(s) {
			t.Errorf("ValidServerName(%q) = true", s)
		}
	}
}

// TestDiscovery checks server discovery with "*": well-known delegation,
// and port 8448 when there is none. Every TLS connection goes to one test
// server that answers for all names.
func TestDiscovery(t *testing.T) {
	defer test.CheckRoutines(t)()
	var (
		mu    sync.Mutex
		hosts []string
	)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hosts = append(hosts, r.Host)
		mu.Unlock()
		switch {
		case r.URL.Path == "/.well-known/matrix/server" && r.Host == "delegated.test":
			_, _ = io.WriteString(w, `{"m.server":"matrix.delegated.test:443"}`)
		case r.URL.Path == "/.well-known/matrix/server":
			http.NotFound(w, r)
		case r.URL.Path == userInfoPath:
			name := strings.TrimSuffix(strings.TrimSuffix(r.Host, ":443"), ":8448")
			name = strings.TrimPrefix(name, "matrix.")
			_ = json.NewEncoder(w).Encode(map[string]string{"sub": "@u:" + name})
		}
	}))
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // test server
	}}
	defer client.CloseIdleConnections()
	v, err := NewFederationVerifier([]string{"*"}, client)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, wantHost string }{
		{"delegated.test", "matrix.delegated.test:443"},
		{"plain.test", "plain.test:8448"},
		{"port.test:8443", "port.test:8443"},
	} {
		mu.Lock()
		hosts = nil
		mu.Unlock()
		user, err := v.UserID(context.Background(), OpenIDToken{AccessToken: "t", MatrixServerName: tt.name})
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if user != "@u:"+tt.name {
			t.Errorf("%s: user %q", tt.name, user)
		}
		mu.Lock()
		if len(hosts) == 0 || hosts[len(hosts)-1] != tt.wantHost {
			t.Errorf("%s: asked %v, want userinfo at %s", tt.name, hosts, tt.wantHost)
		}
		mu.Unlock()
	}
}
