package matrixclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/mxcall/mxcall/matrixrtc"
)

// rtcRoutes answers the MatrixRTC requests (state events, OpenID) in front
// of the fake homeserver, and passes everything else on.
type rtcRoutes struct {
	next http.RoundTripper

	mu    sync.Mutex
	state map[string]json.RawMessage // "type|key" → content
}

func (r *rtcRoutes) RoundTrip(req *http.Request) (*http.Response, error) {
	p := req.URL.Path
	reply := func(status int, body string) (*http.Response, error) {
		return &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(body)), Request: req}, nil
	}
	if req.Header.Get("Authorization") != "Bearer "+fakeToken &&
		(strings.Contains(p, "/state/") || strings.Contains(p, "/openid/") || strings.HasSuffix(p, "!call:hs/state")) {
		return reply(401, `{"errcode":"M_UNKNOWN_TOKEN"}`)
	}
	switch {
	case req.Method == http.MethodPut && strings.HasPrefix(p, "/_matrix/client/v3/rooms/!forbidden:hs/state/"):
		return reply(403, `{"errcode":"M_FORBIDDEN","error":"power levels"}`)
	case req.Method == http.MethodPut && strings.HasPrefix(p, "/_matrix/client/v3/rooms/!call:hs/state/"):
		parts := strings.Split(strings.TrimPrefix(p, "/_matrix/client/v3/rooms/!call:hs/state/"), "/")
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.state[parts[0]+"|"+parts[1]] = body
		r.mu.Unlock()
		return reply(200, `{"event_id":"$s"}`)
	case req.Method == http.MethodGet && p == "/_matrix/client/v3/rooms/!call:hs/state":
		return reply(200, `[{"type":"m.room.member","state_key":"@alice:hs","sender":"@alice:hs","origin_server_ts":5,"content":{"membership":"join"}},
			{"type":"org.matrix.msc3401.call.member","state_key":"_@alice:hs_DEV1_m.call","sender":"@alice:hs","origin_server_ts":7,"content":{"weird":[1,{"x":null}]}}]`)
	case req.Method == http.MethodPost && p == "/_matrix/client/v3/user/@alice:hs/openid/request_token":
		return reply(200, `{"access_token":"oid","token_type":"Bearer","matrix_server_name":"hs","expires_in":3600}`)
	}
	return r.next.RoundTrip(req)
}

func TestMatrixRTCInterface(t *testing.T) {
	f := newFakeHS(t, false)
	routes := &rtcRoutes{next: f.srv.Client().Transport, state: map[string]json.RawMessage{}}
	c, _ := loggedIn(t, f, WithHTTPClient(&http.Client{Transport: routes}))
	ctx := context.Background()
	var mx matrixrtc.Matrix = c
	if mx.UserID() != "@alice:hs" || mx.DeviceID() != "DEV1" || mx.HomeserverURL() != f.srv.URL {
		t.Errorf("identity %q %q %q", mx.UserID(), mx.DeviceID(), mx.HomeserverURL())
	}
	key := matrixrtc.StateKey(mx.UserID(), mx.DeviceID())
	if _, err := mx.SendState(ctx, "!call:hs", matrixrtc.TypeCallMember, key, matrixrtc.LeaveContent()); err != nil {
		t.Fatal(err)
	}
	routes.mu.Lock()
	got := routes.state[matrixrtc.TypeCallMember+"|"+key]
	all := len(routes.state)
	routes.mu.Unlock()
	if all != 1 || !bytes.Equal(bytes.TrimSpace(got), []byte("{}")) {
		t.Errorf("state sent: %d events, content %q", all, got)
	}
	if _, err := mx.SendState(ctx, "!forbidden:hs", matrixrtc.TypeCallMember, key, map[string]any{}); !errors.Is(err, matrixrtc.ErrForbidden) {
		t.Errorf("forbidden: %v", err)
	}
	evs, err := mx.RoomState(ctx, "!call:hs", matrixrtc.TypeCallMember)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].StateKey != "_@alice:hs_DEV1_m.call" || evs[0].OriginServerTS != 7 || string(evs[0].Content) != `{"weird":[1,{"x":null}]}` {
		t.Errorf("state %+v", evs)
	}
	if all, _ := mx.RoomState(ctx, "!call:hs", ""); len(all) != 2 {
		t.Errorf("all state: %+v", all)
	}
	tok, err := mx.OpenIDToken(ctx)
	if err != nil || tok.AccessToken != "oid" || tok.MatrixServerName != "hs" || tok.ExpiresIn != "3600" {
		t.Errorf("OpenID %+v %v", tok, err)
	}
}
