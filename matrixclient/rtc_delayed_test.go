package matrixclient

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mxcall/mxcall/matrixrtc"
)

// delayedRoutes is a homeserver with delayed events (MSC4140) in front of
// the fake homeserver: scheduled leaves, the path form of the update
// endpoint (or, with oldStyle, only the body form) and a maximum delay.
type delayedRoutes struct {
	next     http.RoundTripper
	oldStyle bool

	mu        sync.Mutex
	requests  []string // "METHOD path?query body"
	scheduled map[string]bool
}

func (r *delayedRoutes) RoundTrip(req *http.Request) (*http.Response, error) {
	reply := func(status int, body string) (*http.Response, error) {
		return &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(body)), Request: req}, nil
	}
	p := req.URL.Path
	const prefix = "/_matrix/client/unstable/org.matrix.msc4140/delayed_events/"
	mine := p == "/_matrix/client/versions" || strings.HasPrefix(p, prefix) ||
		(req.Method == http.MethodPut && strings.Contains(p, "/state/"))
	if !mine {
		return r.next.RoundTrip(req)
	}
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if p == "/_matrix/client/versions" {
		return reply(200, `{"versions":["v1.11"],"unstable_features":{"org.matrix.msc4140":true}}`)
	}
	if strings.Contains(p, "/state/") || strings.HasPrefix(p, prefix) {
		r.requests = append(r.requests, req.Method+" "+p+"?"+req.URL.RawQuery+" "+strings.TrimSpace(string(body)))
	}
	switch {
	case req.Method == http.MethodPut && strings.Contains(p, "/state/"):
		switch req.URL.Query().Get("org.matrix.msc4140.delay") {
		case "":
			return reply(200, `{"event_id":"$e"}`)
		case "8000":
			r.scheduled["d1"] = true
			return reply(200, `{"delay_id":"d1"}`)
		default:
			return reply(400, `{"errcode":"M_UNKNOWN","error":"too long","org.matrix.msc4140.errcode":"M_MAX_DELAY_EXCEEDED","org.matrix.msc4140.max_delay":8000}`)
		}
	case req.Method == http.MethodPost && strings.HasPrefix(p, prefix):
		parts := strings.Split(strings.TrimPrefix(p, prefix), "/")
		id, action := parts[0], ""
		if len(parts) == 2 {
			if r.oldStyle {
				return reply(404, `{"errcode":"M_UNRECOGNIZED","error":"Unrecognized request"}`)
			}
			action = parts[1]
		} else {
			var b struct {
				Action string `json:"action"`
			}
			_ = json.Unmarshal(body, &b)
			action = b.Action
		}
		if !r.scheduled[id] {
			return reply(404, `{"errcode":"M_NOT_FOUND","error":"no such delayed event"}`)
		}
		if action != "restart" {
			delete(r.scheduled, id)
		}
		return reply(200, `{}`)
	}
	return r.next.RoundTrip(req)
}

func (r *delayedRoutes) log() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.requests
	r.requests = nil
	return out
}

// TestDelayedEvents: the Client's MSC4140 requests, both forms of the
// update endpoint, and the refusals mapped onto matrixrtc's errors.
func TestDelayedEvents(t *testing.T) {
	for _, oldStyle := range []bool{false, true} {
		name := "path form"
		if oldStyle {
			name = "body form"
		}
		t.Run(name, func(t *testing.T) {
			f := newFakeHS(t, false)
			routes := &delayedRoutes{next: f.srv.Client().Transport, oldStyle: oldStyle, scheduled: map[string]bool{}}
			c, _ := loggedIn(t, f, WithHTTPClient(&http.Client{Transport: routes}))
			ctx := context.Background()
			var de matrixrtc.DelayedEvents = c
			if ok, err := de.DelayedEventsSupported(ctx); !ok || err != nil {
				t.Fatalf("supported: %v %v", ok, err)
			}
			routes.log()
			key := matrixrtc.StateKey("@alice:hs", "DEV1")
			_, err := de.SendDelayedState(ctx, "!call:hs", matrixrtc.TypeCallMember, key, matrixrtc.LeaveContent(), 9*time.Second)
			var me *matrixrtc.MaxDelayError
			if !errors.As(err, &me) || me.Max != 8*time.Second || !errors.Is(err, matrixrtc.ErrMaxDelayExceeded) {
				t.Errorf("delay above the maximum: %v", err)
			}
			id, err := de.SendDelayedState(ctx, "!call:hs", matrixrtc.TypeCallMember, key, matrixrtc.LeaveContent(), 8*time.Second)
			if err != nil || id != "d1" {
				t.Fatalf("SendDelayedState: %q %v", id, err)
			}
			if err := de.UpdateDelayedEvent(ctx, id, matrixrtc.DelayRestart); err != nil {
				t.Errorf("restart: %v", err)
			}
			if err := de.UpdateDelayedEvent(ctx, id, matrixrtc.DelaySend); err != nil {
				t.Errorf("send: %v", err)
			}
			if err := de.UpdateDelayedEvent(ctx, id, matrixrtc.DelayRestart); !errors.Is(err, matrixrtc.ErrDelayNotFound) {
				t.Errorf("restart after send: %v, want ErrDelayNotFound", err)
			}
			for _, bad := range []struct {
				id     string
				action matrixrtc.DelayAction
			}{{"", matrixrtc.DelaySend}, {"d1", "explode"}} {
				if err := de.UpdateDelayedEvent(ctx, bad.id, bad.action); !errors.Is(err, matrixrtc.ErrInvalidArgument) {
					t.Errorf("UpdateDelayedEvent(%q, %q): %v", bad.id, bad.action, err)
				}
			}
			stateURL := "PUT /_matrix/client/v3/rooms/!call:hs/state/" + matrixrtc.TypeCallMember + "/" + key
			const d = "POST /_matrix/client/unstable/org.matrix.msc4140/delayed_events/d1"
			want := []string{stateURL + "?org.matrix.msc4140.delay=9000 {}", stateURL + "?org.matrix.msc4140.delay=8000 {}"}
			if oldStyle {
				want = append(want, d+"/restart? {}", d+`? {"action":"restart"}`, d+"/send? {}", d+`? {"action":"send"}`, d+"/restart? {}", d+`? {"action":"restart"}`)
			} else {
				want = append(want, d+"/restart? {}", d+"/send? {}", d+"/restart? {}")
			}
			if got := routes.log(); strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("requests\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}
