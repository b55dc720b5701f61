package matrixclient

import (
	"context"
	"fmt"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"

	"github.com/mxcall/mxcall/matrixrtc"
)

// The Client sends MatrixRTC media keys.
var _ matrixrtc.ToDevice = (*Client)(nil)

// SendToDevice sends an Olm-encrypted to-device event to each listed
// device (messages: user ID → device ID → content), e.g. MatrixRTC media
// keys. Devices we cannot open an Olm session with are skipped (logged);
// without E2EE it fails with ErrNoE2EE: such content never goes out in
// plaintext.
func (c *Client) SendToDevice(ctx context.Context, evType string, messages map[string]map[string]any) error {
	mx, err := c.mautrixClient()
	if err != nil {
		return err
	}
	c.mu.Lock()
	cr := c.crypto
	c.mu.Unlock()
	if cr == nil {
		return fmt.Errorf("%w: cannot encrypt %s", ErrNoE2EE, evType)
	}
	if err := cr.sendToDevice(ctx, mx, evType, messages); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrSendFailed, evType, err)
	}
	return nil
}

// SetToDeviceHandler sets who receives the Olm-encrypted to-device events
// that mautrix itself does not handle (MatrixRTC media keys), decrypted,
// with the sending device as the Olm session authenticated it. fn runs on
// the sync goroutine and must not block. nil stops the delivery.
func (c *Client) SetToDeviceHandler(fn func(matrixrtc.ToDeviceEvent)) {
	c.mu.Lock()
	c.toDevice = fn
	c.mu.Unlock()
}

// takeToDevice decrypts the sync response's Olm-encrypted to-device
// events before mautrix's crypto sees them (our OnSync handler runs first),
// hands the ones mautrix does not handle to the to-device handler, and
// takes all of them out of the response so none is decrypted twice.
func (c *Client) takeToDevice(ctx context.Context, resp *mautrix.RespSync) {
	c.mu.Lock()
	cr, fn := c.crypto, c.toDevice
	c.mu.Unlock()
	if cr == nil || len(resp.ToDevice.Events) == 0 {
		return
	}
	kept := resp.ToDevice.Events[:0]
	for _, evt := range resp.ToDevice.Events {
		if evt.Type.Type != event.ToDeviceEncrypted.Type { // the class is not set yet
			kept = append(kept, evt)
			continue
		}
		dec, ok := cr.decryptToDevice(ctx, evt)
		if ok && fn != nil {
			fn(dec)
		}
	}
	resp.ToDevice.Events = kept
}
