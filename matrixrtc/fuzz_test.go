package matrixrtc

import (
	"encoding/json"
	"errors"
	"testing"
)

// FuzzParse: no content crashes Parse, every error is a sentinel, and a
// valid membership has the fields the validity rules require.
func FuzzParse(f *testing.F) {
	f.Add(TypeCallMember, aliceKey, alice, []byte(ecContent))
	f.Add(TypeRTCMember, "", alice, []byte(stickyContentJSON))
	f.Add(TypeCallMember, aliceKey, alice, []byte(`{}`))
	f.Add(TypeCallMember, aliceKey, alice, []byte(`{"application":"m.call","call_id":"","device_id":"ALICEDEV","focus_active":{"type":"x"},"expires":9223372036854775807,"created_ts":9223372036854775807}`))
	f.Fuzz(func(t *testing.T, evType, key, sender string, content []byte) {
		m, err := Parse(StateEvent{Type: evType, StateKey: key, Sender: sender, OriginServerTS: 1, Content: json.RawMessage(content)})
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrLeft) && !errors.Is(err, ErrUnknownType) {
				t.Fatalf("error %v is no sentinel", err)
			}
			return
		}
		if m.Sender != sender || m.DeviceID == "" || m.Application == "" || m.FocusActive.Type == "" || len(m.Transports) > maxTransports {
			t.Fatalf("invalid membership accepted: %+v", m)
		}
		_ = NewMemberships(roomID, []StateEvent{joinEv(sender, "join"), {Type: evType, StateKey: key, Sender: sender, Content: content}}, m.Created)
	})
}
