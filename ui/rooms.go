package ui

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"reflect"
	"sort"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/mxcall/mxcall/assets"
)

// RoomListActions are what the room list asks its owner to do.
type RoomListActions struct {
	Call func(r Room, video bool)
	// Join joins or starts the MatrixRTC call of a room; nil when there
	// are no group calls (group rooms then offer no call).
	Join     func(r Room, video bool)
	Settings func()
	Logout   func()
	// Verify asks the peer of an encrypted DM to verify; nil when the
	// backend cannot (no Verify button then).
	Verify func(r Room)
}

// RoomListScreen shows missed calls that could not be decrypted, invites
// and rooms (direct chats first) with call buttons and whether each room is
// encrypted and its peer's devices verified, a search field, "start a
// chat", the sync banner and the TURN warning. With group calls
// (RoomListActions.Join), group rooms get call buttons too, and a room
// whose MatrixRTC call is in progress is marked, with a Join button.
type RoomListScreen struct {
	widget.BaseWidget

	Search    *widget.Entry
	NewDM     *widget.Entry
	NewDMBtn  *widget.Button
	Banner    *fyne.Container
	bannerTxt *canvas.Text
	bannerBg  *canvas.Rectangle
	TURNWarn  *fyne.Container
	Error     *widget.Label
	list      *fyne.Container
	me        *widget.Label

	rooms     Rooms
	cfg       *config
	act       RoomListActions
	snap      RoomsSnapshot
	updated   bool
	dismissed map[string]bool // missed-call entries the user dismissed, by event ID
	content   fyne.CanvasObject
}

// NewRoomListScreen returns the room list for the logged-in user me. Call
// Update with each RoomsSnapshot (on the UI goroutine).
func NewRoomListScreen(me Session, rooms Rooms, act RoomListActions, opts ...Option) *RoomListScreen {
	return newRoomListScreen(me, rooms, act, applyOpts(opts))
}

func newRoomListScreen(me Session, rooms Rooms, act RoomListActions, cfg *config) *RoomListScreen {
	s := &RoomListScreen{rooms: rooms, cfg: cfg, act: act, dismissed: map[string]bool{}}

	name := me.DisplayName
	if name == "" {
		name = me.UserID
	}
	s.me = widget.NewLabelWithStyle(name, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	settings := widget.NewButtonWithIcon("", theme.SettingsIcon(), func() {
		if s.act.Settings != nil {
			s.act.Settings()
		}
	})
	logout := widget.NewButtonWithIcon("Log out", theme.LogoutIcon(), func() {
		if s.act.Logout != nil {
			s.act.Logout()
		}
	})
	header := container.NewBorder(nil, nil,
		NewAvatar(me.UserID, name, nil, 32), container.NewHBox(settings, logout), s.me)

	s.bannerBg = canvas.NewRectangle(color.NRGBA{0xff, 0xa0, 0x00, 0xff})
	s.bannerTxt = canvas.NewText("", color.Black)
	s.bannerTxt.Alignment = fyne.TextAlignCenter
	s.bannerTxt.TextStyle.Bold = true
	s.Banner = container.NewStack(s.bannerBg, container.NewPadded(s.bannerTxt))
	s.Banner.Hide()

	warnIcon := widget.NewIcon(theme.NewWarningThemedResource(theme.WarningIcon()))
	warnText := widget.NewLabel("Your homeserver offers no TURN server: calls between different networks may not connect.")
	warnText.Wrapping = fyne.TextWrapWord
	warnText.Importance = widget.WarningImportance
	s.TURNWarn = container.NewBorder(nil, nil, warnIcon, nil, warnText)
	s.TURNWarn.Hide()

	s.Search = widget.NewEntry()
	s.Search.SetPlaceHolder("Search rooms and people")
	s.Search.ActionItem = widget.NewIcon(theme.SearchIcon())
	s.Search.OnChanged = func(string) { s.rebuild() }

	s.NewDM = widget.NewEntry()
	s.NewDM.SetPlaceHolder("Start a chat: @bob:example.org")
	s.NewDMBtn = widget.NewButtonWithIcon("Start chat", theme.ContentAddIcon(), s.startDM)
	s.NewDM.OnSubmitted = func(string) { s.startDM() }
	s.Error = widget.NewLabel("")
	s.Error.Importance = widget.DangerImportance
	s.Error.Wrapping = fyne.TextWrapWord
	s.Error.Hide()

	s.list = container.NewVBox()
	top := container.NewVBox(
		s.Banner,
		container.NewPadded(header),
		s.TURNWarn,
		s.Search,
	)
	bottom := container.NewVBox(
		widget.NewSeparator(),
		s.Error,
		container.NewBorder(nil, nil, nil, s.NewDMBtn, s.NewDM),
	)
	// Keep the rows clear of the scroll bar, which is drawn over the
	// right edge: it would cover the video-call buttons.
	rows := container.New(layout.NewCustomPaddedLayout(0, 0, 0, theme.ScrollBarSize()+theme.Padding()), s.list)
	s.content = container.NewBorder(top, bottom, nil, nil, container.NewVScroll(rows))
	s.rebuild()
	s.ExtendBaseWidget(s)
	return s
}

// CreateRenderer implements fyne.Widget.
func (s *RoomListScreen) CreateRenderer() fyne.WidgetRenderer {
	return widget.NewSimpleRenderer(s.content)
}

// Update shows a new snapshot. Call it on the UI goroutine.
func (s *RoomListScreen) Update(snap RoomsSnapshot) {
	if s.updated && sameSnapshot(s.snap, snap) {
		return // syncs that change nothing shown must not rebuild the list
	}
	s.updated = true
	s.snap = snap
	switch snap.Sync {
	case SyncOffline:
		s.bannerBg.FillColor = dangerColor()
		s.bannerTxt.Color = color.White
		s.bannerTxt.Text = "Offline: can't reach the homeserver. Retrying…"
		s.Banner.Show()
	case SyncConnecting:
		s.bannerBg.FillColor = color.NRGBA{0xff, 0xa0, 0x00, 0xff}
		s.bannerTxt.Color = color.Black
		s.bannerTxt.Text = "Connecting to the homeserver…"
		s.Banner.Show()
	default:
		s.Banner.Hide()
	}
	s.bannerBg.Refresh()
	s.bannerTxt.Refresh()
	if snap.NoTURN {
		s.TURNWarn.Show()
	} else {
		s.TURNWarn.Hide()
	}
	s.rebuild()
	s.content.Refresh()
}

// sortedRooms returns the rooms matching the search, DMs first, newest first.
func (s *RoomListScreen) sortedRooms() []Room {
	q := strings.ToLower(strings.TrimSpace(s.Search.Text))
	var out []Room
	for _, r := range s.snap.Rooms {
		if q == "" || strings.Contains(strings.ToLower(r.Name), q) || strings.Contains(strings.ToLower(r.Peer), q) {
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].DM != out[j].DM {
			return out[i].DM
		}
		if !out[i].LastActive.Equal(out[j].LastActive) {
			return out[i].LastActive.After(out[j].LastActive)
		}
		return out[i].Name < out[j].Name
	})
	return out
}

func (s *RoomListScreen) rebuild() {
	var objs []fyne.CanvasObject
	if missed := s.Missed(); len(missed) > 0 {
		objs = append(objs, sectionTitle("Missed calls"))
		for _, m := range missed {
			objs = append(objs, s.missedRow(m))
		}
	}
	if len(s.snap.Invites) > 0 {
		objs = append(objs, sectionTitle("Invites"))
		for _, inv := range s.snap.Invites {
			objs = append(objs, s.inviteRow(inv))
		}
	}
	rooms := s.sortedRooms()
	if len(rooms) > 0 {
		objs = append(objs, sectionTitle("Rooms"))
	}
	for _, r := range rooms {
		objs = append(objs, s.roomRow(r))
	}
	if len(rooms) == 0 {
		msg := "No rooms yet. Start a chat with someone's Matrix ID below."
		if s.Search.Text != "" {
			msg = "No rooms match your search."
		}
		l := widget.NewLabel(msg)
		l.Alignment = fyne.TextAlignCenter
		l.Importance = widget.LowImportance
		objs = append(objs, l)
	}
	s.list.Objects = objs
	s.list.Refresh()
}

func sectionTitle(t string) fyne.CanvasObject {
	l := widget.NewLabelWithStyle(strings.ToUpper(t), fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	l.SizeName = theme.SizeNameCaptionText
	return l
}

func (s *RoomListScreen) roomRow(r Room) fyne.CanvasObject {
	id := r.Peer
	if id == "" {
		id = r.ID
	}
	title := widget.NewLabelWithStyle(r.Name, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	title.Truncation = fyne.TextTruncateEllipsis
	group := s.act.Join != nil
	subText := r.Peer
	if !r.DM {
		subText = "Group room: calls are one-to-one only"
		if group {
			subText = "Group room"
		}
	}
	sub := widget.NewLabel(subText)
	sub.Importance = widget.LowImportance
	security := securityRow(r)
	if s.act.Verify != nil && r.DM && r.Encrypted && r.Peer != "" && r.Trust == TrustUnverified {
		verify := widget.NewButton("Verify", func() { s.act.Verify(r) })
		verify.Importance = widget.WarningImportance
		security = container.NewBorder(nil, nil, nil, verify, security)
	}
	subLine := container.NewBorder(nil, nil, sub, nil, security)
	titleLine := fyne.CanvasObject(title)
	if r.CallMembers > 0 {
		titleLine = container.NewBorder(nil, nil, nil, callMarker(r.CallMembers), title)
	}
	text := container.New(layout.NewCustomPaddedVBoxLayout(-12), titleLine, subLine)
	buttons := fyne.CanvasObject(layout.NewSpacer())
	switch {
	case r.CallMembers > 0 && group:
		join := widget.NewButtonWithIcon("Join", theme.NewThemedResource(assets.Videocam), func() { s.join(r, true) })
		join.Importance = widget.SuccessImportance
		buttons = container.NewCenter(join)
	case r.DM && r.Peer != "":
		voice := widget.NewButtonWithIcon("", theme.NewThemedResource(assets.Phone), func() { s.call(r, false) })
		video := widget.NewButtonWithIcon("", theme.NewThemedResource(assets.Videocam), func() { s.call(r, true) })
		buttons = container.NewCenter(container.NewHBox(voice, video))
	case !r.DM && group:
		voice := widget.NewButtonWithIcon("", theme.NewThemedResource(assets.Phone), func() { s.join(r, false) })
		video := widget.NewButtonWithIcon("", theme.NewThemedResource(assets.Videocam), func() { s.join(r, true) })
		buttons = container.NewCenter(container.NewHBox(voice, video))
	}
	return container.NewBorder(nil, nil, NewAvatar(id, r.Name, r.Avatar, 40), buttons, text)
}

// callMarker says that a room's call is in progress and how many devices
// are in it.
func callMarker(n int) fyne.CanvasObject {
	l := widget.NewLabel(fmt.Sprintf("Call in progress · %d joined", n))
	l.Importance = widget.SuccessImportance
	return container.NewHBox(widget.NewIcon(theme.NewSuccessThemedResource(assets.Phone)), l)
}

func (s *RoomListScreen) inviteRow(inv Invite) fyne.CanvasObject {
	who := inv.InviterName
	if who == "" {
		who = inv.Inviter
	}
	msg := who + " invited you to chat"
	if !inv.DM && inv.RoomName != "" {
		msg = who + " invited you to " + inv.RoomName
	}
	title := widget.NewLabelWithStyle(msg, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	title.Truncation = fyne.TextTruncateEllipsis
	sub := widget.NewLabel(inv.Inviter)
	sub.Importance = widget.LowImportance
	text := container.New(layout.NewCustomPaddedVBoxLayout(-12), title, sub)
	accept := widget.NewButtonWithIcon("Accept", theme.ConfirmIcon(), nil)
	decline := widget.NewButtonWithIcon("Decline", theme.CancelIcon(), nil)
	accept.Importance = widget.HighImportance
	accept.OnTapped = func() {
		accept.Disable()
		decline.Disable()
		s.roomAction(func(ctx context.Context) error { return s.rooms.AcceptInvite(ctx, inv.RoomID) }, func() { accept.Enable(); decline.Enable() })
	}
	decline.OnTapped = func() {
		accept.Disable()
		decline.Disable()
		s.roomAction(func(ctx context.Context) error { return s.rooms.DeclineInvite(ctx, inv.RoomID) }, func() { accept.Enable(); decline.Enable() })
	}
	return container.NewBorder(nil, nil, NewAvatar(inv.Inviter, who, nil, 40),
		container.NewCenter(container.NewHBox(accept, decline)), text)
}

// Missed returns the missed calls that could not be decrypted and were not
// dismissed, newest first.
func (s *RoomListScreen) Missed() []MissedCall {
	var out []MissedCall
	for _, m := range s.snap.Missed {
		if !s.dismissed[m.EventID] {
			out = append(out, m)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.After(out[j].Time) })
	return out
}

// Dismiss hides a missed-call entry (by event ID) from the list.
func (s *RoomListScreen) Dismiss(eventID string) {
	s.dismissed[eventID] = true
	s.rebuild()
}

func (s *RoomListScreen) missedRow(m MissedCall) fyne.CanvasObject {
	who := m.SenderName
	if who == "" {
		who = m.Sender
	}
	title := widget.NewLabelWithStyle(missedText(m), fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	title.Truncation = fyne.TextTruncateEllipsis
	sub := widget.NewLabel(missedDetail(m, s.cfg.now()))
	sub.Importance = widget.LowImportance
	sub.Truncation = fyne.TextTruncateEllipsis
	icon := widget.NewIcon(theme.NewWarningThemedResource(assets.Phone))
	text := container.New(layout.NewCustomPaddedVBoxLayout(-12), title, container.NewBorder(nil, nil, icon, nil, sub))
	id := m.EventID
	dismiss := widget.NewButtonWithIcon("Dismiss", theme.CancelIcon(), func() { s.Dismiss(id) })
	buttons := container.NewHBox(dismiss)
	if r, ok := s.RoomByID(m.RoomID); ok && r.DM && r.Peer != "" {
		back := widget.NewButtonWithIcon("Call back", theme.NewThemedResource(assets.Phone), func() { s.call(r, false) })
		buttons.Objects = []fyne.CanvasObject{back, dismiss}
	}
	var avatar image.Image
	if r, ok := s.RoomByID(m.RoomID); ok && r.Peer == m.Sender {
		avatar = r.Avatar
	}
	return container.NewBorder(nil, nil, NewAvatar(m.Sender, who, avatar, 40), container.NewCenter(buttons), text)
}

// roomAction runs f through the runner and shows its error; onErr runs on
// the UI goroutine after a failure.
func (s *RoomListScreen) roomAction(f func(ctx context.Context) error, onErr func()) {
	s.Error.Hide()
	s.cfg.run(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err := f(ctx)
		if err == nil {
			return
		}
		s.cfg.do(func() {
			s.Error.SetText(err.Error())
			s.Error.Show()
			if onErr != nil {
				onErr()
			}
		})
	})
}

func (s *RoomListScreen) startDM() {
	id := strings.TrimSpace(s.NewDM.Text)
	if !looksComplete(id) {
		s.Error.SetText("Enter a full Matrix ID, like @bob:example.org.")
		s.Error.Show()
		return
	}
	s.NewDMBtn.Disable()
	s.Error.Hide()
	s.cfg.run(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := s.rooms.CreateDM(ctx, id)
		s.cfg.do(func() {
			s.NewDMBtn.Enable()
			if err != nil {
				s.Error.SetText("Could not start a chat with " + id + ": " + err.Error())
				s.Error.Show()
				return
			}
			s.NewDM.SetText("")
		})
	})
}

func (s *RoomListScreen) call(r Room, video bool) {
	if s.act.Call != nil {
		s.act.Call(r, video)
	}
}

func (s *RoomListScreen) join(r Room, video bool) {
	if s.act.Join != nil {
		s.act.Join(r, video)
	}
}

// RoomByID finds a room of the last snapshot.
func (s *RoomListScreen) RoomByID(id string) (Room, bool) {
	for _, r := range s.snap.Rooms {
		if r.ID == id {
			return r, true
		}
	}
	return Room{}, false
}

// sameSnapshot reports whether a and b show the same thing (avatars are
// compared by identity).
func sameSnapshot(a, b RoomsSnapshot) bool {
	if a.Sync != b.Sync || a.NoTURN != b.NoTURN || len(a.Rooms) != len(b.Rooms) || len(a.Invites) != len(b.Invites) ||
		len(a.Missed) != len(b.Missed) {
		return false
	}
	for i := range a.Rooms {
		x, y := a.Rooms[i], b.Rooms[i]
		if x.ID != y.ID || x.Name != y.Name || x.Peer != y.Peer || x.DM != y.DM ||
			x.Encrypted != y.Encrypted || x.Trust != y.Trust || x.CallMembers != y.CallMembers ||
			!x.LastActive.Equal(y.LastActive) || !sameImage(x.Avatar, y.Avatar) {
			return false
		}
	}
	for i := range a.Missed {
		x, y := a.Missed[i], b.Missed[i]
		if x.RoomID != y.RoomID || x.EventID != y.EventID || x.Sender != y.Sender || x.SenderName != y.SenderName ||
			!x.Time.Equal(y.Time) || x.Reason != y.Reason {
			return false
		}
	}
	for i := range a.Invites {
		if a.Invites[i] != b.Invites[i] {
			return false
		}
	}
	return true
}

// sameImage reports whether a and b are the same image object (never
// compares non-comparable image values, which would panic).
func sameImage(a, b image.Image) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	return va.Kind() == reflect.Pointer && vb.Kind() == reflect.Pointer && va.Pointer() == vb.Pointer() && va.Type() == vb.Type()
}
