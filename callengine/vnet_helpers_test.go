package callengine

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // TURN REST credentials are HMAC-SHA1 by definition
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/transport/v5/vnet"
	"github.com/pion/webrtc/v4"
)

// vnetSettings returns a SettingEngine that sends everything through n
// (UDP over IPv4 only: vnet has no TCP) with timeouts short enough for
// tests. tweak, if set, adjusts it further.
func vnetSettings(n *vnet.Net, tweak func(*webrtc.SettingEngine)) webrtc.SettingEngine {
	var se webrtc.SettingEngine
	se.SetNet(n)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	if tweak != nil {
		tweak(&se)
	}
	return se
}

// turnRESTCredentials makes TURN REST API credentials the way Dendrite's
// /voip/turnServer does: username "expiry:userID", password the base64 of
// HMAC-SHA1(secret, username).
func turnRESTCredentials(secret, userID string, ttl time.Duration) (username, password string) {
	username = strconv.FormatInt(time.Now().Add(ttl).Unix(), 10) + ":" + userID
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(username))
	return username, base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// ipOf returns the IP of a UDP or TCP address (nil for anything else).
func ipOf(a net.Addr) net.IP {
	switch a := a.(type) {
	case *net.UDPAddr:
		return a.IP
	case *net.TCPAddr:
		return a.IP
	}
	return nil
}

// testLogs collects the engines' logs and prints them only if the test
// failed (engine goroutines may still log after the test function
// returned, so they never call t.Log directly).
type testLogs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *testLogs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// newTestLogs must be called before the engines join, so that its cleanup
// runs after they closed.
func newTestLogs(t *testing.T) *testLogs {
	t.Helper()
	l := &testLogs{}
	t.Cleanup(func() {
		if t.Failed() {
			l.mu.Lock()
			t.Logf("engine logs:\n%s", l.buf.String())
			l.mu.Unlock()
		}
	})
	return l
}

func (l *testLogs) logger(user string) *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug})).With("user", user)
}

// selectedPair returns the selected ICE candidate pair of m's call, read
// on the call's own goroutine.
func selectedPair(t *testing.T, m *member, callID string) *webrtc.ICECandidatePair {
	t.Helper()
	m.eng.mu.Lock()
	c := m.eng.calls[callID]
	m.eng.mu.Unlock()
	if c == nil {
		t.Fatalf("%s: no call %s", m.userID, callID)
	}
	var pair *webrtc.ICECandidatePair
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := c.exec(ctx, func() error {
		if c.pc == nil {
			return ErrWrongState
		}
		p, err := c.pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
		pair = p
		return err
	})
	if err != nil || pair == nil {
		t.Fatalf("%s: no selected candidate pair in %s: %v", m.userID, callID, err)
	}
	return pair
}

// failedPairs returns the candidate pairs of m's call that ICE gave up on,
// as "local-id <-> remote-id".
func failedPairs(t *testing.T, m *member, callID string) []string {
	t.Helper()
	m.eng.mu.Lock()
	c := m.eng.calls[callID]
	m.eng.mu.Unlock()
	if c == nil {
		t.Fatalf("%s: no call %s", m.userID, callID)
	}
	var pc *webrtc.PeerConnection
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.exec(ctx, func() error { pc = c.pc; return nil }); err != nil || pc == nil {
		t.Fatalf("%s: no peer connection in %s: %v", m.userID, callID, err)
	}
	var out []string
	for _, s := range pc.GetStats() {
		if p, ok := s.(webrtc.ICECandidatePairStats); ok && p.State == webrtc.StatsICECandidatePairStateFailed {
			out = append(out, p.LocalCandidateID+" <-> "+p.RemoteCandidateID)
		}
	}
	return out
}

func pairString(p *webrtc.ICECandidatePair) string {
	return fmt.Sprintf("%s %s:%d <-> %s %s:%d", p.Local.Typ, p.Local.Address, p.Local.Port,
		p.Remote.Typ, p.Remote.Address, p.Remote.Port)
}

// iceUfrag returns the first a=ice-ufrag of an SDP.
func iceUfrag(sdp string) string {
	for _, line := range strings.Split(sdp, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "a=ice-ufrag:"); ok {
			return v
		}
	}
	return ""
}

// negotiation is what the ICE tests look at in one m.call.negotiate.
type negotiation struct {
	sender, typ, ufrag string // typ is "offer" or "answer"
}

// negotiations returns every m.call.negotiate sent so far, in order.
func negotiations(t *testing.T, r *room) []negotiation {
	t.Helper()
	var out []negotiation
	for _, ev := range r.eventsOfType(EventNegotiate) {
		c, err := ParseContent(ev.Type, ev.Content)
		if err != nil {
			t.Fatalf("our own negotiate does not parse: %v", err)
		}
		n := c.(*Negotiate)
		out = append(out, negotiation{ev.Sender, n.Description.Type, iceUfrag(n.Description.SDP)})
	}
	return out
}

// signalingState returns the signalling state of m's call, read on the
// call's own goroutine.
func signalingState(t *testing.T, m *member, callID string) webrtc.SignalingState {
	t.Helper()
	m.eng.mu.Lock()
	c := m.eng.calls[callID]
	m.eng.mu.Unlock()
	if c == nil {
		t.Fatalf("%s: no call %s", m.userID, callID)
	}
	var st webrtc.SignalingState
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.exec(ctx, func() error {
		if c.pc == nil {
			return ErrWrongState
		}
		st = c.pc.SignalingState()
		return nil
	}); err != nil {
		t.Fatalf("%s: signalling state of %s: %v", m.userID, callID, err)
	}
	return st
}
