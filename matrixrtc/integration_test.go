//go:build integration

// Integration tests against the real MatrixRTC stack: Dendrite, the token
// service (cmd/mxcall-rtc-auth) and the LiveKit SFU, started by
// scripts/test-rtc.sh inside a loopback-only network namespace (the same
// environment as rtcauth's integration tests: MXCALL_HS_URL,
// MXCALL_RTC_AUTH_URL, MXCALL_RTC_LIVEKIT_URL, MXCALL_RTC_API_KEY,
// MXCALL_RTC_API_SECRET). Only this external test package imports
// matrixclient, to run a session over mxcall's real Matrix client; the
// matrixrtc package itself does not.
package matrixrtc_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livekit/protocol/auth"
	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/mxcall/mxcall/internal/rtctest"
	"github.com/mxcall/mxcall/matrixclient"
	"github.com/mxcall/mxcall/matrixrtc"
	"github.com/mxcall/mxcall/rtcauth"
)

var hsURL, authURL, lkURL, apiKey, apiSecret string

func TestMain(m *testing.M) {
	e := rtctest.Setup()
	hsURL, authURL, lkURL, apiKey, apiSecret = e.HS, e.Auth, e.LiveKit, e.APIKey, e.APISecret
	os.Exit(m.Run())
}

// hsClient is a minimal client-server API client implementing
// matrixrtc.Matrix over plain HTTP (matrixclient will implement it with
// mautrix).
// txnSeq numbers the transaction IDs of sent events.
var txnSeq atomic.Int64

type hsClient struct {
	user, device, token string
}

func (c *hsClient) call(ctx context.Context, method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, hsURL+path, r)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusForbidden {
		return fmt.Errorf("%w: %s", matrixrtc.ErrForbidden, b)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

func (c *hsClient) SendState(ctx context.Context, roomID, evType, key string, content any) (string, error) {
	var resp struct {
		EventID string `json:"event_id"`
	}
	err := c.call(ctx, http.MethodPut, "/_matrix/client/v3/rooms/"+url.PathEscape(roomID)+"/state/"+url.PathEscape(evType)+"/"+url.PathEscape(key), content, &resp)
	return resp.EventID, err
}

func (c *hsClient) SendEvent(ctx context.Context, roomID, evType string, content any) (string, error) {
	var resp struct {
		EventID string `json:"event_id"`
	}
	err := c.call(ctx, http.MethodPut, "/_matrix/client/v3/rooms/"+url.PathEscape(roomID)+"/send/"+url.PathEscape(evType)+"/"+strconv.FormatInt(txnSeq.Add(1), 10)+"."+strconv.FormatInt(time.Now().UnixNano(), 36), content, &resp)
	return resp.EventID, err
}

func (c *hsClient) RoomState(ctx context.Context, roomID, evType string) ([]matrixrtc.StateEvent, error) {
	var evs []struct {
		Type     string          `json:"type"`
		StateKey string          `json:"state_key"`
		Sender   string          `json:"sender"`
		TS       int64           `json:"origin_server_ts"`
		Content  json.RawMessage `json:"content"`
	}
	if err := c.call(ctx, http.MethodGet, "/_matrix/client/v3/rooms/"+url.PathEscape(roomID)+"/state", nil, &evs); err != nil {
		return nil, err
	}
	var out []matrixrtc.StateEvent
	for _, e := range evs {
		if evType == "" || e.Type == evType {
			out = append(out, matrixrtc.StateEvent{Type: e.Type, StateKey: e.StateKey, Sender: e.Sender, OriginServerTS: e.TS, Content: e.Content})
		}
	}
	return out, nil
}

func (c *hsClient) OpenIDToken(ctx context.Context) (matrixrtc.OpenIDToken, error) {
	var tok matrixrtc.OpenIDToken
	err := c.call(ctx, http.MethodPost, "/_matrix/client/v3/user/"+url.PathEscape(c.user)+"/openid/request_token", map[string]any{}, &tok)
	return tok, err
}

func (c *hsClient) UserID() string        { return c.user }
func (c *hsClient) DeviceID() string      { return c.device }
func (c *hsClient) HomeserverURL() string { return hsURL }

func register(ctx context.Context, t *testing.T, name string) *hsClient {
	t.Helper()
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	local := name + hex.EncodeToString(suffix)
	var r struct {
		UserID      string `json:"user_id"`
		AccessToken string `json:"access_token"`
		DeviceID    string `json:"device_id"`
	}
	c := &hsClient{}
	if err := c.call(ctx, http.MethodPost, "/_matrix/client/v3/register", map[string]any{
		"username": local, "password": "password-" + local, "device_id": strings.ToUpper(name) + "DEV",
		"auth": map[string]string{"type": "m.login.dummy"},
	}, &r); err != nil {
		t.Fatal(err)
	}
	return &hsClient{user: r.UserID, device: r.DeviceID, token: r.AccessToken}
}

func (c *hsClient) createRoom(ctx context.Context, t *testing.T, powerLevels map[string]any) string {
	t.Helper()
	body := map[string]any{"preset": "public_chat"}
	if powerLevels != nil {
		body["power_level_content_override"] = powerLevels
	}
	var r struct {
		RoomID string `json:"room_id"`
	}
	if err := c.call(ctx, http.MethodPost, "/_matrix/client/v3/createRoom", body, &r); err != nil {
		t.Fatal(err)
	}
	return r.RoomID
}

func (c *hsClient) joinRoom(ctx context.Context, t *testing.T, roomID string) {
	t.Helper()
	if err := c.call(ctx, http.MethodPost, "/_matrix/client/v3/join/"+url.PathEscape(roomID), map[string]any{}, nil); err != nil {
		t.Fatal(err)
	}
}

// TestSFUGetReal trades a real Dendrite OpenID token at the real token
// service, and sees a bad one refused.
func TestSFUGetReal(t *testing.T) {
	ctx := rtctest.Guard(t)
	alice := register(ctx, t, "alice")
	room := alice.createRoom(ctx, t, nil)
	tok, err := alice.OpenIDToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := matrixrtc.SFUGet(ctx, nil, authURL, room, tok, alice.device)
	if err != nil {
		t.Fatal(err)
	}
	if creds.URL != lkURL {
		t.Errorf("url %q, want %q", creds.URL, lkURL)
	}
	v, err := auth.ParseAPIToken(creds.JWT)
	if err != nil {
		t.Fatal(err)
	}
	_, grants, err := v.Verify(apiSecret)
	if err != nil || grants.Identity != alice.user+":"+alice.device || v.APIKey() != apiKey {
		t.Errorf("token: %v identity %q", err, grants.Identity)
	}
	tok.AccessToken = "not-a-token"
	if _, err := matrixrtc.SFUGet(ctx, nil, authURL, room, tok, alice.device); !errors.Is(err, matrixrtc.ErrTokenRefused) {
		t.Errorf("bad token: %v, want ErrTokenRefused", err)
	}
}

// TestSessionPowerLevels: a room whose power levels keep call membership
// events from ordinary users refuses bob's Join with ErrNoPermission.
func TestSessionPowerLevels(t *testing.T) {
	ctx := rtctest.Guard(t)
	alice, bob := register(ctx, t, "alice"), register(ctx, t, "bob")
	room := alice.createRoom(ctx, t, map[string]any{"events": map[string]any{matrixrtc.TypeCallMember: 100}})
	bob.joinRoom(ctx, t, room)
	s, err := matrixrtc.NewSession(matrixrtc.SessionConfig{Matrix: bob, RoomID: room,
		Discovery: matrixrtc.Discovery{Configured: []matrixrtc.Transport{{Type: matrixrtc.TransportLiveKit, ServiceURL: authURL}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Join(ctx); !errors.Is(err, matrixrtc.ErrNoPermission) {
		t.Errorf("Join: %v, want ErrNoPermission", err)
	}
}

// member is a Session plus what it received.
type member struct {
	name string
	mx   *hsClient
	s    *matrixrtc.Session
	tr   *webrtc.TrackLocalStaticSample

	mu       sync.Mutex
	got      map[string]int
	received chan struct{}
	want     string
}

const wantPackets = 25

func newMember(t *testing.T, name string, mx *hsClient, room string, refresh time.Duration) *member {
	t.Helper()
	tr, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "mic-"+name, "stream-"+name)
	if err != nil {
		t.Fatal(err)
	}
	m := &member{name: name, mx: mx, tr: tr, got: map[string]int{}, received: make(chan struct{})}
	s, err := matrixrtc.NewSession(matrixrtc.SessionConfig{
		Matrix: mx, RoomID: room, Intent: "audio", Refresh: refresh, Tracks: []webrtc.TrackLocal{tr},
		Discovery:     matrixrtc.Discovery{Configured: []matrixrtc.Transport{{Type: matrixrtc.TransportLiveKit, ServiceURL: authURL}}},
		OnRemoteTrack: m.onTrack,
	})
	if err != nil {
		t.Fatal(err)
	}
	m.s = s
	t.Cleanup(func() { _ = s.Close() })
	return m
}

func (m *member) onTrack(rt matrixrtc.RemoteTrack) {
	identity := rt.Identity
	rtctest.CountMarked(rt.Track, identity, func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.got[identity]++
		if m.got[m.want] == wantPackets {
			close(m.received)
		}
	})
}

func (m *member) send(ctx context.Context) {
	sendSamples(ctx, m.tr, rtctest.OpusFrame(m.mx.user+":"+m.mx.device), 20*time.Millisecond)
}

// sendSamples writes frame to tr every period, on a goroutine of its own,
// until ctx ends; through reconnections too (a write with the track bound
// to no connection sends nothing and fails nothing, and a failed one is
// not the end).
func sendSamples(ctx context.Context, tr *webrtc.TrackLocalStaticSample, frame []byte, period time.Duration) {
	rtctest.Send(ctx, func(s media.Sample) error { _ = tr.WriteSample(s); return nil }, frame, period)
}

// membership returns user's live call membership in room, if any.
func membership(ctx context.Context, t *testing.T, mx *hsClient, room, user string) (matrixrtc.Membership, bool) {
	t.Helper()
	state, err := mx.RoomState(ctx, room, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range matrixrtc.NewMemberships(room, state, time.Now()).Members {
		if m.Sender == user {
			return m, true
		}
	}
	return matrixrtc.Membership{}, false
}

// TestSessionsExchangeRTP: two sessions join one room's call through the
// whole stack (configured focus, membership events, /sfu/get, LiveKit over
// its TURN) and receive each other's audio packets; the memberships are
// visible while joined, refreshed with created_ts kept, and gone after
// Leave.
func TestSessionsExchangeRTP(t *testing.T) {
	ctx := rtctest.Guard(t)
	alice, bob := register(ctx, t, "alice"), register(ctx, t, "bob")
	room := alice.createRoom(ctx, t, map[string]any{"events": map[string]any{matrixrtc.TypeCallMember: 0}})
	bob.joinRoom(ctx, t, room)
	ma := newMember(t, "alice", alice, room, 2*time.Second)
	mb := newMember(t, "bob", bob, room, 0)
	ma.want, mb.want = bob.user+":"+bob.device, alice.user+":"+alice.device
	for _, m := range []*member{ma, mb} {
		if err := m.s.Join(ctx); err != nil {
			t.Fatalf("%s: Join: %v", m.name, err)
		}
	}
	sendCtx, stop := context.WithCancel(ctx)
	defer stop()
	start := time.Now()
	ma.send(sendCtx)
	mb.send(sendCtx)
	for _, m := range []*member{ma, mb} {
		select {
		case <-m.received:
		case <-ctx.Done():
			m.mu.Lock()
			got := fmt.Sprint(m.got)
			m.mu.Unlock()
			t.Fatalf("%s received only %s, wanted %d packets from %s", m.name, got, wantPackets, m.want)
		}
	}
	t.Logf("both directions: %d packets each %v after joining", wantPackets, time.Since(start).Round(time.Millisecond))

	first, ok := membership(ctx, t, bob, room, alice.user)
	if !ok || first.DeviceID != alice.device {
		t.Fatalf("bob does not see alice's membership: %+v", first)
	}
	if tr, _ := first.PublishTransport(); tr.ServiceURL != authURL || tr.Alias != room {
		t.Errorf("alice's transport %+v", tr)
	}
	// Alice refreshes every 2 s: wait for a refreshed membership event.
	for {
		m, ok := membership(ctx, t, bob, room, alice.user)
		if ok && m.Expires.After(first.Expires) {
			if !m.Created.Equal(first.Created) {
				t.Errorf("refresh moved created_ts from %v to %v", first.Created, m.Created)
			}
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("no membership refresh seen")
		case <-time.After(200 * time.Millisecond):
		}
	}
	if err := ma.s.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := membership(ctx, t, bob, room, alice.user); ok {
		t.Error("alice's membership still live after Leave")
	}
	if err := mb.s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := membership(ctx, t, alice, room, bob.user); ok {
		t.Error("bob's membership still live after Close")
	}
}

// TestSessionRemovedBySFU: when the SFU removes a participant, its session
// ends by itself (OnEnded with ErrDisconnected) and leaves the call.
func TestSessionRemovedBySFU(t *testing.T) {
	ctx := rtctest.Guard(t)
	alice := register(ctx, t, "alice")
	room := alice.createRoom(ctx, t, nil)
	ended := make(chan error, 1)
	tr, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "mic", "s")
	if err != nil {
		t.Fatal(err)
	}
	s, err := matrixrtc.NewSession(matrixrtc.SessionConfig{Matrix: alice, RoomID: room, Tracks: []webrtc.TrackLocal{tr},
		Discovery: matrixrtc.Discovery{Configured: []matrixrtc.Transport{{Type: matrixrtc.TransportLiveKit, ServiceURL: authURL}}},
		OnEnded:   func(err error) { ended <- err }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Join(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := membership(ctx, t, alice, room, alice.user); !ok {
		t.Fatal("no membership after Join")
	}
	rs := lksdk.NewRoomServiceClient(strings.Replace(lkURL, "ws", "http", 1), apiKey, apiSecret)
	if _, err := rs.RemoveParticipant(ctx, &livekit.RoomParticipantIdentity{
		Room: rtcauth.RoomName(room, rtcauth.SlotRoom), Identity: alice.user + ":" + alice.device}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-ended:
		if !errors.Is(err, matrixrtc.ErrDisconnected) {
			t.Errorf("OnEnded(%v), want ErrDisconnected", err)
		}
	case <-ctx.Done():
		t.Fatal("session did not end after the SFU removed it")
	}
	if _, ok := membership(ctx, t, alice, room, alice.user); ok {
		t.Error("membership still live after the SFU removed the session")
	}
	// The session can join again.
	if err := s.Join(ctx); err != nil {
		t.Errorf("rejoin: %v", err)
	}
}

// TestSessionOverMatrixclient: the same join with mxcall's real Matrix
// client (matrixclient, mautrix) as the Matrix: membership sent and seen,
// OpenID token accepted, leave sent.
func TestSessionOverMatrixclient(t *testing.T) {
	ctx := rtctest.Guard(t)
	reg := register(ctx, t, "carol")
	room := reg.createRoom(ctx, t, nil)
	local := strings.TrimPrefix(strings.SplitN(reg.user, ":", 2)[0], "@")
	mc := matrixclient.New(matrixclient.WithKeyring(matrixclient.NewMemoryKeyring()), matrixclient.WithE2EE(false))
	defer mc.Close()
	if err := mc.Login(ctx, reg.user, "password-"+local, hsURL); err != nil {
		t.Fatal(err)
	}
	s, err := matrixrtc.NewSession(matrixrtc.SessionConfig{Matrix: mc, RoomID: room,
		Discovery: matrixrtc.Discovery{Configured: []matrixrtc.Transport{{Type: matrixrtc.TransportLiveKit, ServiceURL: authURL}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Join(ctx); err != nil {
		t.Fatal(err)
	}
	m, ok := membership(ctx, t, reg, room, reg.user)
	if !ok || m.DeviceID != mc.DeviceID() {
		t.Fatalf("membership %+v (%v), want device %s", m, ok, mc.DeviceID())
	}
	if err := s.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := membership(ctx, t, reg, room, reg.user); ok {
		t.Error("membership still live after Leave")
	}
}
