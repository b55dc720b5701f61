package ui

import (
	"testing"
	"time"

	"github.com/mxcall/mxcall/callengine"
)

func TestStateText(t *testing.T) {
	conn := time.Unix(1, 0)
	for _, tc := range []struct {
		info callengine.CallInfo
		want string
	}{
		{callengine.CallInfo{State: callengine.StateGathering}, "Calling…"},
		{callengine.CallInfo{State: callengine.StateInviteSent}, "Ringing…"},
		{callengine.CallInfo{State: callengine.StateRinging, Video: true}, "Incoming video call…"},
		{callengine.CallInfo{State: callengine.StateAnswering}, "Connecting…"},
		{callengine.CallInfo{State: callengine.StateConnecting}, "Connecting…"},
		{callengine.CallInfo{State: callengine.StateConnecting, ConnectedAt: conn}, "Reconnecting…"},
		{callengine.CallInfo{State: callengine.StateConnected, Video: true}, "Video call · connected"},
		{callengine.CallInfo{State: callengine.StateConnected, Relay: true}, "Voice call · connected · via relay"},
		{callengine.CallInfo{State: callengine.StateConnected, OnHold: true}, "On hold"},
		{callengine.CallInfo{State: callengine.StateConnected, RemoteOnHold: true}, "Bob put the call on hold"},
		{callengine.CallInfo{State: callengine.StateEnded, EndedBy: callengine.PartyRemote, EndReason: callengine.ReasonRejected}, "Call ended: Bob declined"},
	} {
		if got := stateText(tc.info, "Bob"); got != tc.want {
			t.Errorf("stateText(%v) = %q, want %q", tc.info.State, got, tc.want)
		}
	}
}

func TestLooksComplete(t *testing.T) {
	for id, want := range map[string]bool{
		"@a:b": true, "@alice:example.org": true, " @a:b ": true,
		"alice": false, "@alice": false, "@alice:": false, "@:b": false, "a:b": false,
	} {
		if got := looksComplete(id); got != want {
			t.Errorf("looksComplete(%q) = %v", id, got)
		}
	}
}
