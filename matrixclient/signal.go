package matrixclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// SendCallEvent sends one m.call.* event into a room (callengine.Signaller).
// Every attempt uses the same transaction ID, so retries after 429, 5xx or
// network errors cannot duplicate the event. It returns once the homeserver
// accepted the event, or with an error wrapping ErrSendFailed.
func (c *Client) SendCallEvent(ctx context.Context, roomID, evType string, content any) error {
	_, err := c.sendEvent(ctx, roomID, evType, content)
	return err
}

// sendEvent sends one message event the way SendCallEvent describes and
// returns its event ID.
func (c *Client) sendEvent(ctx context.Context, roomID, evType string, content any) (string, error) {
	mx, err := c.mautrixClient()
	if err != nil {
		return "", err
	}
	raw, err := json.Marshal(content)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %w", ErrSendFailed, evType, err)
	}
	if err := c.checkEncryption(ctx, mx, roomID); err != nil {
		return "", fmt.Errorf("%w: %s in %s: %w", ErrSendFailed, evType, roomID, err)
	}
	txn := "mxcall." + strconv.FormatInt(time.Now().UnixMilli(), 36) + "." + randomID(12)
	typ := event.Type{Type: evType, Class: event.MessageEventType}
	for attempt := 1; ; attempt++ {
		// mautrix's own retries are off: we retry here with the same txn ID.
		resp, err := mx.SendMessageEvent(mautrix.WithMaxRetries(ctx, 0), id.RoomID(roomID), typ,
			json.RawMessage(raw), mautrix.ReqSendEvent{TransactionID: txn})
		if err == nil {
			if attempt > 1 {
				c.log.Info("call event sent after retries", "type", evType, "room", roomID, "attempts", attempt)
			}
			return resp.EventID.String(), nil
		}
		retry, after := retryable(err)
		if !retry || attempt >= c.cfg.sendAttempts || ctx.Err() != nil {
			return "", fmt.Errorf("%w: %s in %s after %d attempts: %w", ErrSendFailed, evType, roomID, attempt, err)
		}
		wait := backoff(attempt, c.cfg.sendBackoffMin, c.cfg.sendBackoffMax)
		if after > 0 {
			wait = min(after, 30*time.Second)
		}
		c.log.Debug("call event send failed, retrying", "type", evType, "room", roomID, "attempt", attempt, "err", err, "retry_in", wait)
		if !sleepCtx(ctx, wait) {
			return "", fmt.Errorf("%w: %s in %s: %w", ErrSendFailed, evType, roomID, ctx.Err())
		}
	}
}

// checkEncryption refuses to let an event for an encrypted room go out in
// plaintext: E2EE must be ready and mautrix's state store (which decides
// whether SendMessageEvent encrypts) must know the room is encrypted.
func (c *Client) checkEncryption(ctx context.Context, mx *mautrix.Client, roomID string) error {
	encrypted, err := c.ensureRoomState(ctx, mx, roomID)
	if err != nil {
		return err
	}
	if !encrypted {
		return nil
	}
	c.mu.Lock()
	ready := c.crypto != nil && mx.Crypto != nil
	c.mu.Unlock()
	if !ready || mx.StateStore == nil {
		return fmt.Errorf("%w: room %s is encrypted", ErrNoE2EE, roomID)
	}
	if ok, err := mx.StateStore.IsEncrypted(ctx, id.RoomID(roomID)); err == nil && ok {
		return nil
	}
	// The state store lags behind our room list: load the room's state.
	if _, err := mx.State(ctx, id.RoomID(roomID)); err != nil {
		return err
	}
	if ok, err := mx.StateStore.IsEncrypted(ctx, id.RoomID(roomID)); err != nil || !ok {
		return fmt.Errorf("%w: room %s is encrypted but its state is not loaded", ErrNoE2EE, roomID)
	}
	return nil
}

// retryable says whether a failed request may be repeated, and how long
// the server asked us to wait (0 if it did not say).
func retryable(err error) (bool, time.Duration) {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false, 0
	}
	var he mautrix.HTTPError
	if !errors.As(err, &he) {
		return false, 0
	}
	if he.Response == nil {
		return he.WrappedError != nil, 0 // network error: no response at all
	}
	code := he.Response.StatusCode
	switch {
	case code == http.StatusTooManyRequests:
		var after time.Duration
		if s := he.Response.Header.Get("Retry-After"); s != "" {
			if n, err := strconv.Atoi(s); err == nil {
				after = time.Duration(n) * time.Second
			}
		}
		if he.RespError != nil {
			if ms, ok := he.RespError.ExtraData["retry_after_ms"].(float64); ok && ms > 0 {
				after = time.Duration(ms) * time.Millisecond
			}
		}
		return true, after
	case code >= 500:
		return true, 0
	}
	return false, 0
}
