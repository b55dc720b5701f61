package rtcauth

import (
	"encoding/json"
	"errors"
	"testing"
	"unicode/utf8"
)

// FuzzParseRequest feeds arbitrary bodies to both request parsers: they
// never panic, fail only with the sentinel errors, and whatever they accept
// has every required field and hashes to a LiveKit room and identity.
func FuzzParseRequest(f *testing.F) {
	f.Add([]byte(sfuGet("!r:hs.test", "alice-token", "hs.test", "D")))
	f.Add([]byte(getToken("!r:hs.test", "m.call#ROOM", "t", "hs.test:8448", "m1", "@a:hs.test", "D")))
	f.Add([]byte(`{"room":"!r","openid_token":{"access_token":"a","matrix_server_name":"[::1]:1","expires_in":1e3},"device_id":"D","delay_timeout":5}`))
	f.Add([]byte(`{"room":5}`))
	f.Add([]byte(`{} {}`))
	f.Add([]byte("\xff"))
	f.Fuzz(func(t *testing.T, body []byte) {
		check := func(err error) {
			if err != nil && !errors.Is(err, ErrNotJSON) && !errors.Is(err, ErrBadJSON) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("unexpected error %v", err)
			}
		}
		s, err := ParseSFUGetRequest(body)
		check(err)
		if err == nil {
			if s.Room == "" || s.DeviceID == "" || s.OpenIDToken.AccessToken == "" || !ValidServerName(s.OpenIDToken.MatrixServerName) {
				t.Fatalf("accepted an incomplete /sfu/get request %+v", s)
			}
			if RoomName(s.Room, SlotRoom) == "" {
				t.Fatal("empty room name")
			}
		}
		g, err := ParseGetTokenRequest(body)
		check(err)
		if err == nil {
			if g.RoomID == "" || g.SlotID == "" || g.Member.ID == "" || g.Member.ClaimedUserID == "" || g.Member.ClaimedDeviceID == "" {
				t.Fatalf("accepted an incomplete /get_token request %+v", g)
			}
			parts := []string{g.Member.ClaimedUserID, g.Member.ClaimedDeviceID, g.Member.ID}
			enc := canonicalStringArray(parts)
			var back []string
			if err := json.Unmarshal([]byte(enc), &back); err != nil {
				t.Fatalf("canonical %q does not decode: %v", enc, err)
			}
			for i := range parts {
				if utf8.ValidString(parts[i]) && back[i] != parts[i] {
					t.Fatalf("canonical %q decodes to %q, want %q", enc, back[i], parts[i])
				}
			}
			if Identity(parts[0], parts[1], parts[2]) == "" {
				t.Fatal("empty identity")
			}
		}
	})
}
