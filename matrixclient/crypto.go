package matrixclient

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/mxcall/mxcall/matrixrtc"
)

func idRoom(roomID string) id.RoomID { return id.RoomID(roomID) }

// cryptoBackend is end-to-end encryption for one session. The real one
// (mautrix crypto with goolm and a pure-Go SQLite store) is built with the
// `goolm` tag; without it E2EEAvailable is false and encrypted rooms can
// be listed but not called.
type cryptoBackend interface {
	// peerDevices lists userID's devices as the crypto store knows them.
	peerDevices(ctx context.Context, userID string) ([]Device, error)
	// shareRoomKey shares our room key for roomID with users' devices now,
	// ahead of the first event (a no-op when it is already shared).
	shareRoomKey(ctx context.Context, roomID string, users []string) error
	// sendToDevice Olm-encrypts content for each device and sends it.
	sendToDevice(ctx context.Context, mx *mautrix.Client, evType string, messages map[string]map[string]any) error
	// decryptToDevice decrypts an Olm-encrypted to-device event; mautrix
	// handles what it knows (room keys, secrets...) and ok is true only for
	// the others, returned with their authenticated sending device.
	decryptToDevice(ctx context.Context, evt *event.Event) (ev matrixrtc.ToDeviceEvent, ok bool)
	close() error
}

// maxShareRound bounds how many rooms one round of shareLoop handles.
const maxShareRound = 50

// shareLoop shares our room keys in advance with the members of encrypted
// one-to-one (callable) rooms, in the background, each time the room list
// changes. A call's first event then goes out without waiting for Olm
// sessions to be set up and the room key to be delivered, and the callee
// decrypts it without waiting for that key: on a local homeserver this
// took 100–150 ms off each direction of a first call. Element does the
// same when a room's composer gets the focus. Sharing is a no-op for a
// room whose current key is shared already; a key that mautrix retired
// (a member's devices changed) is replaced and shared on the next round.
func (c *Client) shareLoop(ctx context.Context, kick <-chan struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-kick:
		}
		cr, jobs := c.roomsToShare()
		for _, j := range jobs {
			began := time.Now()
			if err := cr.shareRoomKey(ctx, j.roomID, j.users); err != nil {
				if ctx.Err() != nil {
					return
				}
				c.log.Debug("sharing a room key in advance", "room", j.roomID, "err", err)
				continue
			}
			c.log.Debug("room key shared in advance", "room", j.roomID, "took", time.Since(began).Round(time.Millisecond))
			c.mu.Lock()
			if c.crypto == cr {
				if c.sharedAhead == nil {
					c.sharedAhead = map[string]bool{}
				}
				c.sharedAhead[j.roomID] = true
			}
			c.mu.Unlock()
		}
	}
}

// RoomKeySharedAhead reports whether our room key for roomID has been
// shared in advance (by the background sharing above) since the session
// started: a call placed now sends its invite without setting up Olm
// sessions first. Benchmarks wait for it before timing a first call, as a
// person who opens the app does not click within the 0.1 s it takes.
func (c *Client) RoomKeySharedAhead(roomID string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sharedAhead[roomID]
}

type shareJob struct {
	roomID string
	users  []string
}

// roomsToShare lists the callable encrypted rooms (at most maxShareRound).
func (c *Client) roomsToShare() (cryptoBackend, []shareJob) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.crypto == nil {
		return nil, nil
	}
	var jobs []shareJob
	me := c.sess.UserID
	for id, rs := range c.rooms.rooms {
		if len(jobs) == maxShareRound {
			break
		}
		if !rs.encrypted {
			continue
		}
		if peer := c.rooms.callPeer(me, rs); peer != "" {
			jobs = append(jobs, shareJob{roomID: id, users: []string{me, peer}})
		}
	}
	return c.crypto, jobs
}

// Device is one device of a user, as end-to-end encryption sees it.
type Device struct {
	ID       string
	Name     string
	Verified bool
}

// Undecryptable is an encrypted event that could not be decrypted. In a
// one-to-one room it may have been a call: the UI shows it as a missed call
// that could not be read.
type Undecryptable struct {
	RoomID  string
	EventID string
	Sender  string
	Time    time.Time // origin_server_ts
	Err     error
}

// cryptoDBPath is where a session's crypto store lives: one SQLite file
// per user and device under the data dir.
func (c *Client) cryptoDBPath(s Session) (string, error) {
	dir := c.cfg.dataDir
	if dir == "" {
		base, err := os.UserConfigDir()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(base, "mxcall")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	h := sha256.Sum256([]byte(s.UserID))
	return filepath.Join(dir, "crypto-"+hex.EncodeToString(h[:6])+"-"+s.DeviceID+".db"), nil
}

// lateEvents collects events that were decrypted after their sync batch
// was handed on (their room key came later) and delivers them together,
// in server order, so that a late invite comes before its candidates.
type lateEvents struct {
	mu      sync.Mutex
	pending []item
	ts      []int64
	timer   *time.Timer
}

func (l *lateEvents) add(it item, ts int64, flush func([]item)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pending = append(l.pending, it)
	l.ts = append(l.ts, ts)
	if l.timer != nil {
		return
	}
	l.timer = time.AfterFunc(50*time.Millisecond, func() {
		l.mu.Lock()
		items, ts := l.pending, l.ts
		l.pending, l.ts, l.timer = nil, nil, nil
		l.mu.Unlock()
		idx := make([]int, len(items))
		for i := range idx {
			idx[i] = i
		}
		slices.SortStableFunc(idx, func(a, b int) int { return int(ts[a] - ts[b]) })
		out := make([]item, len(items))
		for i, j := range idx {
			out[i] = items[j]
		}
		flush(out)
	})
}

func (c *Client) addUndecryptable(evt *event.Event, err error) {
	u := Undecryptable{RoomID: evt.RoomID.String(), EventID: evt.ID.String(), Sender: evt.Sender.String(),
		Time: time.UnixMilli(evt.Timestamp), Err: err}
	c.log.Warn("event could not be decrypted", "room", u.RoomID, "event_id", u.EventID, "sender", u.Sender, "err", err)
	c.mu.Lock()
	c.undecryptable = append(c.undecryptable, u)
	if len(c.undecryptable) > 100 {
		c.undecryptable = c.undecryptable[len(c.undecryptable)-100:]
	}
	c.mu.Unlock()
	c.notify(ChangeUndecryptable)
}

// resolveUndecryptable drops an event from the undecryptable list once its
// key arrived after all.
func (c *Client) resolveUndecryptable(eventID string) {
	c.mu.Lock()
	n := len(c.undecryptable)
	c.undecryptable = slices.DeleteFunc(c.undecryptable, func(u Undecryptable) bool { return u.EventID == eventID })
	changed := n != len(c.undecryptable)
	c.mu.Unlock()
	if changed {
		c.notify(ChangeUndecryptable)
	}
}

// Undecryptable returns the latest encrypted events that could not be
// decrypted (at most 100), oldest first.
func (c *Client) Undecryptable() []Undecryptable {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.undecryptable)
}

// PeerDevices lists userID's devices and whether we verified them. It
// needs end-to-end encryption (ErrNoE2EE otherwise).
func (c *Client) PeerDevices(ctx context.Context, userID string) ([]Device, error) {
	c.mu.Lock()
	cr := c.crypto
	c.mu.Unlock()
	if cr == nil {
		return nil, ErrNoE2EE
	}
	return cr.peerDevices(ctx, userID)
}

// ensureRoomState makes sure mautrix's state store knows whether roomID is
// encrypted (and who is in it) before anything is sent there: a fresh
// device must not send plaintext into an encrypted room before its first
// sync.
func (c *Client) ensureRoomState(ctx context.Context, mx *mautrix.Client, roomID string) (encrypted bool, err error) {
	c.mu.Lock()
	rs, known := c.rooms.rooms[roomID]
	if known {
		encrypted = rs.encrypted
	}
	c.mu.Unlock()
	if known {
		return encrypted, nil
	}
	state, err := mx.State(ctx, idRoom(roomID))
	if err != nil {
		return false, err
	}
	_, encrypted = state[event.StateEncryption][""]
	if encrypted && mx.StateStore != nil {
		if _, err := mx.Members(ctx, idRoom(roomID)); err != nil {
			return true, err
		}
	}
	return encrypted, nil
}
