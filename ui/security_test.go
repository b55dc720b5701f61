package ui_test

import (
	"slices"
	"strings"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/mxcall/mxcall/callengine"
	"github.com/mxcall/mxcall/ui"
	"github.com/mxcall/mxcall/ui/fake"
)

func newSecurityEnv(t *testing.T, loggedIn bool, st ui.CrossSigningStatus) *env {
	t.Helper()
	return newEnvWith(t, loggedIn, func(b *fake.Backend) {
		b.Verifier, b.Securer = true, true
		b.SetCrossSigning(st)
	})
}

func securityDialog(t *testing.T, e *env) *ui.SecurityView {
	t.Helper()
	v, ok := e.ui.SecurityDialog()
	if !ok {
		t.Fatal("no cross-signing dialog")
	}
	return v
}

func securityActions(e *env) []string {
	var out []string
	for _, a := range e.be.Actions() {
		if strings.HasPrefix(a, "cross-signing") {
			out = append(out, a)
		}
	}
	return out
}

// Settings offers the set-up; a wrong password says so; the recovery key
// is shown once, copied, and Done waits for "I have saved it".
func TestCrossSigningSetUp(t *testing.T) {
	e := newSecurityEnv(t, true, ui.CrossSigningStatus{})
	e.ui.ShowSettings()
	s := e.ui.Settings()
	if !s.Security.Visible() {
		t.Fatal("no encryption row in the settings")
	}
	test.Tap(findButton(t, s.Security, "Set up cross-signing"))
	v := securityDialog(t, e)
	if v.Step() != ui.StepPassword || v.Password == nil {
		t.Fatalf("step %v", v.Step())
	}
	test.Type(v.Password, "wrong")
	test.Tap(v.SetUp)
	if v.Step() != ui.StepPassword || !v.Error.Visible() || v.Error.Text != "Wrong password." {
		t.Fatalf("wrong password: step %v error %q", v.Step(), v.Error.Text)
	}
	v.Password.SetText("secret")
	test.Tap(v.SetUp)
	if v.Step() != ui.StepRecoveryKey || strings.Join(strings.Fields(v.Key.Text), " ") != fake.SampleRecoveryKey {
		t.Fatalf("after set-up: step %v key %v", v.Step(), v.Key)
	}
	if !v.Done.Disabled() {
		t.Fatal("Done enabled before the key was saved")
	}
	test.Tap(v.Copy)
	if got := e.app.Clipboard().Content(); got != fake.SampleRecoveryKey {
		t.Fatalf("clipboard %q", got)
	}
	test.Tap(v.Saved)
	if v.Done.Disabled() {
		t.Fatal("Done still disabled after 'I have saved it'")
	}
	e.assertScreen("crosssign_key", e.ui.Window().Canvas())
	test.Tap(v.Done)
	if _, ok := e.ui.SecurityDialog(); ok {
		t.Fatal("dialog still open after Done")
	}
	if v.Key.Text != "" {
		t.Fatal("the recovery key stays in the closed dialog")
	}
	if hasButton(s.Security, "Set up cross-signing") {
		t.Fatal("settings still offer the set-up")
	}
	if want := []string{"cross-signing set-up", "cross-signing set-up"}; !slices.Equal(securityActions(e), want) {
		t.Fatalf("actions %q, want %q", securityActions(e), want)
	}
}

// A wrong (or empty) recovery key is an error in the dialog, which stays
// open for another try; the right one verifies this device.
func TestRecoveryKeyFromSettings(t *testing.T) {
	e := newSecurityEnv(t, true, ui.CrossSigningStatus{Published: true})
	e.ui.ShowSettings()
	s := e.ui.Settings()
	e.assertScreen("settings_security", e.ui.Window().Canvas())
	test.Tap(findButton(t, s.Security, "Verify with recovery key"))
	v := securityDialog(t, e)
	if v.Step() != ui.StepUnlock {
		t.Fatalf("step %v", v.Step())
	}
	test.Tap(v.Unlock)
	if !v.Error.Visible() || len(securityActions(e)) != 0 {
		t.Fatalf("empty key: error %q, actions %q", v.Error.Text, securityActions(e))
	}
	for _, bad := range []string{"\x00\xff€", "EsTc nonsense", "EsTj 3yST y93F SLpB jJsz eAXc 2XzA ygD3 w69H fDKq 8PLr Uj5K"} {
		v.RecoveryKey.SetText(bad)
		test.Tap(v.Unlock)
		if v.Step() != ui.StepUnlock || !strings.Contains(v.Error.Text, "not your recovery key") || v.Unlock.Disabled() {
			t.Fatalf("key %q: step %v error %q", bad, v.Step(), v.Error.Text)
		}
	}
	e.assertScreen("recovery_wrong", e.ui.Window().Canvas())
	v.RecoveryKey.SetText(strings.ToLower(fake.SampleRecoveryKey)) // still wrong: keys are case-sensitive
	test.Tap(v.Unlock)
	if v.Step() != ui.StepUnlock {
		t.Fatal("a lower-cased key unlocked")
	}
	v.RecoveryKey.SetText("  " + strings.ReplaceAll(fake.SampleRecoveryKey, " ", "") + "\n")
	test.Tap(v.Unlock)
	if v.Step() != ui.StepUnlocked {
		t.Fatalf("right key: step %v error %q", v.Step(), v.Error.Text)
	}
	test.Tap(v.Done)
	if !strings.Contains(labelsText(s.Security), "this device is verified") {
		t.Fatalf("settings say %q", labelsText(s.Security))
	}
}

// An account without secret storage says what to do instead.
func TestRecoveryKeyNoSecretStorage(t *testing.T) {
	e := newSecurityEnv(t, true, ui.CrossSigningStatus{})
	e.ui.VerifyWithRecoveryKey()
	v := securityDialog(t, e)
	v.RecoveryKey.SetText(fake.SampleRecoveryKey)
	test.Tap(v.Unlock)
	if !strings.Contains(v.Error.Text, "no recovery key yet") {
		t.Fatalf("error %q", v.Error.Text)
	}
}

// A password login on an account with cross-signing asks for the
// recovery key; a restored session does not.
func TestRecoveryPromptAtLogin(t *testing.T) {
	e := newSecurityEnv(t, false, ui.CrossSigningStatus{Published: true})
	l := e.ui.Login()
	test.Type(l.UserID, "@me:example.org")
	l.SetHomeserver("https://example.org")
	test.Type(l.Password, "secret")
	test.Tap(l.Submit)
	if e.ui.Rooms() == nil {
		t.Fatal("not logged in")
	}
	v := securityDialog(t, e)
	if v.Step() != ui.StepUnlock {
		t.Fatalf("step %v", v.Step())
	}
	test.Tap(v.Cancel)
	if _, ok := e.ui.SecurityDialog(); ok {
		t.Fatal("dialog open after Cancel")
	}

	resumed := newSecurityEnv(t, true, ui.CrossSigningStatus{Published: true})
	if _, ok := resumed.ui.SecurityDialog(); ok {
		t.Fatal("a restored session asked for the recovery key")
	}
	trusted := newSecurityEnv(t, false, ui.CrossSigningStatus{Published: true, Trusted: true})
	l = trusted.ui.Login()
	test.Type(l.UserID, "@me:example.org")
	l.SetHomeserver("https://example.org")
	test.Type(l.Password, "secret")
	test.Tap(l.Submit)
	if _, ok := trusted.ui.SecurityDialog(); ok {
		t.Fatal("a trusted device was asked for the recovery key")
	}
}

// Bob, verified before, has a new device: the call view says so while the
// call rings and offers Verify, which asks Bob to verify; once all of his
// devices are verified the warning goes.
func TestCallNewDeviceWarning(t *testing.T) {
	e := newSecurityEnv(t, true, ui.CrossSigningStatus{Published: true, Trusted: true})
	e.be.SetPeerTrust(ui.PeerTrust{UserID: bob.Peer, Verified: 1, Unverified: []string{"Bob's phone (PHONE2)"}})
	e.ui.PlaceCall(bob, false)
	c := e.ui.Call()
	text, verify := c.PeerWarning()
	if text != "Bob has a new device that is not verified" || verify == nil {
		t.Fatalf("warning %q", text)
	}
	if got := c.Security(); got != "End-to-end encrypted" {
		t.Fatalf("security line %q", got)
	}
	e.assertScreen("call_new_device", e.ui.Window().Canvas())
	test.Tap(verify)
	if a := verifyActions(e); !slices.Equal(a, []string{"verify !b:example.org @bob:example.org"}) {
		t.Fatalf("actions %q", a)
	}
	if _, ok := e.ui.Verification("v1"); !ok {
		t.Fatal("no verification dialog")
	}
	e.be.SetPeerTrust(ui.PeerTrust{UserID: bob.Peer, Verified: 2})
	if text, _ := c.PeerWarning(); text != "" {
		t.Fatalf("warning after verification: %q", text)
	}
}

// A peer who was verified logs in a second device during the call: the
// warning appears (the backend sends a room snapshot when devices change).
func TestNewDeviceDuringCall(t *testing.T) {
	e := newSecurityEnv(t, true, ui.CrossSigningStatus{})
	e.ui.PlaceCall(alice, true)
	c := e.ui.Call()
	if text, _ := c.PeerWarning(); text != "" {
		t.Fatalf("verified peer: warning %q", text)
	}
	_ = e.be.Update(c.Info().ID, func(ci *callengine.CallInfo) { ci.State = callengine.StateConnected; ci.ConnectedAt = t0 })
	e.be.SetPeerTrust(ui.PeerTrust{UserID: alice.Peer, Verified: 1, Unverified: []string{"A", "B"}})
	if text, _ := c.PeerWarning(); text != "Alice Liddell has 2 new devices that are not verified" {
		t.Fatalf("warning %q", text)
	}
	_ = e.be.End(c.Info().ID, callengine.PartyRemote, callengine.ReasonUserHangup)
	if text, _ := c.PeerWarning(); text != "" {
		t.Fatalf("warning after the call ended: %q", text)
	}
}

// The incoming-call window warns about the caller's new device; Verify
// opens the emoji dialog in that window (it stays above the main one).
func TestIncomingNewDeviceWarning(t *testing.T) {
	e := newSecurityEnv(t, true, ui.CrossSigningStatus{})
	e.be.SetPeerTrust(ui.PeerTrust{UserID: bob.Peer, Verified: 1, Unverified: []string{"PHONE2"}})
	id := e.be.Ring(bob, true)
	scr, w, ok := e.ui.Incoming(id)
	if !ok {
		t.Fatal("no incoming window")
	}
	text, verify := scr.PeerWarning()
	if text != "Bob has a new device that is not verified" || verify == nil {
		t.Fatalf("warning %q", text)
	}
	w.Resize(fyne.NewSize(380, 440))
	e.assertScreen("incoming_new_device", w.Canvas())
	test.Tap(verify)
	if _, ok := e.ui.Verification("v1"); !ok {
		t.Fatal("no verification dialog")
	}
	if ov := w.Canvas().Overlays().Top(); ov == nil {
		t.Fatal("the verification dialog is not in the incoming window")
	}
	if ov := e.ui.Window().Canvas().Overlays().Top(); ov != nil {
		t.Fatal("the verification dialog opened in the main window too")
	}
	// A caller whose devices are all verified: no warning.
	id2 := e.be.Ring(alice, true)
	scr2, _, _ := e.ui.Incoming(id2)
	if text, _ := scr2.PeerWarning(); text != "" {
		t.Fatalf("verified caller: warning %q", text)
	}
}

// Without a Security backend nothing changes: no warning, no settings row.
func TestNoSecurityBackend(t *testing.T) {
	e := newEnvWith(t, true, func(b *fake.Backend) { b.Verifier = true })
	e.ui.PlaceCall(bob, false)
	if text, _ := e.ui.Call().PeerWarning(); text != "" {
		t.Fatalf("warning %q", text)
	}
	e.ui.ShowSettings()
	if e.ui.Settings().Security.Visible() {
		t.Fatal("encryption row without a Security backend")
	}
	e.ui.VerifyWithRecoveryKey()
	if _, ok := e.ui.SecurityDialog(); ok {
		t.Fatal("dialog without a Security backend")
	}
}

// labelsText joins the texts of the labels under o (a container).
func labelsText(o fyne.CanvasObject) string {
	var parts []string
	var walk func(fyne.CanvasObject)
	walk = func(o fyne.CanvasObject) {
		switch v := o.(type) {
		case *widget.Label:
			parts = append(parts, v.Text)
		case *fyne.Container:
			for _, c := range v.Objects {
				walk(c)
			}
		}
	}
	walk(o)
	return strings.Join(parts, " ")
}
