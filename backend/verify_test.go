package backend

import (
	"testing"

	"github.com/mxcall/mxcall/matrixclient"
	"github.com/mxcall/mxcall/ui"
)

func TestUIVerification(t *testing.T) {
	for _, tc := range []struct {
		in   matrixclient.VerifyState
		want ui.VerifyState
	}{
		{matrixclient.VerifyUnknown, ui.VerifyUnknown},
		{matrixclient.VerifyRequested, ui.VerifyRequested},
		{matrixclient.VerifyWaiting, ui.VerifyWaiting},
		{matrixclient.VerifyReady, ui.VerifyReady},
		{matrixclient.VerifyShowSAS, ui.VerifyShowSAS},
		{matrixclient.VerifyConfirmed, ui.VerifyConfirmed},
		{matrixclient.VerifyDone, ui.VerifyDone},
		{matrixclient.VerifyCancelled, ui.VerifyCancelled},
	} {
		if got := uiVerifyState(tc.in); got != tc.want || got.String() != tc.in.String() {
			t.Errorf("%v → %v, want %v", tc.in, got, tc.want)
		}
	}
	v := uiVerification(matrixclient.Verification{ID: "x", Peer: "@bob:hs", State: matrixclient.VerifyCancelled,
		CancelCode: "m.mismatched_sas", Emoji: []matrixclient.SASEmoji{{Emoji: "🐶", Name: "Dog"}}})
	if !v.Mismatch || len(v.Emoji) != 1 || v.Emoji[0].Name != "Dog" || v.Peer != "@bob:hs" {
		t.Fatalf("%+v", v)
	}
}

func TestTrustForget(t *testing.T) {
	c := newTrustCache(nil, nil)
	defer c.close()
	c.known["@bob:hs"] = trustEntry{trust: ui.TrustUnverified, at: c.now()}
	c.forget("@bob:hs")
	if got := c.get("@bob:hs"); got != ui.TrustUnknown {
		t.Fatalf("after forget: %v", got)
	}
}
