package callengine

import (
	"context"
	"errors"
	"testing"
)

// WarmUp runs in the background and leaves nothing behind: a call placed
// right after works, and Close waits for it (guard checks goroutines).
func TestWarmUp(t *testing.T) {
	guard(t)
	r := newRoom("!r:test")
	alice := r.join(t, "@alice:test")
	if err := alice.eng.warmUp(context.Background()); err != nil {
		t.Fatalf("warmUp: %v", err)
	}
	alice.eng.WarmUp()
	id, err := alice.eng.PlaceCall(context.Background(), r.id, "@bob:test", false, Media{})
	if err != nil {
		t.Fatal(err)
	}
	alice.waitState(id, StateInviteSent)
}

// WarmUp after Close does nothing.
func TestWarmUpClosed(t *testing.T) {
	guard(t)
	r := newRoom("!r:test")
	alice := r.join(t, "@alice:test")
	if err := alice.eng.Close(); err != nil {
		t.Fatal(err)
	}
	alice.eng.WarmUp()
}

// A warm-up cancelled by its context returns.
func TestWarmUpCancelled(t *testing.T) {
	guard(t)
	r := newRoom("!r:test")
	alice := r.join(t, "@alice:test")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := alice.eng.warmUp(ctx); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("warmUp with a cancelled context: %v", err)
	}
}
