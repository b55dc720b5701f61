//go:build integration

// Integration tests of the MatrixRTC stack: the real Dendrite, the token
// service (cmd/mxcall-rtc-auth) and the LiveKit SFU, started by
// scripts/test-rtc.sh (scripts/homeserver.sh and scripts/rtc.sh) inside a
// loopback-only network namespace. Environment (set by the script):
//
//	MXCALL_HS_URL                  homeserver base URL
//	MXCALL_HS_OPENID_LIFETIME_MS   the homeserver's OpenID token lifetime
//	MXCALL_RTC_AUTH_URL, MXCALL_RTC_LIVEKIT_URL        node 1
//	MXCALL_RTC_AUTH_URL_2, MXCALL_RTC_LIVEKIT_URL_2    node 2 (two-node runs)
//	MXCALL_RTC_API_KEY, MXCALL_RTC_API_SECRET          the SFU's key pair
package rtcauth_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livekit/protocol/auth"
	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/mxcall/mxcall/internal/rtctest"
	"github.com/mxcall/mxcall/rtcauth"
)

var hsURL, authURL, lkURL, apiKey, apiSecret string

func TestMain(m *testing.M) {
	e := rtctest.Setup()
	hsURL, authURL, lkURL, apiKey, apiSecret = e.HS, e.Auth, e.LiveKit, e.APIKey, e.APISecret
	os.Exit(m.Run())
}

func postJSON(ctx context.Context, t *testing.T, u, bearer string, body any, out any) int {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("POST %s: status %d, undecodable body: %v", u, resp.StatusCode, err)
		}
	}
	return resp.StatusCode
}

// user is a registered homeserver user.
type user struct {
	id, device, token string
}

func register(ctx context.Context, t *testing.T, name string) user {
	t.Helper()
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	local := name + hex.EncodeToString(suffix)
	var r struct {
		UserID      string `json:"user_id"`
		AccessToken string `json:"access_token"`
		DeviceID    string `json:"device_id"`
	}
	status := postJSON(ctx, t, hsURL+"/_matrix/client/v3/register", "", map[string]any{
		"username": local, "password": "password-" + local, "device_id": strings.ToUpper(name) + "DEV",
		"auth": map[string]string{"type": "m.login.dummy"},
	}, &r)
	if status != http.StatusOK || r.AccessToken == "" {
		t.Fatalf("register %s: status %d", local, status)
	}
	return user{id: r.UserID, device: r.DeviceID, token: r.AccessToken}
}

func (u user) openID(ctx context.Context, t *testing.T) rtcauth.OpenIDToken {
	t.Helper()
	var tok rtcauth.OpenIDToken
	status := postJSON(ctx, t, hsURL+"/_matrix/client/v3/user/"+url.PathEscape(u.id)+"/openid/request_token", u.token, map[string]any{}, &tok)
	if status != http.StatusOK || tok.AccessToken == "" {
		t.Fatalf("request_token: status %d", status)
	}
	return tok
}

func (u user) createRoom(ctx context.Context, t *testing.T) string {
	t.Helper()
	var r struct {
		RoomID string `json:"room_id"`
	}
	if status := postJSON(ctx, t, hsURL+"/_matrix/client/v3/createRoom", u.token, map[string]any{"preset": "public_chat"}, &r); status != http.StatusOK {
		t.Fatalf("createRoom: status %d", status)
	}
	return r.RoomID
}

type errBody struct {
	Errcode string `json:"errcode"`
}

// sfuGet asks the token service at base for a legacy /sfu/get token.
func sfuGet(ctx context.Context, t *testing.T, base, room string, tok rtcauth.OpenIDToken, device string) (rtcauth.Response, int, string) {
	t.Helper()
	var raw json.RawMessage
	status := postJSON(ctx, t, base+"/sfu/get", "", rtcauth.SFUGetRequest{Room: room, OpenIDToken: tok, DeviceID: device}, &raw)
	return decodeAnswer(t, raw, status)
}

func getToken(ctx context.Context, t *testing.T, base, room string, tok rtcauth.OpenIDToken, member rtcauth.Member) (rtcauth.Response, int, string) {
	t.Helper()
	var raw json.RawMessage
	status := postJSON(ctx, t, base+"/get_token", "", rtcauth.GetTokenRequest{RoomID: room, SlotID: rtcauth.SlotRoom, OpenIDToken: tok, Member: member}, &raw)
	return decodeAnswer(t, raw, status)
}

func decodeAnswer(t *testing.T, raw json.RawMessage, status int) (rtcauth.Response, int, string) {
	t.Helper()
	var ok rtcauth.Response
	var e errBody
	if status == http.StatusOK {
		if err := json.Unmarshal(raw, &ok); err != nil {
			t.Fatal(err)
		}
		return ok, status, ""
	}
	_ = json.Unmarshal(raw, &e)
	return ok, status, e.Errcode
}

// checkGrant verifies a minted token with the SFU's secret.
func checkGrant(t *testing.T, jwt, room, identity string) {
	t.Helper()
	v, err := auth.ParseAPIToken(jwt)
	if err != nil {
		t.Fatal(err)
	}
	if v.APIKey() != apiKey {
		t.Errorf("token signed for key %q, want %q", v.APIKey(), apiKey)
	}
	_, grants, err := v.Verify(apiSecret)
	if err != nil {
		t.Fatalf("token does not verify with the SFU's secret: %v", err)
	}
	g := grants.Video
	if grants.Identity != identity || g == nil || g.Room != room || !g.RoomJoin || g.RoomCreate ||
		!g.GetCanPublish() || !g.GetCanSubscribe() || !g.GetCanPublishData() {
		t.Errorf("grants identity %q video %+v, want identity %q in room %q with join/publish/subscribe", grants.Identity, g, identity, room)
	}
}

// TestTokenService: real OpenID tokens from Dendrite are traded for LiveKit
// tokens on both endpoints; expired, foreign and misattributed tokens are
// refused.
func TestTokenService(t *testing.T) {
	t.Parallel() // the expiry check waits for the token to expire: overlap it with the SFU tests
	ctx := rtctest.Guard(t)
	alice, bob := register(ctx, t, "alice"), register(ctx, t, "bob")
	room := alice.createRoom(ctx, t)
	lkRoom := rtcauth.RoomName(room, rtcauth.SlotRoom)

	t.Run("expired", func(t *testing.T) {
		t.Parallel()
		ms, _ := strconv.Atoi(os.Getenv("MXCALL_HS_OPENID_LIFETIME_MS"))
		if ms <= 0 || ms > 60000 {
			t.Skip("MXCALL_HS_OPENID_LIFETIME_MS is not a short lifetime")
		}
		tok := alice.openID(ctx, t)
		if _, status, code := sfuGet(ctx, t, authURL, room, tok, alice.device); status != 200 {
			t.Fatalf("fresh token: %d %s", status, code)
		}
		time.Sleep(time.Duration(ms)*time.Millisecond + time.Second)
		if _, status, code := sfuGet(ctx, t, authURL, room, tok, alice.device); status != 401 || code != "M_UNAUTHORIZED" {
			t.Errorf("expired token: %d %s, want 401 M_UNAUTHORIZED", status, code)
		}
	})
	t.Run("sfu/get", func(t *testing.T) {
		resp, status, code := sfuGet(ctx, t, authURL, room, alice.openID(ctx, t), alice.device)
		if status != 200 {
			t.Fatalf("status %d %s", status, code)
		}
		if resp.URL != lkURL {
			t.Errorf("url %q, want %q", resp.URL, lkURL)
		}
		checkGrant(t, resp.JWT, lkRoom, alice.id+":"+alice.device)
	})
	t.Run("get_token", func(t *testing.T) {
		member := rtcauth.Member{ID: "member-1", ClaimedUserID: bob.id, ClaimedDeviceID: bob.device}
		resp, status, code := getToken(ctx, t, authURL, room, bob.openID(ctx, t), member)
		if status != 200 {
			t.Fatalf("status %d %s", status, code)
		}
		checkGrant(t, resp.JWT, lkRoom, rtcauth.Identity(bob.id, bob.device, "member-1"))
	})
	t.Run("refused", func(t *testing.T) {
		foreign := alice.openID(ctx, t)
		foreign.MatrixServerName = "evil.example"
		wrongServer := alice.openID(ctx, t)
		wrongServer.MatrixServerName = "127.0.0.1:8008" // a real homeserver, but not on the allow-list
		unknown := alice.openID(ctx, t)
		unknown.AccessToken = "not-a-token"
		tests := []struct {
			name string
			do   func() (int, string)
		}{
			{"foreign homeserver", func() (int, string) { _, s, c := sfuGet(ctx, t, authURL, room, foreign, alice.device); return s, c }},
			{"homeserver not on the list", func() (int, string) {
				_, s, c := sfuGet(ctx, t, authURL, room, wrongServer, alice.device)
				return s, c
			}},
			{"unknown token", func() (int, string) { _, s, c := sfuGet(ctx, t, authURL, room, unknown, alice.device); return s, c }},
			{"alice's token for bob", func() (int, string) {
				_, s, c := getToken(ctx, t, authURL, room, alice.openID(ctx, t),
					rtcauth.Member{ID: "m", ClaimedUserID: bob.id, ClaimedDeviceID: bob.device})
				return s, c
			}},
		}
		for _, tt := range tests {
			if status, code := tt.do(); status != 401 || code != "M_UNAUTHORIZED" {
				t.Errorf("%s: %d %s, want 401 M_UNAUTHORIZED", tt.name, status, code)
			}
		}
	})
}

// participant is one LiveKit client: it publishes an Opus track whose
// packets carry its marker and records the markers it receives.
type participant struct {
	name     string
	identity string
	room     *lksdk.Room

	mu       sync.Mutex
	got      map[string]int // remote identity → packets with that identity's marker
	received chan struct{}  // closed once enough packets from every peer came in
	peers    []string
	closed   bool
}

const wantPackets = 25 // half a second of 20 ms frames

func (p *participant) onTrack(track *webrtc.TrackRemote, _ *lksdk.RemoteTrackPublication, rp *lksdk.RemoteParticipant) {
	rtctest.CountMarked(track, rp.Identity(), func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.got[rp.Identity()]++
		done := !p.closed
		for _, peer := range p.peers {
			done = done && p.got[peer] >= wantPackets
		}
		if done {
			p.closed = true
			close(p.received)
		}
	})
}

func join(t *testing.T, name, url, jwt, identity string) *participant {
	t.Helper()
	p := &participant{name: name, identity: identity, got: map[string]int{}, received: make(chan struct{})}
	cb := lksdk.NewRoomCallback()
	cb.OnTrackSubscribed = p.onTrack
	room, err := lksdk.ConnectToRoomWithToken(url, jwt, cb)
	if err != nil {
		t.Fatalf("%s: connect to %s: %v", name, url, err)
	}
	p.room = room
	t.Cleanup(room.Disconnect)
	return p
}

// publish sends Opus frames carrying p's marker until ctx ends (see
// rtctest.OpusFrame).
func (p *participant) publish(ctx context.Context, t *testing.T) {
	t.Helper()
	track, err := lksdk.NewLocalSampleTrack(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.room.LocalParticipant.PublishTrack(track, &lksdk.TrackPublicationOptions{Name: "mic", Source: livekit.TrackSource_MICROPHONE}); err != nil {
		t.Fatalf("%s: publish: %v", p.name, err)
	}
	rtctest.Send(ctx, func(s media.Sample) error { return track.WriteSample(s, nil) }, rtctest.OpusFrame(p.identity), 20*time.Millisecond)
}

// exchange joins two participants, each with its own token service and SFU
// node, and checks that each sees the other and receives the other's audio.
// It returns the SFU URL Bob was given.
func exchange(t *testing.T, authA, authB string) string {
	t.Helper()
	ctx := rtctest.Guard(t)
	alice, bob := register(ctx, t, "alice"), register(ctx, t, "bob")
	room := alice.createRoom(ctx, t)
	// Alice uses the legacy endpoint, Bob the MSC4195 one: both must land in the same LiveKit room.
	ra, status, code := sfuGet(ctx, t, authA, room, alice.openID(ctx, t), alice.device)
	if status != 200 {
		t.Fatalf("alice: /sfu/get %d %s", status, code)
	}
	rb, status, code := getToken(ctx, t, authB, room, bob.openID(ctx, t),
		rtcauth.Member{ID: "bob-member", ClaimedUserID: bob.id, ClaimedDeviceID: bob.device})
	if status != 200 {
		t.Fatalf("bob: /get_token %d %s", status, code)
	}
	aliceID, bobID := alice.id+":"+alice.device, rtcauth.Identity(bob.id, bob.device, "bob-member")

	pa := join(t, "alice", ra.URL, ra.JWT, aliceID)
	pb := join(t, "bob", rb.URL, rb.JWT, bobID)
	pa.peers, pb.peers = []string{bobID}, []string{aliceID}
	if pa.room.Name() != pb.room.Name() || pa.room.Name() != rtcauth.RoomName(room, rtcauth.SlotRoom) {
		t.Fatalf("rooms %q and %q, want both %q", pa.room.Name(), pb.room.Name(), rtcauth.RoomName(room, rtcauth.SlotRoom))
	}
	sendCtx, stop := context.WithCancel(ctx)
	defer stop()
	start := time.Now()
	pa.publish(sendCtx, t)
	pb.publish(sendCtx, t)
	for _, p := range []*participant{pa, pb} {
		select {
		case <-p.received:
		case <-ctx.Done():
			p.mu.Lock()
			got := fmt.Sprint(p.got)
			p.mu.Unlock()
			t.Fatalf("%s received only %s (wanted %d packets from each of %v)", p.name, got, wantPackets, p.peers)
		}
	}
	t.Logf("both directions: %d packets each after %v (alice on %s, bob on %s)", wantPackets, time.Since(start).Round(time.Millisecond), ra.URL, rb.URL)
	for _, c := range []struct {
		p    *participant
		peer string
	}{{pa, bobID}, {pb, aliceID}} {
		if c.p.room.GetParticipantByIdentity(c.peer) == nil {
			t.Errorf("%s does not list %s as a participant", c.p.name, c.peer)
		}
	}
	return rb.URL
}

// TestSFU: two participants on one SFU hear each other.
func TestSFU(t *testing.T) {
	t.Parallel()
	if rb := exchange(t, authURL, authURL); rb != lkURL {
		t.Errorf("bob was sent to %s, want %s", rb, lkURL)
	}
}

// TestSFUTwoNodes: two participants connected to two SFU nodes that share
// Redis hear each other.
func TestSFUTwoNodes(t *testing.T) {
	auth2 := os.Getenv("MXCALL_RTC_AUTH_URL_2")
	if auth2 == "" {
		t.Skip("one SFU node only (MXCALL_RTC_NODES=2 starts two)")
	}
	rb := exchange(t, authURL, auth2)
	if want := os.Getenv("MXCALL_RTC_LIVEKIT_URL_2"); rb != want {
		t.Errorf("bob was sent to %s, want node 2 at %s", rb, want)
	}
}
