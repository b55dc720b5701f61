package ui_test

import (
	"slices"
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"

	"github.com/mxcall/mxcall/ui"
	"github.com/mxcall/mxcall/ui/fake"
)

func newVerifyEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, true, func(b *fake.Backend) { b.Verifier = true })
}

func verifyView(t *testing.T, e *env, id string) *ui.VerifyView {
	t.Helper()
	v, ok := e.ui.Verification(id)
	if !ok {
		t.Fatalf("no dialog for verification %s", id)
	}
	return v
}

// Bob asks; we accept, compare the emoji and confirm.
func TestVerifyIncomingEmoji(t *testing.T) {
	e := newVerifyEnv(t)
	e.be.PushVerification(ui.Verification{ID: "t1", Peer: bob.Peer, Incoming: true, State: ui.VerifyRequested})
	v := verifyView(t, e, "t1")
	if v.Accept == nil || v.Confirm != nil {
		t.Fatalf("request shows accept %v confirm %v", v.Accept, v.Confirm)
	}
	if got := v.Verification().PeerName; got != "Bob" {
		t.Fatalf("peer name %q, want Bob (from the DM)", got)
	}
	test.Tap(v.Accept)
	if v.Confirm == nil || v.Mismatch == nil || v.Cancel == nil || len(v.Verification().Emoji) != 7 {
		t.Fatalf("after accept: %+v", v.Verification())
	}
	e.assertScreen("verify_emoji", e.ui.Window().Canvas())
	test.Tap(v.Confirm)
	if v.Verification().State != ui.VerifyDone || v.Close == nil {
		t.Fatalf("after confirm: %+v", v.Verification())
	}
	test.Tap(v.Close)
	if _, ok := e.ui.Verification("t1"); ok {
		t.Fatal("dialog still open after Close")
	}
	want := []string{"verify-accept t1", "verify-confirm t1"}
	if got := verifyActions(e); !slices.Equal(got, want) {
		t.Fatalf("actions %q, want %q", got, want)
	}
}

// When Bob has confirmed first, the dialog says so above the buttons.
func TestVerifyTheyConfirmedFirst(t *testing.T) {
	e := newVerifyEnv(t)
	e.be.PushVerification(ui.Verification{ID: "t1", Peer: bob.Peer, Incoming: true, State: ui.VerifyRequested})
	v := verifyView(t, e, "t1")
	test.Tap(v.Accept)
	shown := v.Verification()
	if shown.State != ui.VerifyShowSAS {
		t.Fatalf("after accept: %+v", shown)
	}
	const says = "Bob says the emoji match."
	if hasLabel(e.ui.Window().Canvas().Content(), says) || hasOverlayLabel(e, says) {
		t.Fatal("says Bob confirmed before he did")
	}
	shown.TheyConfirmed = true
	e.be.PushVerification(shown)
	if !hasOverlayLabel(e, says) {
		t.Fatalf("no %q once Bob confirmed", says)
	}
	if v.Confirm == nil || v.Mismatch == nil {
		t.Fatal("no Confirm / They don't match once Bob confirmed")
	}
	e.assertScreen("verify_they_confirmed", e.ui.Window().Canvas())
}

// hasOverlayLabel reports whether a dialog over the main window shows a
// label starting with text.
func hasOverlayLabel(e *env, text string) bool {
	for _, o := range e.ui.Window().Canvas().Overlays().List() {
		if hasLabel(o, text) {
			return true
		}
	}
	return false
}

func verifyActions(e *env) []string {
	var out []string
	for _, a := range e.be.Actions() {
		if strings.HasPrefix(a, "verify") {
			out = append(out, a)
		}
	}
	return out
}

// "They don't match" cancels as a mismatch and says nothing was verified.
func TestVerifyMismatch(t *testing.T) {
	e := newVerifyEnv(t)
	e.be.PushVerification(ui.Verification{ID: "t2", Peer: bob.Peer, State: ui.VerifyShowSAS, Emoji: fake.SampleEmoji})
	v := verifyView(t, e, "t2")
	test.Tap(v.Mismatch)
	got := v.Verification()
	if got.State != ui.VerifyCancelled || !got.Mismatch || v.Close == nil || v.Confirm != nil {
		t.Fatalf("after mismatch: %+v", got)
	}
	if a := verifyActions(e); !slices.Equal(a, []string{"verify-cancel mismatch=true t2"}) {
		t.Fatalf("actions %q", a)
	}
}

// The room list offers Verify for a DM whose peer has unverified devices
// (Bob), not for a verified one (Alice); it opens a waiting dialog.
func TestVerifyFromRoomList(t *testing.T) {
	e := newVerifyEnv(t)
	test.AssertRendersToMarkup(t, "rooms_verify.xml", e.ui.Window().Canvas())
	e.ui.VerifyRoom(bob)
	if a := verifyActions(e); !slices.Equal(a, []string{"verify !b:example.org @bob:example.org"}) {
		t.Fatalf("actions %q", a)
	}
	v := verifyView(t, e, "v1")
	if v.Verification().State != ui.VerifyWaiting || v.Cancel == nil {
		t.Fatalf("waiting dialog: %+v", v.Verification())
	}
	test.Tap(v.Cancel)
	if v.Verification().State != ui.VerifyCancelled {
		t.Fatalf("after cancel: %+v", v.Verification())
	}
}

// Without a Verify backend the room list has no Verify button (the
// existing rooms golden stays as it was) and nothing opens.
func TestNoVerifyWithoutBackend(t *testing.T) {
	e := newEnv(t, true)
	e.ui.VerifyRoom(bob)
	if a := verifyActions(e); len(a) != 0 {
		t.Fatalf("actions %q", a)
	}
}
