package matrixrtc

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
)

const (
	alice    = "@alice:example.org"
	bob      = "@bob:example.org"
	roomID   = "!room:example.org"
	aliceKey = "_@alice:example.org_ALICEDEV_m.call"
)

// ecContent is what Element Call sends (RTC-NOTES §1a).
const ecContent = `{"application":"m.call","call_id":"","scope":"m.room","device_id":"ALICEDEV",
 "membershipID":"@alice:example.org:ALICEDEV","expires":14400000,"m.call.intent":"video",
 "focus_active":{"type":"livekit","focus_selection":"multi_sfu"},
 "foci_preferred":[{"type":"livekit","livekit_service_url":"https://rtc.example.org/livekit/jwt","livekit_alias":"!room:example.org"}]}`

const stickyContentJSON = `{"application":{"type":"m.call","m.call.intent":"video"},"slot_id":"m.call#ROOM",
 "rtc_transports":[{"type":"livekit","livekit_service_url":"https://rtc.example.org/livekit/jwt"}],
 "member":{"user_id":"@alice:example.org","device_id":"ALICEDEV","id":"uuid-1"},"versions":[],"msc4354_sticky_key":"sk-1"}`

func stateEv(sender, key, content string, ts int64) StateEvent {
	return StateEvent{Type: TypeCallMember, StateKey: key, Sender: sender, OriginServerTS: ts, Content: json.RawMessage(content)}
}

func joinEv(user, membership string) StateEvent {
	return StateEvent{Type: "m.room.member", StateKey: user, Sender: user, Content: json.RawMessage(`{"membership":"` + membership + `"}`)}
}

func TestParseStateForm(t *testing.T) {
	m, err := Parse(stateEv(alice, aliceKey, ecContent, 1000))
	if err != nil {
		t.Fatal(err)
	}
	if m.Form != FormState || m.Sender != alice || m.DeviceID != "ALICEDEV" || m.Slot != SlotRoom ||
		m.Application != "m.call" || m.Intent != "video" || m.MemberID != "@alice:example.org:ALICEDEV" {
		t.Errorf("parsed %+v", m)
	}
	if !m.Created.Equal(time.UnixMilli(1000)) || !m.Expires.Equal(time.UnixMilli(1000).Add(4*time.Hour)) {
		t.Errorf("created %v expires %v", m.Created, m.Expires)
	}
	if m.FocusActive.FocusSelection != SelectionMultiSFU || m.Identity() != "@alice:example.org:ALICEDEV" {
		t.Errorf("focus %+v identity %q", m.FocusActive, m.Identity())
	}
	tr, ok := m.PublishTransport()
	if !ok || tr.ServiceURL != "https://rtc.example.org/livekit/jwt" || tr.Alias != roomID {
		t.Errorf("transport %+v %v", tr, ok)
	}
	// MSC3757 rooms drop the leading underscore.
	if _, err := Parse(stateEv(alice, aliceKey[1:], ecContent, 1000)); err != nil {
		t.Errorf("key without underscore: %v", err)
	}
}

func TestParseStickyForm(t *testing.T) {
	ev := StateEvent{Type: TypeRTCMember, Sender: alice, OriginServerTS: 5000, Content: json.RawMessage(stickyContentJSON)}
	m, err := Parse(ev)
	if err != nil {
		t.Fatal(err)
	}
	if m.Form != FormSticky || m.DeviceID != "ALICEDEV" || m.MemberID != "uuid-1" || m.Slot != SlotRoom || m.StateKey != "sk-1" {
		t.Errorf("parsed %+v", m)
	}
	if !m.Expires.Equal(time.UnixMilli(5000).Add(time.Hour)) {
		t.Errorf("expires %v", m.Expires)
	}
	if tr, ok := m.PublishTransport(); !ok || tr.ServiceURL != "https://rtc.example.org/livekit/jwt" {
		t.Errorf("transport %+v", tr)
	}
}

func TestParseErrors(t *testing.T) {
	patch := func(field, value string) string {
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(ecContent), &m); err != nil {
			t.Fatal(err)
		}
		if value == "" {
			delete(m, field)
		} else {
			m[field] = json.RawMessage(value)
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	tests := []struct {
		name string
		ev   StateEvent
		want error
	}{
		{"leave", stateEv(alice, aliceKey, `{}`, 1), ErrLeft},
		{"other type", StateEvent{Type: "m.room.topic", Content: json.RawMessage(`{}`)}, ErrUnknownType},
		{"not JSON", stateEv(alice, aliceKey, `{`, 1), ErrMalformed},
		{"array", stateEv(alice, aliceKey, `[]`, 1), ErrMalformed},
		{"no device_id", stateEv(alice, aliceKey, patch("device_id", ""), 1), ErrMalformed},
		{"numeric device_id", stateEv(alice, aliceKey, patch("device_id", "7"), 1), ErrMalformed},
		{"no call_id", stateEv(alice, aliceKey, patch("call_id", ""), 1), ErrMalformed},
		{"null call_id", stateEv(alice, aliceKey, patch("call_id", "null"), 1), ErrMalformed},
		{"no application", stateEv(alice, aliceKey, patch("application", ""), 1), ErrMalformed},
		{"no focus_active", stateEv(alice, aliceKey, patch("focus_active", ""), 1), ErrMalformed},
		{"focus_active without type", stateEv(alice, aliceKey, patch("focus_active", `{"focus_selection":"multi_sfu"}`), 1), ErrMalformed},
		{"negative expires", stateEv(alice, aliceKey, patch("expires", "-1"), 1), ErrMalformed},
		{"string expires", stateEv(alice, aliceKey, patch("expires", `"1"`), 1), ErrMalformed},
		{"legacy memberships array", stateEv(alice, alice, `{"memberships":[]}`, 1), ErrMalformed},
		{"someone else's key", stateEv(bob, aliceKey, ecContent, 1), ErrMalformed},
		{"key for another device", stateEv(alice, "_@alice:example.org_OTHER_m.call", ecContent, 1), ErrMalformed},
		{"too large", stateEv(alice, aliceKey, `{"x":"`+string(make([]byte, MaxContentBytes))+`"}`, 1), ErrMalformed},
		{"sticky leave", StateEvent{Type: TypeRTCMember, Sender: alice, Content: json.RawMessage(`{"msc4354_sticky_key":"sk"}`)}, ErrLeft},
		{"sticky other sender", StateEvent{Type: TypeRTCMember, Sender: bob, Content: json.RawMessage(stickyContentJSON)}, ErrMalformed},
		{"sticky no member id", StateEvent{Type: TypeRTCMember, Sender: alice, Content: json.RawMessage(
			`{"application":{"type":"m.call"},"slot_id":"m.call#ROOM","member":{"user_id":"@alice:example.org","device_id":"D"}}`)}, ErrMalformed},
		{"sticky bad slot", StateEvent{Type: TypeRTCMember, Sender: alice, Content: json.RawMessage(
			`{"application":{"type":"m.call"},"slot_id":"ROOM","member":{"user_id":"@alice:example.org","device_id":"D","id":"x"}}`)}, ErrMalformed},
	}
	for _, tt := range tests {
		if _, err := Parse(tt.ev); !errors.Is(err, tt.want) {
			t.Errorf("%s: err %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestCreatedTSAndDefaultExpiry(t *testing.T) {
	c := `{"application":"m.call","call_id":"","device_id":"ALICEDEV","created_ts":500,"focus_active":{"type":"livekit"}}`
	m, err := Parse(stateEv(alice, aliceKey, c, 9000))
	if err != nil {
		t.Fatal(err)
	}
	if !m.Created.Equal(time.UnixMilli(500)) || !m.Expires.Equal(time.UnixMilli(500).Add(DefaultExpires)) {
		t.Errorf("created %v expires %v", m.Created, m.Expires)
	}
	if _, ok := m.PublishTransport(); ok {
		t.Error("no foci_preferred, yet a transport")
	}
}

func TestNewStateContentRoundTrip(t *testing.T) {
	tr := Transport{Type: TransportLiveKit, ServiceURL: "https://rtc.example.org/livekit/jwt"}
	c := NewStateContent(alice, "ALICEDEV", roomID, tr, "video", 0, time.Time{})
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var got, want map[string]any
	_ = json.Unmarshal(b, &got)
	_ = json.Unmarshal([]byte(ecContent), &want)
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(want)
	if string(gb) != string(wb) {
		t.Errorf("built\n%s\nwant (Element Call's)\n%s", gb, wb)
	}
	m, err := Parse(stateEv(alice, StateKey(alice, "ALICEDEV"), string(b), 42))
	if err != nil {
		t.Fatal(err)
	}
	if m.Slot != SlotRoom || !m.Created.Equal(time.UnixMilli(42)) {
		t.Errorf("round trip %+v", m)
	}
	c = NewStateContent(alice, "ALICEDEV", roomID, tr, "", time.Hour, time.UnixMilli(7))
	if c.CreatedTS != 7 || c.Expires != 3600000 {
		t.Errorf("refresh content %+v", c)
	}
	if b, _ := json.Marshal(LeaveContent()); string(b) != "{}" {
		t.Errorf("leave %s", b)
	}
}

func TestNewMemberships(t *testing.T) {
	now := time.UnixMilli(10_000_000)
	bobKey := StateKey(bob, "BOBDEV")
	bobContent := `{"application":"m.call","call_id":"","device_id":"BOBDEV","focus_active":{"type":"livekit"},
	 "foci_preferred":[{"type":"livekit","livekit_service_url":"https://b.example/jwt"}]}`
	carol := "@carol:example.org"
	carolContent := `{"application":"m.call","call_id":"","device_id":"C","focus_active":{"type":"livekit"}}`
	dave := "@dave:example.org"
	daveContent := `{"application":"m.call","call_id":"","device_id":"D","expires":1000,"focus_active":{"type":"livekit"}}`
	events := []StateEvent{
		joinEv(alice, "join"), joinEv(bob, "join"), joinEv(carol, "leave"), joinEv(dave, "join"),
		stateEv(alice, aliceKey, ecContent, now.UnixMilli()-1000),    // newer
		stateEv(bob, bobKey, bobContent, now.UnixMilli()-5000),       // older: first
		stateEv(carol, StateKey(carol, "C"), carolContent, 1),        // not joined
		stateEv(dave, StateKey(dave, "D"), daveContent, 1),           // expired
		stateEv(alice, StateKey(alice, "GONE"), `{}`, 1),             // left
		stateEv(alice, StateKey(alice, "BAD"), `{"device_id":1}`, 1), // malformed
		{Type: TypeRTCMember, Sender: alice, OriginServerTS: now.UnixMilli() - 2000, Content: json.RawMessage(stickyContentJSON)},
	}
	s := NewMemberships(roomID, events, now)
	if len(s.Members) != 2 {
		t.Fatalf("members %+v", s.Members)
	}
	if s.Members[0].Sender != bob || s.Members[1].Sender != alice || s.Members[1].Form != FormState {
		t.Errorf("order/forms: %s %s (%v)", s.Members[0].Sender, s.Members[1].Sender, s.Members[1].Form)
	}
	trs := s.Transports(SlotRoom)
	if len(trs) != 2 || trs[0].ServiceURL != "https://b.example/jwt" {
		t.Errorf("transports %+v", trs)
	}
	// Once alice's membership expires, the snapshot no longer lists her.
	later := NewMemberships(roomID, events, now.Add(4*time.Hour))
	for _, m := range later.Members {
		if m.Sender == alice {
			t.Errorf("expired membership kept: %+v", m)
		}
	}
}
