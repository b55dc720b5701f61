package matrixclient

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/mxcall/mxcall/callengine"
	"github.com/mxcall/mxcall/matrixrtc"
)

// batch is what one sync response yields, decoded by the sync handlers
// and applied by the dispatcher goroutine.
type batch struct {
	mu       sync.Mutex
	sealed   bool // handed on: later (late-decrypted) events go elsewhere
	received time.Time
	initial  bool
	next     string // the response's next_batch ("" for late events)
	joined   []string
	invited  []string
	left     []string
	items    []item
}

type itemKind int

const (
	itemMember itemKind = iota + 1
	itemName
	itemAlias
	itemJoinRules
	itemEncryption
	itemDirect
	itemCall
	itemRTC // a MatrixRTC membership, ring or decline (in item.rtc)
)

// item is one decoded event of interest.
type item struct {
	kind        itemKind
	roomID      string
	source      event.Source
	sender      string
	stateKey    string
	membership  string
	displayName string
	isDirect    bool
	text        string              // room name, alias or join rule
	direct      map[string][]string // m.direct
	call        callengine.RoomEvent
	// rtc is the event as the MatrixRTC tracker gets it (itemRTC, and
	// itemMember in joined rooms).
	rtc       matrixrtc.RoomEvent
	encrypted bool // the event reached us encrypted (decrypted by us)
}

type batchKey struct{}

func (b *batch) isSealed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sealed
}

// seenTimes remembers when the sync responses carrying recent encrypted
// events arrived, so an event decrypted later keeps its true receive time.
type seenTimes struct {
	mu    sync.Mutex
	at    map[string]time.Time
	order []string
}

func (s *seenTimes) put(k string, t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.at == nil {
		s.at = map[string]time.Time{}
	}
	if _, ok := s.at[k]; ok {
		return
	}
	s.at[k] = t
	s.order = append(s.order, k)
	if len(s.order) > 1000 {
		delete(s.at, s.order[0])
		s.order = s.order[1:]
	}
}

func (s *seenTimes) get(k string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.at[k]
	return t, ok
}

func batchFrom(ctx context.Context) *batch {
	b, _ := ctx.Value(batchKey{}).(*batch)
	return b
}

// newSyncer returns mautrix's syncer with handlers that only decode into
// the batch riding on the context. Decrypted events re-dispatched later
// (outside a sync response) become a batch of their own through late.
func (c *Client) newSyncer(late func(*batch)) *mautrix.DefaultSyncer {
	s := mautrix.NewDefaultSyncer()
	// mautrix's typed m.call.* structs drop content that does not fit them;
	// we parse the raw content ourselves, so let every event through.
	s.ParseErrorHandler = func(*event.Event, error) bool { return true }
	s.OnSync(func(ctx context.Context, resp *mautrix.RespSync, _ string) bool {
		c.takeToDevice(ctx, resp) // before mautrix's crypto handler, registered later
		b := batchFrom(ctx)
		if b == nil {
			return true
		}
		for r := range resp.Rooms.Join {
			b.joined = append(b.joined, r.String())
		}
		for r := range resp.Rooms.Invite {
			b.invited = append(b.invited, r.String())
		}
		for r := range resp.Rooms.Leave {
			b.left = append(b.left, r.String())
		}
		return true
	})
	s.OnEvent(func(ctx context.Context, evt *event.Event) {
		b := batchFrom(ctx)
		if evt.Type == event.EventEncrypted && b != nil {
			c.encSeen.put(evt.ID.String(), b.received)
		}
		it, ok := decodeEvent(evt)
		if !ok {
			return
		}
		if evt.Mautrix.EventSource&event.SourceDecrypted != 0 && (b == nil || b.isSealed()) {
			c.resolveUndecryptable(evt.ID.String())
		}
		received := time.Now()
		if t, ok := c.encSeen.get(evt.ID.String()); ok {
			received = t
		}
		if b != nil {
			b.mu.Lock()
			sealed := b.sealed
			if !sealed {
				it.call.Received = b.received
				b.items = append(b.items, it)
			}
			b.mu.Unlock()
			if !sealed {
				return
			}
			received = b.received // decrypted after its batch: keep its sync time
		}
		// A late event (its room key arrived after its batch was handed on).
		it.call.Received = received
		c.late.add(it, evt.Timestamp, func(items []item) {
			late(&batch{received: received, items: items, sealed: true})
		})
	})
	return s
}

// decodeEvent picks out the events the room model and the engine need.
func decodeEvent(evt *event.Event) (item, bool) {
	it := item{roomID: evt.RoomID.String(), source: evt.Mautrix.EventSource, sender: evt.Sender.String(),
		encrypted: evt.Mautrix.WasEncrypted || evt.Mautrix.EventSource&event.SourceDecrypted != 0}
	raw := evt.Content.VeryRaw
	if evt.StateKey != nil {
		it.stateKey = *evt.StateKey
	}
	switch {
	case evt.Type == event.AccountDataDirectChats && evt.Mautrix.EventSource&event.SourceAccountData != 0 && evt.RoomID == "":
		var m map[string][]string
		if json.Unmarshal(raw, &m) != nil {
			return it, false
		}
		it.kind, it.direct = itemDirect, m
	case evt.StateKey != nil && evt.Type.Type == event.StateMember.Type:
		var m struct {
			Membership  string `json:"membership"`
			DisplayName string `json:"displayname"`
			IsDirect    bool   `json:"is_direct"`
		}
		if json.Unmarshal(raw, &m) != nil {
			return it, false
		}
		it.kind, it.membership, it.displayName, it.isDirect = itemMember, m.Membership, m.DisplayName, m.IsDirect
		if evt.Mautrix.EventSource&event.SourceJoin != 0 {
			it.rtc = rtcEvent(evt, it.encrypted)
		}
	case evt.StateKey != nil && evt.Type.Type == event.StateRoomName.Type:
		var m struct {
			Name string `json:"name"`
		}
		_ = json.Unmarshal(raw, &m)
		it.kind, it.text = itemName, m.Name
	case evt.StateKey != nil && evt.Type.Type == event.StateCanonicalAlias.Type:
		var m struct {
			Alias string `json:"alias"`
		}
		_ = json.Unmarshal(raw, &m)
		it.kind, it.text = itemAlias, m.Alias
	case evt.StateKey != nil && evt.Type.Type == event.StateJoinRules.Type:
		var m struct {
			JoinRule string `json:"join_rule"`
		}
		_ = json.Unmarshal(raw, &m)
		it.kind, it.text = itemJoinRules, m.JoinRule
	case evt.StateKey != nil && evt.Type.Type == event.StateEncryption.Type:
		it.kind = itemEncryption
	case evt.Type.Type == matrixrtc.TypeCallMember && evt.StateKey != nil && evt.Mautrix.EventSource&event.SourceJoin != 0,
		isRTCTimelineType(evt.Type.Type) && evt.StateKey == nil &&
			evt.Mautrix.EventSource&event.SourceJoin != 0 && evt.Mautrix.EventSource&event.SourceTimeline != 0:
		// Memberships come from the state or the timeline section; rings,
		// declines and sticky memberships only from the timeline.
		it.kind, it.rtc = itemRTC, rtcEvent(evt, it.encrypted)
	case evt.StateKey == nil && strings.HasPrefix(evt.Type.Type, "m.call.") &&
		evt.Mautrix.EventSource&event.SourceTimeline != 0 && evt.Mautrix.EventSource&event.SourceJoin != 0:
		it.kind = itemCall
		it.call = callengine.RoomEvent{
			RoomID:  evt.RoomID.String(),
			EventID: evt.ID.String(),
			Sender:  evt.Sender.String(),
			Type:    evt.Type.Type,
			Content: append(json.RawMessage(nil), raw...),
			Age:     time.Duration(evt.Unsigned.Age) * time.Millisecond,
		}
	default:
		return it, false
	}
	return it, true
}

// isRTCTimelineType reports whether the MatrixRTC tracker wants timeline
// events of type t.
func isRTCTimelineType(t string) bool {
	switch t {
	case matrixrtc.TypeRTCMember, matrixrtc.TypeRTCNotification, matrixrtc.TypeCallNotify, matrixrtc.TypeRTCDecline:
		return true
	}
	return false
}

// rtcEvent copies what the MatrixRTC tracker needs out of evt.
func rtcEvent(evt *event.Event, encrypted bool) matrixrtc.RoomEvent {
	return matrixrtc.RoomEvent{
		RoomID: evt.RoomID.String(), EventID: evt.ID.String(), Sender: evt.Sender.String(), Type: evt.Type.Type,
		StateKey: evt.StateKey, OriginServerTS: evt.Timestamp, Age: time.Duration(evt.Unsigned.Age) * time.Millisecond,
		Encrypted: encrypted, Content: append(json.RawMessage(nil), evt.Content.VeryRaw...),
	}
}

// syncFilter is sent inline with every /sync (the spec allows a JSON
// filter in place of a filter ID). A calling app needs no presence, typing,
// receipts or per-room account data: leaving them out makes the first sync
// smaller and, above all, stops every typing notification or read receipt
// in any room from waking the long-poll. 30 timeline events per room keep
// a call's invite in reach even when its candidates follow it.
const syncFilter = `{"presence":{"not_types":["*"]},` +
	`"room":{"ephemeral":{"not_types":["*"]},"account_data":{"not_types":["*"]},"timeline":{"limit":30}}}`

// syncLoop long-polls /sync, decodes each response into a batch and hands
// it to the dispatcher. Failures are retried with backoff.
func (c *Client) syncLoop(ctx context.Context, mx *mautrix.Client, out chan<- *batch) {
	syncer, _ := mx.Syncer.(*mautrix.DefaultSyncer)
	c.mu.Lock()
	since := c.since // from the session cache, or the last run
	c.mu.Unlock()
	fromCache := since != ""
	failures := 0
	c.setConn(ConnConnecting, nil)
	if !c.startCrypto(ctx, mx) {
		return
	}
	for ctx.Err() == nil {
		timeout := c.cfg.syncTimeout
		if since == "" || failures > 0 {
			timeout = 0
		}
		reqCtx, cancel := context.WithTimeout(ctx, timeout+30*time.Second)
		resp, err := mx.FullSyncRequest(reqCtx, mautrix.ReqSync{Since: since, Timeout: int(timeout.Milliseconds()), FilterID: syncFilter})
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, mautrix.MUnknownToken) {
				c.sessionExpired()
				return
			}
			if fromCache && staleToken(err) {
				// The server no longer knows the saved position: start
				// over with a full sync and a fresh room list.
				c.log.Warn("saved sync position refused; full sync", "err", err)
				since, fromCache = "", false
				c.mu.Lock()
				c.since, c.rooms = "", newRoomModel()
				c.mu.Unlock()
				c.notify(ChangeRooms)
				continue
			}
			failures++
			state := ConnReconnecting
			if failures >= c.cfg.offlineAfter {
				state = ConnOffline
			}
			if since == "" && failures < c.cfg.offlineAfter {
				state = ConnConnecting
			}
			c.setConn(state, err)
			wait := backoff(failures, c.cfg.backoffMin, c.cfg.backoffMax)
			c.log.Debug("sync failed", "err", err, "failures", failures, "retry_in", wait)
			if !sleepCtx(ctx, wait) {
				return
			}
			continue
		}
		if failures > 0 {
			c.log.Info("sync reconnected", "after_failures", failures)
		}
		failures = 0
		b := &batch{received: time.Now(), initial: since == "", next: resp.NextBatch}
		fromCache = false
		// mautrix's handlers (the verification helper's among them) log
		// through the context's zerolog logger.
		pctx := c.cfg.mxlog.WithContext(context.WithValue(ctx, batchKey{}, b))
		if err := syncer.ProcessResponse(pctx, resp, since); err != nil {
			c.log.Error("processing sync response", "err", err)
		}
		b.mu.Lock()
		b.sealed = true
		b.mu.Unlock()
		c.devicesChanged(resp.DeviceLists.Changed)
		since = resp.NextBatch
		c.setConn(ConnOnline, nil)
		select {
		case out <- b:
		case <-ctx.Done():
			return
		}
	}
}

// devicesChanged tells WithOnDevicesChanged's callback about a sync's
// device list changes; mautrix's crypto handler has fetched the new lists
// while the response was processed.
func (c *Client) devicesChanged(users []id.UserID) {
	if len(users) == 0 || c.cfg.onDevices == nil {
		return
	}
	out := make([]string, len(users))
	for i, u := range users {
		out[i] = u.String()
	}
	c.cfg.onDevices(out)
}

// startCrypto sets up end-to-end encryption before the first sync,
// retrying while the homeserver cannot be reached. Without E2EE in the
// build it does nothing. It returns false when ctx ends.
func (c *Client) startCrypto(ctx context.Context, mx *mautrix.Client) bool {
	if !E2EEAvailable || c.cfg.noE2EE {
		return true
	}
	c.mu.Lock()
	s, persistent := c.sess, c.keyringErr == nil
	c.mu.Unlock()
	for n := 1; ; n++ {
		cr, err := c.initCrypto(ctx, mx, s, persistent)
		if err == nil {
			c.loadCrossSigning(cr, s)
			c.mu.Lock()
			c.crypto, c.e2eeErr = cr, nil
			c.mu.Unlock()
			c.log.Info("end-to-end encryption ready", "device_id", s.DeviceID)
			c.notify(ChangeSession)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		c.mu.Lock()
		c.e2eeErr = err
		c.mu.Unlock()
		c.log.Warn("end-to-end encryption setup failed", "err", err, "attempt", n)
		c.setConn(ConnReconnecting, err)
		if !sleepCtx(ctx, backoff(n, c.cfg.backoffMin, c.cfg.backoffMax)) {
			return false
		}
	}
}

// dispatchLoop applies batches to the room model, then gives the call
// events of the whole batch to the handler, then reports peers who left.
// It pokes roomsChanged (without blocking) when the rooms changed.
func (c *Client) dispatchLoop(ctx context.Context, in <-chan *batch, roomsChanged chan<- struct{}) {
	for {
		var b *batch
		select {
		case b = <-in:
		case <-ctx.Done():
			return
		}
		calls, rtc, left, changed := c.applyBatch(b)
		if b.next != "" {
			c.mu.Lock()
			c.since = b.next
			c.mu.Unlock()
			c.persist(changed)
		}
		if h := c.rtcHandler(); h != nil && len(rtc) > 0 {
			h(rtc)
		}
		if changed {
			c.notify(ChangeRooms)
			select {
			case roomsChanged <- struct{}{}:
			default:
			}
		}
		h := c.callHandler()
		if h == nil {
			continue
		}
		if len(calls) > 0 {
			h.HandleEvents(ctx, calls)
		}
		for _, p := range left {
			h.PeerLeft(ctx, p.roomID, p.userID)
		}
	}
}

type peerLeft struct{ roomID, userID string }

func (c *Client) applyBatch(b *batch) (calls []callengine.RoomEvent, rtc []matrixrtc.RoomEvent, left []peerLeft, changed bool) {
	c.mu.Lock()
	me := c.sess.UserID
	if c.mx == nil {
		c.mu.Unlock()
		return nil, nil, nil, false
	}
	calls, rtc, plain, left, changed := c.rooms.apply(me, b)
	c.mu.Unlock()
	for _, ev := range plain {
		// Anyone who runs a homeserver can put such an event in the room.
		c.log.Warn("ignoring an unencrypted call event in an encrypted room",
			"type", ev.Type, "room", ev.RoomID, "sender", ev.Sender, "event_id", ev.EventID)
	}
	for i := range rtc {
		rtc[i].Received = b.received
	}
	return calls, rtc, left, changed
}

// staleToken reports whether a failed sync was refused for its since
// token (400: M_INVALID_PARAM, M_UNKNOWN_POS...), not for the network or
// the server being down.
func staleToken(err error) bool {
	var he mautrix.HTTPError
	if errors.As(err, &he) && he.Response != nil {
		return he.Response.StatusCode == http.StatusBadRequest
	}
	var hp *mautrix.HTTPError
	return errors.As(err, &hp) && hp.Response != nil && hp.Response.StatusCode == http.StatusBadRequest
}
