package rtcauth

import (
	"encoding/json"
	"testing"
)

func TestNames(t *testing.T) {
	tests := []struct {
		name, got, want string
	}{
		// The MSC4195 test vector that matrix-js-sdk's computeRtcIdentityRaw is tested with.
		{"identity vector", Identity("@alice:example.com", "DEVICE123", "memberABC"), "J+T45tGruxc+HrUOqJJlyQSV33m728Cme4+vt8/SWrU"},
		// printf '%s' '["!room:example.org","m.call#ROOM"]' | openssl dgst -sha256 -binary | base64 | tr -d =
		{"room of a room-wide call", RoomName("!room:example.org", SlotRoom), "TK4o8wNCXi5t5936bOvIzE/X3XFc7cgp3jGRDqK0j5E"},
		{"legacy identity", LegacyIdentity("@alice:example.org", "ALICEDEV"), "@alice:example.org:ALICEDEV"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
	}
	if RoomName("!a:b", "m.call#ROOM") == RoomName("!a:b", "m.call#other") {
		t.Error("two slots of one room share a LiveKit room")
	}
}

func TestCanonicalStringArray(t *testing.T) {
	tests := []struct {
		in   []string
		want string
	}{
		{[]string{}, `[]`},
		{[]string{"a", ""}, `["a",""]`},
		{[]string{`q"b\s`}, `["q\"b\\s"]`},
		{[]string{"\b\f\n\r\t\x01\x1f"}, `["\b\f\n\r\t\u0001\u001f"]`},
		// Not escaped, unlike Go's encoding/json: <, >, &, U+2028, non-ASCII.
		{[]string{"<&>\u2028é😀/"}, "[\"<&>\u2028é😀/\"]"},
	}
	for _, tt := range tests {
		got := canonicalStringArray(tt.in)
		if got != tt.want {
			t.Errorf("canonicalStringArray(%q) = %s, want %s", tt.in, got, tt.want)
		}
		var back []string
		if err := json.Unmarshal([]byte(got), &back); err != nil || len(back) != len(tt.in) {
			t.Errorf("%s does not decode back: %v", got, err)
		}
	}
}
