package matrixrtc

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// BenchmarkParse: one Element Call membership event.
func BenchmarkParse(b *testing.B) {
	ev := stateEv(alice, aliceKey, ecContent, 1000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNewMemberships50: a room with 50 members in the call.
func BenchmarkNewMemberships50(b *testing.B) {
	var evs []StateEvent
	for i := range 50 {
		user := fmt.Sprintf("@u%d:example.org", i)
		content := fmt.Sprintf(`{"application":"m.call","call_id":"","device_id":"D%d","focus_active":{"type":"livekit"},
		 "foci_preferred":[{"type":"livekit","livekit_service_url":"https://rtc%d.example/jwt"}]}`, i, i%3)
		evs = append(evs, joinEv(user, "join"),
			StateEvent{Type: TypeCallMember, StateKey: StateKey(user, fmt.Sprintf("D%d", i)), Sender: user, OriginServerTS: int64(i), Content: json.RawMessage(content)})
	}
	now := time.UnixMilli(1000)
	b.ReportAllocs()
	for b.Loop() {
		if s := NewMemberships(roomID, evs, now); len(s.Members) != 50 {
			b.Fatal(len(s.Members))
		}
	}
}
