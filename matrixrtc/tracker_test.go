package matrixrtc

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/pion/transport/v5/test"
)

// trackerLog records a Tracker's callbacks.
type trackerLog struct {
	rings    chan Ring
	ended    chan string // "eventID why"
	declined chan string // "room notification sender"
	members  chan string // "room n"
}

func newTrackerLog() *trackerLog {
	return &trackerLog{rings: make(chan Ring, 16), ended: make(chan string, 16), declined: make(chan string, 16), members: make(chan string, 64)}
}

func (l *trackerLog) config(user, device string) TrackerConfig {
	return TrackerConfig{
		UserID: user, DeviceID: device,
		OnRing:      func(r Ring) { l.rings <- r },
		OnRingEnded: func(r Ring, why RingEnd) { l.ended <- r.EventID + " " + why.String() },
		OnDeclined:  func(room, n, s string) { l.declined <- room + " " + n + " " + s },
		OnMembers:   func(room string, ms []Membership) { l.members <- fmt.Sprintf("%s %d", room, len(ms)) },
	}
}

func next[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatalf("no %s", what)
		var zero T
		return zero
	}
}

func none[T any](t *testing.T, ch <-chan T, what string) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("unexpected %s: %v", what, v)
	case <-time.After(100 * time.Millisecond):
	}
}

func strp(s string) *string { return &s }

func memberJoin(room, user string) RoomEvent {
	return RoomEvent{RoomID: room, Type: "m.room.member", StateKey: strp(user), Sender: user, Content: json.RawMessage(`{"membership":"join","displayname":"x"}`)}
}

func callJoin(room, user, device string, expires time.Duration) RoomEvent {
	c, _ := json.Marshal(NewStateContent(user, device, room, Transport{Type: TransportLiveKit, ServiceURL: "http://127.0.0.1:8090"}, "video", expires, time.Time{}))
	return RoomEvent{RoomID: room, EventID: "$m-" + user + device, Type: TypeCallMember, StateKey: strp(StateKey(user, device)), Sender: user,
		OriginServerTS: time.Now().UnixMilli(), Content: c}
}

func callLeave(room, user, device string) RoomEvent {
	return RoomEvent{RoomID: room, Type: TypeCallMember, StateKey: strp(StateKey(user, device)), Sender: user,
		OriginServerTS: time.Now().UnixMilli(), Content: json.RawMessage(`{}`)}
}

func ringEv(room, sender, id string, lifetime time.Duration, sent time.Time) RoomEvent {
	c, _ := json.Marshal(RingContent("$m", true, lifetime, sent))
	return RoomEvent{RoomID: room, EventID: id, Type: TypeRTCNotification, Sender: sender, OriginServerTS: sent.UnixMilli(), Content: c}
}

func declineEv(room, sender, of string) RoomEvent {
	c, _ := json.Marshal(DeclineContent(of))
	return RoomEvent{RoomID: room, EventID: "$d" + of, Type: TypeRTCDecline, Sender: sender, Content: c}
}

func TestTrackerRingsAndEndsWhenTheCallerLeaves(t *testing.T) {
	defer test.CheckRoutines(t)()
	l := newTrackerLog()
	tr := NewTracker(l.config(bob, "BOBDEV"))
	defer tr.Close()
	tr.Handle([]RoomEvent{memberJoin(roomID, alice), memberJoin(roomID, bob), callJoin(roomID, alice, "ALICEDEV", time.Hour),
		ringEv(roomID, alice, "$ring", 30*time.Second, time.Now())})
	r := next(t, l.rings, "ring")
	if r.RoomID != roomID || r.Sender != alice || !r.Video || r.Legacy || time.Until(r.Expires) < 25*time.Second {
		t.Fatalf("ring = %+v", r)
	}
	if got := next(t, l.members, "members"); got != roomID+" 1" {
		t.Fatalf("members = %q", got)
	}
	if rs := tr.Rings(); len(rs) != 1 || rs[0].EventID != "$ring" {
		t.Fatalf("Rings() = %+v", rs)
	}
	if ms := tr.Members(roomID); len(ms) != 1 || ms[0].Sender != alice {
		t.Fatalf("Members() = %+v", ms)
	}
	tr.Handle([]RoomEvent{callLeave(roomID, alice, "ALICEDEV")})
	if got := next(t, l.ended, "ring end"); got != "$ring caller_left" {
		t.Fatalf("ended = %q", got)
	}
	if got := next(t, l.members, "members"); got != roomID+" 0" {
		t.Fatalf("members = %q", got)
	}
	if len(tr.Rings()) != 0 || len(tr.Members(roomID)) != 0 {
		t.Fatal("ring or members left after the caller left")
	}
}

func TestTrackerIgnoresRingsThatMustNotRing(t *testing.T) {
	defer test.CheckRoutines(t)()
	l := newTrackerLog()
	tr := NewTracker(l.config(bob, "BOBDEV"))
	defer tr.Close()
	notify := func(typ, content string) RoomEvent {
		return RoomEvent{RoomID: roomID, EventID: "$n" + content, Type: typ, Sender: alice, OriginServerTS: time.Now().UnixMilli(), Content: json.RawMessage(content)}
	}
	tr.Handle([]RoomEvent{memberJoin(roomID, alice), memberJoin(roomID, bob),
		ringEv(roomID, alice, "$before-join", 30*time.Second, time.Now()), // alice not in the call yet
		callJoin(roomID, alice, "ALICEDEV", time.Hour),
		ringEv(roomID, alice, "$old", 30*time.Second, time.Now().Add(-time.Minute)),
		ringEv(roomID, bob, "$mine", 30*time.Second, time.Now()),
		notify(TypeRTCNotification, `{"notification_type":"notification","lifetime":30000}`),
		notify(TypeRTCNotification, `{"notification_type":"ring","lifetime":"x"}`),
		notify(TypeRTCNotification, `[`),
		notify(TypeCallNotify, `{"notify_type":"notify","application":"m.call"}`),
		notify(TypeCallNotify, `{"notify_type":"ring","application":"m.other"}`),
		{RoomID: roomID, EventID: "$state", Type: TypeRTCNotification, StateKey: strp(""), Sender: alice, Content: json.RawMessage(`{"notification_type":"ring"}`)},
	})
	none(t, l.rings, "ring")
	// The old form rings; a huge lifetime is capped.
	tr.Handle([]RoomEvent{notify(TypeCallNotify, `{"notify_type":"ring","application":"m.call","call_id":"","lifetime":99999999}`)})
	r := next(t, l.rings, "legacy ring")
	if !r.Legacy || time.Until(r.Expires) > MaxRingLifetime {
		t.Fatalf("legacy ring = %+v", r)
	}
}

func TestTrackerRingEnds(t *testing.T) {
	for _, tc := range []struct {
		name string
		then func(tr *Tracker)
		want string
	}{
		{"declined here", func(tr *Tracker) { tr.Handle([]RoomEvent{declineEv(roomID, bob, "$ring")}) }, "declined"},
		{"answered here", func(tr *Tracker) { tr.Handle([]RoomEvent{callJoin(roomID, bob, "BOBDEV", time.Hour)}) }, "answered_here"},
		{"answered elsewhere", func(tr *Tracker) { tr.Handle([]RoomEvent{callJoin(roomID, bob, "PHONE", time.Hour)}) }, "answered_elsewhere"},
		{"timed out", func(*Tracker) {}, "timed_out"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer test.CheckRoutines(t)()
			l := newTrackerLog()
			tr := NewTracker(l.config(bob, "BOBDEV"))
			defer tr.Close()
			tr.Handle([]RoomEvent{memberJoin(roomID, alice), memberJoin(roomID, bob), callJoin(roomID, alice, "ALICEDEV", time.Hour),
				ringEv(roomID, alice, "$ring", 300*time.Millisecond, time.Now())})
			next(t, l.rings, "ring")
			tc.then(tr)
			if got := next(t, l.ended, "ring end"); got != "$ring "+tc.want {
				t.Fatalf("ended = %q, want %q", got, "$ring "+tc.want)
			}
			none(t, l.ended, "second ring end")
			none(t, l.declined, "decline report")
		})
	}
}

func TestTrackerReportsDeclinesOfOurRing(t *testing.T) {
	defer test.CheckRoutines(t)()
	l := newTrackerLog()
	tr := NewTracker(l.config(alice, "ALICEDEV"))
	defer tr.Close()
	tr.Handle([]RoomEvent{memberJoin(roomID, alice), memberJoin(roomID, bob), callJoin(roomID, alice, "ALICEDEV", time.Hour),
		ringEv(roomID, alice, "$ours", 30*time.Second, time.Now()),
		declineEv(roomID, bob, "$ours"),
		{RoomID: roomID, Type: TypeRTCDecline, Sender: bob, Content: json.RawMessage(`{"m.relates_to":{"rel_type":"m.annotation","event_id":"$ours"}}`)},
		{RoomID: roomID, Type: TypeRTCDecline, Sender: bob, Content: json.RawMessage(`{"m.relates_to":5}`)},
	})
	if got := next(t, l.declined, "decline"); got != roomID+" $ours "+bob {
		t.Fatalf("declined = %q", got)
	}
	none(t, l.declined, "second decline")
	none(t, l.rings, "our own ring")
}

func TestTrackerExpiresMembershipsAndIgnoresLeftUsers(t *testing.T) {
	defer test.CheckRoutines(t)()
	l := newTrackerLog()
	tr := NewTracker(l.config(bob, "BOBDEV"))
	defer tr.Close()
	tr.Handle([]RoomEvent{memberJoin(roomID, alice), callJoin(roomID, alice, "ALICEDEV", 300*time.Millisecond),
		callJoin(roomID, "@carol:example.org", "C", time.Hour)}) // carol is not joined to the room
	if got := next(t, l.members, "members"); got != roomID+" 1" {
		t.Fatalf("members = %q", got)
	}
	if got := next(t, l.members, "members after expiry"); got != roomID+" 0" {
		t.Fatalf("members = %q", got)
	}
	// Sticky memberships count too, and leave by their sticky key.
	sticky := RoomEvent{RoomID: roomID, EventID: "$s", Type: TypeRTCMember, Sender: alice, OriginServerTS: time.Now().UnixMilli(), Content: json.RawMessage(stickyContentJSON)}
	tr.Handle([]RoomEvent{sticky})
	if got := next(t, l.members, "sticky member"); got != roomID+" 1" {
		t.Fatalf("members = %q", got)
	}
	var c struct {
		K string `json:"msc4354_sticky_key"`
	}
	_ = json.Unmarshal([]byte(stickyContentJSON), &c)
	tr.Handle([]RoomEvent{{RoomID: roomID, EventID: "$s2", Type: TypeRTCMember, Sender: alice, OriginServerTS: time.Now().UnixMilli(),
		Content: json.RawMessage(`{"msc4354_sticky_key":"` + c.K + `"}`)}})
	if got := next(t, l.members, "sticky leave"); got != roomID+" 0" {
		t.Fatalf("members = %q", got)
	}
}

func FuzzTrackerEvents(f *testing.F) {
	f.Add(TypeRTCNotification, `{"notification_type":"ring","lifetime":30000,"sender_ts":1}`)
	f.Add(TypeRTCDecline, `{"m.relates_to":{"rel_type":"m.reference","event_id":"$x"}}`)
	f.Add(TypeRTCMember, stickyContentJSON)
	f.Add(TypeCallMember, ecContent)
	f.Fuzz(func(t *testing.T, typ, content string) {
		tr := NewTracker(TrackerConfig{UserID: bob, DeviceID: "BOBDEV", OnRing: func(Ring) {}, OnMembers: func(string, []Membership) {}})
		defer tr.Close()
		tr.Handle([]RoomEvent{memberJoin(roomID, alice), callJoin(roomID, alice, "ALICEDEV", time.Hour),
			{RoomID: roomID, EventID: "$e", Type: typ, Sender: alice, Content: json.RawMessage(content)},
			{RoomID: roomID, EventID: "$f", Type: typ, StateKey: strp(aliceKey), Sender: alice, Content: json.RawMessage(content)}})
		_ = tr.Rings()
	})
}
