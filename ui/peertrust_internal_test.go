package ui

import "testing"

func TestPeerWarningText(t *testing.T) {
	for _, tc := range []struct {
		name string
		pt   PeerTrust
		want string
	}{
		{"nothing known", PeerTrust{}, ""},
		{"all verified", PeerTrust{Verified: 2}, ""},
		{"one new device", PeerTrust{Verified: 1, Unverified: []string{"B"}}, "Bob has a new device that is not verified"},
		{"two new devices", PeerTrust{Verified: 1, Unverified: []string{"B", "C"}}, "Bob has 2 new devices that are not verified"},
		{"never verified, one", PeerTrust{Unverified: []string{"A"}}, "Bob's device is not verified"},
		{"never verified, two", PeerTrust{Unverified: []string{"A", "B"}}, "Bob's devices are not verified"},
		{"identity changed", PeerTrust{Unverified: []string{"A"}, IdentityChanged: true}, "Bob's identity has changed: their new keys are not verified"},
		{"identity changed, devices verified", PeerTrust{Verified: 1, IdentityChanged: true}, "Bob's identity has changed: their new keys are not verified"},
	} {
		if got := peerWarningText("Bob", tc.pt); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
