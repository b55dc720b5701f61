package matrixclient

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"time"
)

// The session cache keeps, next to the crypto store, the room list and the
// sync token it was built from, so that an app started later shows its
// rooms at once and its first sync is incremental (it then also gets the
// call events of the time it was away, and rings for a call still going
// on). It is written after sync batches (at most every cacheEvery, and at
// Stop) and read by Restore; a missing, damaged or foreign file is the
// same as none: a full sync rebuilds everything.

// cacheVersion is bumped when the file's meaning changes.
const cacheVersion = 1

// cacheEvery bounds how often the cache is rewritten while syncing.
const cacheEvery = 5 * time.Second

type sessionCache struct {
	Version   int                   `json:"version"`
	UserID    string                `json:"user_id"`
	DeviceID  string                `json:"device_id"`
	NextBatch string                `json:"next_batch"`
	Rooms     map[string]cachedRoom `json:"rooms"`
	Invites   map[string]Invite     `json:"invites,omitempty"`
	Direct    map[string][]string   `json:"direct,omitempty"`
	Saved     time.Time             `json:"saved"`
}

type cachedRoom struct {
	Name      string                  `json:"name,omitempty"`
	Alias     string                  `json:"alias,omitempty"`
	JoinRule  string                  `json:"join_rule,omitempty"`
	Encrypted bool                    `json:"encrypted,omitempty"`
	Members   map[string]cachedMember `json:"members"`
}

type cachedMember struct {
	Membership  string `json:"membership"`
	DisplayName string `json:"displayname,omitempty"`
}

// cachePath is the session cache's file: one per user and device, in the
// data dir (which it does not create).
func (c *Client) cachePath(s Session) (string, error) {
	dir := c.cfg.dataDir
	if dir == "" {
		base, err := os.UserConfigDir()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(base, "mxcall")
	}
	h := sha256.Sum256([]byte(s.UserID))
	return filepath.Join(dir, "session-"+hex.EncodeToString(h[:6])+"-"+s.DeviceID+".json"), nil
}

// toCache copies the model; the caller holds c.mu.
func (m *roomModel) toCache(s Session, next string) *sessionCache {
	sc := &sessionCache{Version: cacheVersion, UserID: s.UserID, DeviceID: s.DeviceID, NextBatch: next,
		Rooms: make(map[string]cachedRoom, len(m.rooms)), Invites: make(map[string]Invite, len(m.invites)),
		Direct: m.direct, Saved: time.Now()}
	for id, rs := range m.rooms {
		cr := cachedRoom{Name: rs.name, Alias: rs.alias, JoinRule: rs.joinRule, Encrypted: rs.encrypted,
			Members: make(map[string]cachedMember, len(rs.members))}
		for u, ms := range rs.members {
			cr.Members[u] = cachedMember{Membership: ms.membership, DisplayName: ms.displayName}
		}
		sc.Rooms[id] = cr
	}
	for id, inv := range m.invites {
		sc.Invites[id] = *inv
	}
	return sc
}

// roomModelFromCache rebuilds the model.
func roomModelFromCache(sc *sessionCache) *roomModel {
	m := newRoomModel()
	for id, cr := range sc.Rooms {
		rs := m.room(id)
		rs.name, rs.alias, rs.joinRule, rs.encrypted = cr.Name, cr.Alias, cr.JoinRule, cr.Encrypted
		for u, cm := range cr.Members {
			rs.members[u] = &memberState{membership: cm.Membership, displayName: cm.DisplayName}
		}
	}
	for id, inv := range sc.Invites {
		inv.RoomID = id
		m.invites[id] = &inv
	}
	if sc.Direct != nil {
		m.setDirect(sc.Direct)
	}
	return m
}

// loadCache reads the session cache of s; nil when there is none usable.
func (c *Client) loadCache(s Session) *sessionCache {
	path, err := c.cachePath(s)
	if err != nil {
		return nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			c.log.Warn("reading the session cache", "err", err)
		}
		return nil
	}
	var sc sessionCache
	if err := json.Unmarshal(raw, &sc); err != nil || sc.Version != cacheVersion || sc.UserID != s.UserID ||
		sc.DeviceID != s.DeviceID || sc.NextBatch == "" {
		c.log.Warn("ignoring a damaged or foreign session cache", "err", err)
		return nil
	}
	return &sc
}

// saveCache writes the room model and the token it was built from
// (atomically: a crash leaves the old file or the new one).
func (c *Client) saveCache(sc *sessionCache) error {
	path, err := c.cachePath(Session{UserID: sc.UserID, DeviceID: sc.DeviceID})
	if err != nil {
		return err
	}
	raw, err := json.Marshal(sc)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".session-*.tmp")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(raw)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	return nil
}

// removeCache deletes the session cache of a session that ended.
func (c *Client) removeCache(s Session) {
	if s.DeviceID == "" {
		return
	}
	if path, err := c.cachePath(s); err == nil {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			c.log.Warn("removing the session cache", "err", err)
		}
	}
}

// cacheSnapshot returns what to save now, or nil when the session is not
// persistent (no keyring: nothing of it outlives the process) or nothing
// has been synced yet.
func (c *Client) cacheSnapshot() *sessionCache {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mx == nil || c.keyringErr != nil || c.since == "" {
		return nil
	}
	return c.rooms.toCache(c.sess, c.since)
}

// persist saves the cache if the last save is older than cacheEvery, or
// always with force. It runs on the dispatcher goroutine (or at Stop).
func (c *Client) persist(force bool) {
	if !force && time.Since(c.savedAt) < cacheEvery {
		return
	}
	sc := c.cacheSnapshot()
	if sc == nil {
		return
	}
	c.savedAt = time.Now()
	if err := c.saveCache(sc); err != nil {
		c.log.Warn("saving the session cache", "err", err)
	}
}
