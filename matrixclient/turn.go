package matrixclient

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/pion/webrtc/v4"
	"maunium.net/go/mautrix"
)

// turnRefresh is when to ask again for credentials that live ttl: at
// three quarters of their life, at least a second later.
func turnRefresh(ttl time.Duration) time.Duration {
	return max(ttl*3/4, time.Second)
}

// turnLoop fetches TURN credentials now and again before they expire, and
// hands them to the CallHandler.
func (c *Client) turnLoop(ctx context.Context, mx *mautrix.Client) {
	failures := 0
	for {
		var wait time.Duration
		resp, err := mx.TurnServer(mautrix.WithMaxRetries(ctx, 0))
		var he mautrix.HTTPError
		switch {
		case ctx.Err() != nil:
			return
		case err != nil && errors.As(err, &he) && he.Response != nil && he.Response.StatusCode == http.StatusNotFound:
			c.setTURN(TURNStatus{State: TURNNone}, nil)
			wait = 10 * time.Minute
		case err != nil:
			failures++
			c.log.Warn("TURN server request failed", "err", err, "failures", failures)
			c.setTURN(TURNStatus{State: TURNError, Err: err}, nil)
			wait = backoff(failures, 2*time.Second, 5*time.Minute)
		case len(resp.URIs) == 0:
			failures = 0
			c.log.Info("homeserver has no TURN server")
			c.setTURN(TURNStatus{State: TURNNone}, nil)
			wait = 10 * time.Minute
		default:
			failures = 0
			ttl := time.Duration(resp.TTL) * time.Second
			if ttl <= 0 {
				ttl = time.Hour
			}
			servers := []webrtc.ICEServer{{URLs: resp.URIs, Username: resp.Username, Credential: resp.Password}}
			c.log.Info("TURN servers", "uris", resp.URIs, "ttl", ttl)
			c.setTURN(TURNStatus{State: TURNAvailable, URIs: resp.URIs, Expires: time.Now().Add(ttl)}, servers)
			wait = turnRefresh(ttl)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-c.turnKick:
			t.Stop()
		}
	}
}

func (c *Client) setTURN(s TURNStatus, servers []webrtc.ICEServer) {
	c.mu.Lock()
	prev := c.turn.State
	if s.State == TURNError {
		// Keep the servers we have until a fetch succeeds.
		s.URIs, s.Expires = c.turn.URIs, c.turn.Expires
		c.turn = s
	} else {
		c.turn, c.ice = s, servers
	}
	h := c.handler
	c.mu.Unlock()
	if h != nil && s.State != TURNError {
		h.SetICEServers(servers)
	}
	if prev != s.State || s.State == TURNAvailable {
		c.notify(ChangeTURN)
	}
}
