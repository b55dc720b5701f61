package callengine

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

const testSDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"

func TestParseContent(t *testing.T) {
	long := strings.Repeat("a", 256)
	tests := []struct {
		name, typ, raw string
		want           error
		check          func(t *testing.T, c Content)
	}{
		{"invite v1", EventInvite, `{"call_id":"c1","party_id":"PARTY123","version":"1","lifetime":60000,"invitee":"@b:x","offer":{"type":"offer","sdp":"v=0"}}`, nil,
			func(t *testing.T, c Content) {
				t.Helper()
				inv := c.(*Invite)
				if inv.Version != Version1 || inv.Lifetime != 60000 || inv.Invitee != "@b:x" {
					t.Errorf("%+v", inv)
				}
			}},
		{"invite numeric v0, no party", EventInvite, `{"call_id":"c1","version":0,"lifetime":60000,"offer":{"type":"offer","sdp":"v=0"}}`, nil,
			func(t *testing.T, c Content) {
				t.Helper()
				if c.(*Invite).Version != Version0 {
					t.Error("not v0")
				}
			}},
		{"version other value is v1", EventHangup, `{"call_id":"c1","party_id":"p1234567","version":"2"}`, nil,
			func(t *testing.T, c Content) {
				t.Helper()
				if c.(*Hangup).Version != Version1 {
					t.Error("not v1")
				}
			}},
		{"numeric version 1 is v1", EventHangup, `{"call_id":"c1","party_id":"p1234567","version":1}`, nil, wantVersion(Version1)},
		{"string version 0 is v1", EventHangup, `{"call_id":"c1","party_id":"p1234567","version":"0"}`, nil, wantVersion(Version1)},
		{"non-integer version is v1", EventHangup, `{"call_id":"c1","party_id":"p1234567","version":"1.1-experimental"}`, nil, wantVersion(Version1)},
		{"numeric version 0.0 is v0", EventHangup, `{"call_id":"c1","version":0.0}`, nil, wantVersion(Version0)},
		{"numeric version -0 is v0", EventHangup, `{"call_id":"c1","version":-0}`, nil, wantVersion(Version0)},
		{"numeric version 1e-3 is v1", EventHangup, `{"call_id":"c1","party_id":"p1234567","version":1e-3}`, nil, wantVersion(Version1)},
		{"numeric version 0e9 is v0", EventHangup, `{"call_id":"c1","version":0e9}`, nil, wantVersion(Version0)},
		{"version object", EventInvite, `{"call_id":"c1","party_id":"p1234567","version":{"v":"1"},"lifetime":60000,"offer":{"type":"offer","sdp":"v=0"}}`, ErrMalformedEvent, nil},
		{"version null", EventInvite, `{"call_id":"c1","party_id":"p1234567","version":null,"lifetime":60000,"offer":{"type":"offer","sdp":"v=0"}}`, ErrMalformedEvent, nil},
		{"version array", EventInvite, `{"call_id":"c1","party_id":"p1234567","version":["1"],"lifetime":60000,"offer":{"type":"offer","sdp":"v=0"}}`, ErrMalformedEvent, nil},
		{"version boolean", EventHangup, `{"call_id":"c1","party_id":"p1234567","version":true}`, ErrMalformedEvent, nil},
		{"version missing", EventInvite, `{"call_id":"c1","party_id":"p1234567","lifetime":60000,"offer":{"type":"offer","sdp":"v=0"}}`, ErrMalformedEvent, nil},
		{"version missing, v0-style", EventHangup, `{"call_id":"c1"}`, ErrMalformedEvent, nil},
		{"unstable metadata", EventAnswer, `{"call_id":"c1","party_id":"p1234567","version":"1","answer":{"type":"answer","sdp":"v=0"},"org.matrix.msc3077.sdp_stream_metadata":{"s1":{"purpose":"m.usermedia","audio_muted":true}}}`, nil,
			func(t *testing.T, c Content) {
				t.Helper()
				if m := c.(*Answer).StreamMetadata["s1"]; !m.AudioMuted || m.Purpose != PurposeUserMedia {
					t.Errorf("%+v", m)
				}
			}},
		{"end of candidates", EventCandidates, `{"call_id":"c1","party_id":"p1234567","version":"1","candidates":[{"candidate":"","sdpMid":"0"}]}`, nil,
			func(t *testing.T, c Content) {
				t.Helper()
				if cs := c.(*Candidates).Candidates; len(cs) != 1 || cs[0].Candidate != "" {
					t.Errorf("%+v", cs)
				}
			}},
		{"lifetime clamped", EventInvite, `{"call_id":"c1","party_id":"p1234567","version":"1","lifetime":9007199254740991,"offer":{"type":"offer","sdp":"v=0"}}`, nil,
			func(t *testing.T, c Content) {
				t.Helper()
				if c.(*Invite).Lifetime != MaxLifetime {
					t.Error("not clamped")
				}
			}},
		{"lifetime string", EventInvite, `{"call_id":"c1","party_id":"p1234567","version":"1","lifetime":"sixty","offer":{"type":"offer","sdp":"v=0"}}`, ErrMalformedEvent, nil},
		{"lifetime zero", EventInvite, `{"call_id":"c1","party_id":"p1234567","version":"1","lifetime":0,"offer":{"type":"offer","sdp":"v=0"}}`, ErrMalformedEvent, nil},
		{"offer wrong type", EventInvite, `{"call_id":"c1","party_id":"p1234567","version":"1","lifetime":1,"offer":{"type":"answer","sdp":"v=0"}}`, ErrMalformedEvent, nil},
		{"empty sdp", EventAnswer, `{"call_id":"c1","party_id":"p1234567","version":"1","answer":{"type":"answer","sdp":""}}`, ErrMalformedEvent, nil},
		{"bad call id", EventHangup, `{"call_id":"c 1","party_id":"p1234567","version":"1"}`, ErrInvalidID, nil},
		{"missing call id", EventHangup, `{"party_id":"p1234567","version":"1"}`, ErrInvalidID, nil},
		{"long party id", EventHangup, `{"call_id":"c1","party_id":"` + long + `","version":"1"}`, ErrInvalidID, nil},
		{"bad selected party", EventSelectAnswer, `{"call_id":"c1","party_id":"p1234567","version":"1","selected_party_id":"a/b"}`, ErrInvalidID, nil},
		{"not an object", EventReject, `[1,2]`, ErrMalformedEvent, nil},
		{"unknown type", "m.call.frobnicate", `{}`, ErrUnknownEventType, nil},
		{"huge content", EventInvite, `{"x":"` + strings.Repeat("x", MaxContentBytes) + `"}`, ErrTooLarge, nil},
		{"too many candidates", EventCandidates, `{"call_id":"c1","party_id":"p1234567","version":"1","candidates":[` + strings.Repeat(`{"candidate":"a"},`, MaxCandidates) + `{"candidate":"a"}]}`, ErrTooLarge, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseContent(tc.typ, []byte(tc.raw))
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("err = %v, want %v", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

// wantVersion checks a parsed content's version.
func wantVersion(want Version) func(t *testing.T, c Content) {
	return func(t *testing.T, c Content) {
		t.Helper()
		if got := c.base().Version; got != want {
			t.Errorf("version %d, want %d", got, want)
		}
	}
}

func TestOutgoingWireFormat(t *testing.T) {
	meta := map[string]StreamMetadata{"s": {Purpose: PurposeUserMedia}}
	b, err := json.Marshal(&Invite{Base: Base{CallID: "c", PartyID: "p", Version: Version1}, Offer: SessionDescription{"offer", "v=0"},
		Lifetime: 90000, Invitee: "@b:x", StreamMetadata: meta, UnstableStreamMetadata: meta})
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{`"version":"1"`, `"party_id":"p"`, `"invitee":"@b:x"`, `"lifetime":90000`, `"sdp_stream_metadata"`, `"org.matrix.msc3077.sdp_stream_metadata"`} {
		if !strings.Contains(s, want) {
			t.Errorf("invite %s lacks %s", s, want)
		}
	}
	b, _ = json.Marshal(&Candidates{Base: Base{CallID: "c", PartyID: "p", Version: Version1}, Candidates: []Candidate{{Candidate: ""}}})
	if !strings.Contains(string(b), `"candidates":[{"candidate":""}]`) {
		t.Errorf("end-of-candidates: %s", b)
	}
}

func TestTransitionTable(t *testing.T) {
	outgoing := []State{StateUnknown, StateGathering, StateInviteSent, StateConnecting, StateConnected, StateEnded}
	incoming := []State{StateUnknown, StateRinging, StateAnswering, StateConnecting, StateConnected, StateEnded}
	for _, path := range [][]State{outgoing, incoming} {
		for i := 1; i < len(path); i++ {
			if !CanTransition(path[i-1], path[i]) {
				t.Errorf("%s → %s refused", path[i-1], path[i])
			}
		}
	}
	for s := StateGathering; s < StateEnded; s++ {
		if !CanTransition(s, StateEnded) {
			t.Errorf("%s cannot end", s)
		}
		if s.String() == "unknown" {
			t.Errorf("state %d has no name", s)
		}
	}
	for _, bad := range [][2]State{{StateEnded, StateConnected}, {StateRinging, StateConnected}, {StateInviteSent, StateRinging}, {StateGathering, StateConnected}} {
		if CanTransition(bad[0], bad[1]) {
			t.Errorf("%s → %s allowed", bad[0], bad[1])
		}
	}
	if State(99).String() != "unknown" || StateConnected.String() != "connected" {
		t.Error("String")
	}
}

func FuzzParseContent(f *testing.F) {
	seeds := []string{
		`{"call_id":"c1","party_id":"PARTY123","version":"1","lifetime":60000,"invitee":"@b:x","offer":{"type":"offer","sdp":"v=0"},"sdp_stream_metadata":{"s":{"purpose":"m.usermedia"}}}`,
		`{"call_id":"c1","party_id":"p1234567","version":"1","candidates":[{"candidate":"candidate:1 1 udp 1 127.0.0.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0},{"candidate":""}]}`,
		`{"call_id":"c1","version":0,"answer":{"type":"answer","sdp":"v=0"}}`,
		`{"call_id":"c1","party_id":"p1234567","version":"1","selected_party_id":"p2"}`,
		`{"call_id":"c1","party_id":"p1234567","version":"1","description":{"type":"offer","sdp":"v=0"},"lifetime":1}`,
		`{"call_id":"c1","party_id":"p1234567","version":"1","reason":"ice_failed"}`,
		`{"call_id":"c1","party_id":"p1234567","version":"1","org.matrix.msc3077.sdp_stream_metadata":{}}`,
		`{"call_id":"c1","party_id":"p1234567","version":{"v":1},"lifetime":60000,"offer":{"type":"offer","sdp":"v=0"}}`,
		`{"call_id":"c1","party_id":"p1234567","version":null,"lifetime":60000,"offer":{"type":"offer","sdp":"v=0"}}`,
		`{"call_id":"c1","party_id":"p1234567","version":[0],"reason":"user_hangup"}`,
		`{"call_id":"c1","party_id":"p1234567","version":false}`,
		`{"call_id":"c1","party_id":"p1234567","lifetime":60000,"offer":{"type":"offer","sdp":"v=0"}}`,
		`{"call_id":"c1","version":-0.0e+1,"answer":{"type":"answer","sdp":"v=0"}}`,
		`{"call_id":"c1","party_id":"p1234567","version":"0","reason":"user_busy"}`,
	}
	types := []string{EventInvite, EventCandidates, EventAnswer, EventSelectAnswer, EventReject, EventNegotiate, EventSDPStreamMetadataChanged, EventHangup}
	for i, s := range seeds {
		f.Add(uint8(i), []byte(s))
	}
	f.Fuzz(func(t *testing.T, typ uint8, raw []byte) {
		c, err := ParseContent(types[int(typ)%len(types)], raw)
		if err != nil {
			if c != nil {
				t.Fatal("content with error")
			}
			return
		}
		b := c.base()
		if !ValidID(b.CallID) || (b.PartyID != "" && !ValidID(b.PartyID)) {
			t.Fatalf("invalid IDs accepted: %q %q", b.CallID, b.PartyID)
		}
		if b.Version != Version0 && b.Version != Version1 {
			t.Fatalf("accepted content with version %d", b.Version)
		}
		if _, err := json.Marshal(c); err != nil {
			t.Fatalf("accepted content does not marshal: %v", err)
		}
	})
}

func BenchmarkParseInvite(b *testing.B) {
	sdp := strings.Repeat("a=candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host\r\n", 8) + testSDP + strings.Repeat("a=rtpmap:96 VP8/90000\r\n", 40)
	raw, _ := json.Marshal(&Invite{Base: Base{CallID: "c1234567890", PartyID: "PARTY12345", Version: Version1},
		Offer: SessionDescription{"offer", sdp}, Lifetime: 90000, Invitee: "@bob:example.org",
		StreamMetadata: map[string]StreamMetadata{"stream": {Purpose: PurposeUserMedia}}})
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := ParseContent(EventInvite, raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseCandidates(b *testing.B) {
	raw := []byte(`{"call_id":"c1","party_id":"p1234567","version":"1","candidates":[{"candidate":"candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host","sdpMid":"0","sdpMLineIndex":0},{"candidate":"candidate:2 1 udp 1694498815 203.0.113.1 50001 typ srflx raddr 0.0.0.0 rport 0","sdpMid":"0","sdpMLineIndex":0},{"candidate":""}]}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseContent(EventCandidates, raw); err != nil {
			b.Fatal(err)
		}
	}
}

func TestTrackPurpose(t *testing.T) {
	c := &Call{}
	for _, tc := range []struct {
		meta   map[string]StreamMetadata
		stream string
		want   string
		keep   bool
	}{
		{nil, "first", PurposeUserMedia, true},
		{nil, "second", "", false}, // no metadata: only the first stream
		{nil, "", PurposeUserMedia, true},
		{map[string]StreamMetadata{"s": {Purpose: PurposeScreenshare}}, "s", PurposeScreenshare, true},
		{map[string]StreamMetadata{"s": {Purpose: "m.hologram"}}, "s", "", false},
		{map[string]StreamMetadata{"s": {Purpose: PurposeUserMedia}}, "other", "", false},
	} {
		c.remoteMeta = tc.meta
		got, keep := c.trackPurpose(tc.stream)
		if keep != tc.keep || (keep && got != tc.want) {
			t.Errorf("meta %v stream %q: got %q %v, want %q %v", tc.meta, tc.stream, got, keep, tc.want, tc.keep)
		}
	}
}
