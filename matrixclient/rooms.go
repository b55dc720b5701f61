package matrixclient

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/mxcall/mxcall/callengine"
	"github.com/mxcall/mxcall/matrixrtc"
)

// Member is a room member.
type Member struct {
	UserID      string
	DisplayName string // may be empty
}

// Name returns the display name, or the user ID when there is none.
func (m Member) Name() string { return cmp.Or(m.DisplayName, m.UserID) }

// Room is a snapshot of a joined room.
type Room struct {
	ID   string
	Name string
	// DirectPeer is the other user when m.direct lists the room as a DM.
	DirectPeer string
	Members    []Member // joined members, us included
	Invited    []Member // invited, not yet joined
	Encrypted  bool
	Public     bool
	// CallPeer is the user a call in this room goes to; it is set only
	// when the room can be called (exactly two joined members).
	CallPeer string
}

// Callable reports whether the room can be called.
func (r Room) Callable() bool { return r.CallPeer != "" }

// Invite is a pending room invite.
type Invite struct {
	RoomID      string
	Name        string
	Inviter     string
	InviterName string
	IsDirect    bool // the inviter marked it as a DM
}

type memberState struct {
	membership  string
	displayName string
}

type roomState struct {
	id        string
	name      string
	alias     string
	joinRule  string
	encrypted bool
	members   map[string]*memberState
}

type roomModel struct {
	rooms   map[string]*roomState
	invites map[string]*Invite
	direct  map[string][]string // m.direct: user → rooms
	peerOf  map[string]string   // room → DM peer, derived from direct
}

func newRoomModel() *roomModel {
	return &roomModel{
		rooms:   map[string]*roomState{},
		invites: map[string]*Invite{},
		direct:  map[string][]string{},
		peerOf:  map[string]string{},
	}
}

func (m *roomModel) room(roomID string) *roomState {
	r := m.rooms[roomID]
	if r == nil {
		r = &roomState{id: roomID, members: map[string]*memberState{}}
		m.rooms[roomID] = r
	}
	return r
}

func (m *roomModel) setDirect(d map[string][]string) {
	m.direct = d
	m.peerOf = map[string]string{}
	for user, rooms := range d {
		for _, r := range rooms {
			m.peerOf[r] = user
		}
	}
}

// apply folds one sync batch into the model. It returns the call events
// to hand to the engine (in order), those left out because they came
// unencrypted into an encrypted room, the peers that left, and whether
// anything the room list shows changed.
func (m *roomModel) apply(me string, b *batch) (calls []callengine.RoomEvent, rtc []matrixrtc.RoomEvent, plain []callengine.RoomEvent, left []peerLeft, changed bool) {
	var encrypted []bool // of each of calls
	for _, r := range b.joined {
		if _, ok := m.rooms[r]; !ok {
			m.room(r)
			changed = true
		}
		if _, ok := m.invites[r]; ok {
			delete(m.invites, r)
			changed = true
		}
	}
	for _, r := range b.invited {
		if _, ok := m.invites[r]; !ok {
			m.invites[r] = &Invite{RoomID: r}
			changed = true
		}
	}
	for _, it := range b.items {
		if it.rtc.Type != "" {
			rtc = append(rtc, it.rtc)
		}
		switch {
		case it.kind == itemRTC:
			continue
		case it.kind == itemCall:
			calls = append(calls, it.call)
			encrypted = append(encrypted, it.encrypted)
			continue
		case it.kind == itemDirect:
			m.setDirect(it.direct)
		case it.source&event.SourceInvite != 0:
			m.applyInvite(me, it)
		case it.source&event.SourceJoin != 0:
			if p, ok := m.applyJoined(me, it); ok {
				left = append(left, p)
			}
		default:
			continue
		}
		changed = true
	}
	for _, r := range b.left {
		rtc = append(rtc, matrixrtc.RoomEvent{RoomID: r, Type: matrixrtc.TypeLeftRoom})
		if rs, ok := m.rooms[r]; ok {
			for u, ms := range rs.members {
				if u != me && ms.membership == "join" {
					left = append(left, peerLeft{roomID: r, userID: u})
				}
			}
			delete(m.rooms, r)
			changed = true
		}
		if _, ok := m.invites[r]; ok {
			delete(m.invites, r)
			changed = true
		}
	}
	// Ring only for invites in rooms that are one-to-one and not public,
	// and take call events in an encrypted room only if they came
	// encrypted, judged on the room as it is after the whole batch (which
	// may have joined it).
	kept := calls[:0]
	for i, ev := range calls {
		if rs := m.rooms[ev.RoomID]; rs != nil && rs.encrypted && !encrypted[i] {
			plain = append(plain, ev)
			continue
		}
		if ev.Type == callengine.EventInvite {
			if rs := m.rooms[ev.RoomID]; rs == nil || rs.joinRule == "public" || m.callPeer(me, rs) == "" {
				continue // not a one-to-one room: do not ring
			}
		}
		kept = append(kept, ev)
	}
	// The same rule for rings and declines (state events are never
	// encrypted).
	keptRTC := rtc[:0]
	for _, ev := range rtc {
		if rs := m.rooms[ev.RoomID]; ev.StateKey == nil && !ev.Encrypted && rs != nil && rs.encrypted &&
			(ev.Type == matrixrtc.TypeRTCNotification || ev.Type == matrixrtc.TypeCallNotify || ev.Type == matrixrtc.TypeRTCDecline) {
			plain = append(plain, callengine.RoomEvent{RoomID: ev.RoomID, EventID: ev.EventID, Sender: ev.Sender, Type: ev.Type})
			continue
		}
		keptRTC = append(keptRTC, ev)
	}
	return kept, keptRTC, plain, left, changed
}

func (m *roomModel) applyInvite(me string, it item) {
	if _, joined := m.rooms[it.roomID]; joined {
		return // an invite's stripped state, replayed after we joined
	}
	inv := m.invites[it.roomID]
	if inv == nil {
		inv = &Invite{RoomID: it.roomID}
		m.invites[it.roomID] = inv
	}
	switch it.kind {
	case itemMember:
		if it.stateKey == me && it.membership == "invite" {
			inv.Inviter, inv.IsDirect = it.sender, it.isDirect
		}
		if it.stateKey == inv.Inviter || (inv.Inviter == "" && it.stateKey != me) {
			inv.InviterName = it.displayName
		}
	case itemName:
		inv.Name = it.text
	case itemAlias:
		if inv.Name == "" {
			inv.Name = it.text
		}
	}
}

func (m *roomModel) applyJoined(me string, it item) (peerLeft, bool) {
	rs := m.room(it.roomID)
	switch it.kind {
	case itemMember:
		prev := rs.members[it.stateKey]
		if it.membership == "leave" || it.membership == "ban" {
			delete(rs.members, it.stateKey)
			if prev != nil && prev.membership == "join" && it.stateKey != me {
				return peerLeft{roomID: it.roomID, userID: it.stateKey}, true
			}
			return peerLeft{}, false
		}
		rs.members[it.stateKey] = &memberState{membership: it.membership, displayName: it.displayName}
	case itemName:
		rs.name = it.text
	case itemAlias:
		rs.alias = it.text
	case itemJoinRules:
		rs.joinRule = it.text
	case itemEncryption:
		rs.encrypted = true
	}
	return peerLeft{}, false
}

// callPeer returns the other joined member when the room has exactly two
// joined members, one of them us.
func (m *roomModel) callPeer(me string, rs *roomState) string {
	var peer string
	n := 0
	meIn := false
	for u, ms := range rs.members {
		if ms.membership != "join" {
			continue
		}
		n++
		if u == me {
			meIn = true
		} else {
			peer = u
		}
	}
	if n != 2 || !meIn {
		return ""
	}
	return peer
}

func (m *roomModel) snapshot(me string, rs *roomState) Room {
	r := Room{ID: rs.id, Encrypted: rs.encrypted, Public: rs.joinRule == "public", DirectPeer: m.peerOf[rs.id]}
	for u, ms := range rs.members {
		switch ms.membership {
		case "join":
			r.Members = append(r.Members, Member{UserID: u, DisplayName: ms.displayName})
		case "invite":
			r.Invited = append(r.Invited, Member{UserID: u, DisplayName: ms.displayName})
		}
	}
	byID := func(a, b Member) int { return strings.Compare(a.UserID, b.UserID) }
	slices.SortFunc(r.Members, byID)
	slices.SortFunc(r.Invited, byID)
	r.CallPeer = m.callPeer(me, rs)
	r.Name = cmp.Or(rs.name, rs.alias)
	if r.Name == "" && r.DirectPeer != "" {
		r.Name = r.DirectPeer
		if ms := rs.members[r.DirectPeer]; ms != nil && ms.displayName != "" {
			r.Name = ms.displayName
		}
	}
	if r.Name == "" {
		var names []string
		for _, mm := range append(slices.Clone(r.Members), r.Invited...) {
			if mm.UserID != me {
				names = append(names, mm.Name())
			}
		}
		r.Name = cmp.Or(strings.Join(names, ", "), "Empty room")
	}
	return r
}

// Rooms returns the joined rooms, sorted by name.
func (c *Client) Rooms() []Room {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Room, 0, len(c.rooms.rooms))
	for _, rs := range c.rooms.rooms {
		out = append(out, c.rooms.snapshot(c.sess.UserID, rs))
	}
	slices.SortFunc(out, func(a, b Room) int {
		return cmp.Or(strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)), strings.Compare(a.ID, b.ID))
	})
	return out
}

// Room returns one joined room.
func (c *Client) Room(roomID string) (Room, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rs, ok := c.rooms.rooms[roomID]
	if !ok {
		return Room{}, false
	}
	return c.rooms.snapshot(c.sess.UserID, rs), true
}

// Invites returns the pending invites, sorted by room ID.
func (c *Client) Invites() []Invite {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Invite, 0, len(c.rooms.invites))
	for _, inv := range c.rooms.invites {
		out = append(out, *inv)
	}
	slices.SortFunc(out, func(a, b Invite) int { return strings.Compare(a.RoomID, b.RoomID) })
	return out
}

// DirectRoom returns a joined DM room with userID, preferring one that can
// be called.
func (c *Client) DirectRoom(userID string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	found := ""
	for _, r := range c.rooms.direct[userID] {
		rs, ok := c.rooms.rooms[r]
		if !ok {
			continue
		}
		if c.rooms.callPeer(c.sess.UserID, rs) == userID {
			return r, true
		}
		found = cmp.Or(found, r)
	}
	return found, found != ""
}

// CallPeer returns the user a call in roomID goes to. By default only
// rooms with exactly two joined members can be called (ErrNotCallable).
func (c *Client) CallPeer(roomID string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rs, ok := c.rooms.rooms[roomID]
	if !ok {
		return "", fmt.Errorf("%w: %s", ErrUnknownRoom, roomID)
	}
	p := c.rooms.callPeer(c.sess.UserID, rs)
	if p == "" {
		return "", fmt.Errorf("%w: %s", ErrNotCallable, roomID)
	}
	return p, nil
}

// CreateDM creates a private room with userID, invites them and records it
// as a DM in m.direct. The room becomes callable once they join.
func (c *Client) CreateDM(ctx context.Context, userID string) (string, error) {
	if _, err := ServerName(userID); err != nil {
		return "", err
	}
	mx, err := c.mautrixClient()
	if err != nil {
		return "", err
	}
	req := &mautrix.ReqCreateRoom{
		Preset:   "trusted_private_chat",
		IsDirect: true,
		Invite:   []id.UserID{id.UserID(userID)},
	}
	c.mu.Lock()
	encrypt := E2EEAvailable && !c.cfg.noE2EE && !c.cfg.plainDMs
	ready := c.crypto != nil
	c.mu.Unlock()
	if encrypt && !ready {
		return "", fmt.Errorf("%w: not ready yet, cannot create an encrypted DM", ErrNoE2EE)
	}
	if encrypt {
		req.InitialState = []*event.Event{{
			Type:    event.StateEncryption,
			Content: event.Content{Parsed: &event.EncryptionEventContent{Algorithm: id.AlgorithmMegolmV1}},
		}}
	}
	resp, err := mx.CreateRoom(ctx, req)
	if err != nil {
		return "", fmt.Errorf("matrixclient: create DM with %s: %w", userID, err)
	}
	roomID := resp.RoomID.String()
	if err := c.addDirect(ctx, mx, userID, roomID); err != nil {
		return roomID, err
	}
	return roomID, nil
}

// AcceptInvite joins an invited room (recording it in m.direct when the
// inviter marked it as a DM).
func (c *Client) AcceptInvite(ctx context.Context, roomID string) error {
	mx, err := c.mautrixClient()
	if err != nil {
		return err
	}
	c.mu.Lock()
	var inv Invite
	if p := c.rooms.invites[roomID]; p != nil {
		inv = *p
	}
	c.mu.Unlock()
	if _, err := mx.JoinRoomByID(ctx, id.RoomID(roomID)); err != nil {
		return fmt.Errorf("matrixclient: join %s: %w", roomID, err)
	}
	// Joined: no longer an invite, even before the sync that says so (a
	// caller looping over Invites would otherwise join it again).
	c.mu.Lock()
	delete(c.rooms.invites, roomID)
	c.mu.Unlock()
	c.notify(ChangeRooms)
	if inv.IsDirect && inv.Inviter != "" {
		return c.addDirect(ctx, mx, inv.Inviter, roomID)
	}
	return nil
}

// DeclineInvite leaves (rejects) an invited room.
func (c *Client) DeclineInvite(ctx context.Context, roomID string) error {
	mx, err := c.mautrixClient()
	if err != nil {
		return err
	}
	if _, err := mx.LeaveRoom(ctx, id.RoomID(roomID)); err != nil {
		return fmt.Errorf("matrixclient: decline %s: %w", roomID, err)
	}
	c.mu.Lock()
	delete(c.rooms.invites, roomID)
	c.mu.Unlock()
	c.notify(ChangeRooms)
	return nil
}

// addDirect adds roomID to m.direct under userID (read-modify-write).
func (c *Client) addDirect(ctx context.Context, mx *mautrix.Client, userID, roomID string) error {
	d := map[string][]string{}
	if err := mx.GetAccountData(ctx, event.AccountDataDirectChats.Type, &d); err != nil && !errors.Is(err, mautrix.MNotFound) {
		return fmt.Errorf("matrixclient: read m.direct: %w", err)
	}
	if d == nil {
		d = map[string][]string{}
	}
	if slices.Contains(d[userID], roomID) {
		return nil
	}
	d[userID] = append(d[userID], roomID)
	if err := mx.SetAccountData(ctx, event.AccountDataDirectChats.Type, d); err != nil {
		return fmt.Errorf("matrixclient: write m.direct: %w", err)
	}
	c.mu.Lock()
	c.rooms.setDirect(d)
	c.mu.Unlock()
	c.notify(ChangeRooms)
	return nil
}
