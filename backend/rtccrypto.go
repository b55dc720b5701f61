package backend

import (
	"log/slog"
	"sync"

	"github.com/mxcall/mxcall/matrixrtc"
	"github.com/mxcall/mxcall/media/framecrypt"
)

// rtcRatchetWindow and what it means: a frame that does not decrypt under
// a member's key is tried with up to this many ratchet steps of it
// (Element Call's ratchetWindowSize).
const rtcRatchetWindow = 10

// rtcCrypto is the media encryption of a MatrixRTC call in an encrypted
// room (Element Call's per-participant keys): our key ring and encryptor,
// each member's key ring and decryptor (by LiveKit identity), and the key
// manager that sends ours and takes in theirs over Olm to-device events.
type rtcCrypto struct {
	tx   *framecrypt.KeyRing
	enc  *framecrypt.Encryptor
	keys *matrixrtc.KeyManager

	mu  sync.Mutex
	rx  map[string]*framecrypt.KeyRing
	dec map[string]*framecrypt.Decryptor
	// changed is told when a member's first key arrives (the tile stops
	// waiting for it).
	changed func()
}

func newRTCCrypto(send matrixrtc.ToDevice, roomID, userID, deviceID string, log *slog.Logger, changed func()) (*rtcCrypto, error) {
	k := &rtcCrypto{tx: framecrypt.NewKeyRing(), rx: map[string]*framecrypt.KeyRing{},
		dec: map[string]*framecrypt.Decryptor{}, changed: changed}
	k.enc = framecrypt.NewEncryptor(k.tx)
	km, err := matrixrtc.NewKeyManager(matrixrtc.KeyConfig{
		Send: send, RoomID: roomID, UserID: userID, DeviceID: deviceID, Log: log,
		OnLocalKey: func(index uint8, key []byte) {
			if err := k.tx.SetKey(index, key); err != nil {
				log.Warn("matrixrtc: our media key", "err", err)
				return
			}
			k.tx.SetCurrentIndex(index)
		},
		OnRemoteKey: k.remoteKey,
	})
	if err != nil {
		return nil, err
	}
	k.keys = km
	return k, nil
}

// remoteKey keeps a member's key (it may come before their tracks do).
func (k *rtcCrypto) remoteKey(identity string, index uint8, key []byte) {
	ring, first := k.ring(identity)
	if err := ring.SetKey(index, key); err != nil {
		return
	}
	if first && k.changed != nil {
		k.changed()
	}
}

// ring returns identity's key ring, made on first use; first is true
// when it holds no key yet.
func (k *rtcCrypto) ring(identity string) (ring *framecrypt.KeyRing, first bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	ring = k.rx[identity]
	if ring == nil {
		ring = framecrypt.NewKeyRing(framecrypt.WithRatchetWindow(rtcRatchetWindow))
		k.rx[identity] = ring
		k.dec[identity] = framecrypt.NewDecryptor(ring)
	}
	return ring, !k.hasKeyLocked(ring)
}

func (k *rtcCrypto) hasKeyLocked(ring *framecrypt.KeyRing) bool {
	for i := 0; i < 256; i++ {
		if ring.HasKey(uint8(i)) {
			return true
		}
	}
	return false
}

// decryptor is identity's frame decryptor (one per member, shared by its
// audio and video).
func (k *rtcCrypto) decryptor(identity string) *framecrypt.Decryptor {
	k.ring(identity)
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.dec[identity]
}

// hasKey reports whether a key of identity has arrived.
func (k *rtcCrypto) hasKey(identity string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	ring := k.rx[identity]
	return ring != nil && k.hasKeyLocked(ring)
}

func (k *rtcCrypto) close() { _ = k.keys.Close() }
