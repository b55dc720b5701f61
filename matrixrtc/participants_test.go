package matrixrtc

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
)

func TestParseIdentity(t *testing.T) {
	tests := []struct{ in, user, device string }{
		{"@alice:example.org:ALICEDEV", "@alice:example.org", "ALICEDEV"},
		{"@bob:example.org:8448:BOBDEV", "@bob:example.org:8448", "BOBDEV"},
		{"@alice:example.org", "", ""}, // no device
		{"@alice:example.org:", "", ""},
		{"@:example.org:DEV", "", ""},
		{"@alice::DEV", "", ""},
		{"alice:example.org:DEV", "", ""},
		{"oWl1dd3qDRBXJvWbyV9a4Oa2T8AKT95aWo9IjnHUGZ0", "", ""}, // /get_token's hashed identity
		{"", "", ""},
		{":", "", ""},
		{"@", "", ""},
	}
	for _, tt := range tests {
		u, d := ParseIdentity(tt.in)
		if u != tt.user || d != tt.device {
			t.Errorf("ParseIdentity(%q) = %q, %q; want %q, %q", tt.in, u, d, tt.user, tt.device)
		}
	}
}

// participantInfo is a remote participant as the SFU describes it, with
// an audio and a video track.
func participantInfo(identity, name string, version uint32, audioMuted, videoMuted bool) *livekit.ParticipantInfo {
	return &livekit.ParticipantInfo{Sid: "PA_" + identity, Identity: identity, Name: name, Version: version,
		State: livekit.ParticipantInfo_ACTIVE,
		Tracks: []*livekit.TrackInfo{
			{Sid: "TR_a" + identity, Type: livekit.TrackType_AUDIO, Muted: audioMuted},
			{Sid: "TR_v" + identity, Type: livekit.TrackType_VIDEO, Muted: videoMuted},
		}}
}

// TestSessionParticipants drives a joined session's LiveKit room the way
// the SFU's signalling does and checks the lists OnParticipants gets.
func TestSessionParticipants(t *testing.T) {
	srv := focusServer(t, 200, `{"url":"wss://sfu.example","jwt":"eyJ.x.y"}`)
	mx := &fakeMatrix{hs: srv.URL}
	lists := make(chan []Participant, 100)
	s, err := NewSession(SessionConfig{Matrix: mx, RoomID: roomID, Discovery: Discovery{Client: srv.Client()},
		OnParticipants: func(p []Participant) { lists <- p }})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	var room *lksdk.Room
	s.connect = func(_ context.Context, _, _ string, cb *lksdk.RoomCallback, _ ...lksdk.ConnectOption) (*lksdk.Room, error) {
		room = lksdk.NewRoom(cb)
		return room, nil
	}
	if err := s.Join(context.Background()); err != nil {
		t.Fatal(err)
	}
	const bob, carol = "@bob:example.org:BOBDEV", "@carol:example.org:8448:CAROLDEV"
	// want waits until the latest list delivered is want.
	want := func(step string, want ...Participant) {
		t.Helper()
		var last []Participant
		deadline := time.After(10 * time.Second)
		for {
			select {
			case last = <-lists:
				if slices.Equal(last, want) {
					return
				}
			case <-deadline:
				t.Fatalf("%s: last list %+v, want %+v", step, last, want)
			}
		}
	}
	pBob := Participant{Identity: bob, UserID: "@bob:example.org", DeviceID: "BOBDEV", Name: "Bob"}
	pCarol := Participant{Identity: carol, UserID: "@carol:example.org:8448", DeviceID: "CAROLDEV", Name: "Carol", VideoMuted: true}

	room.OnParticipantUpdate([]*livekit.ParticipantInfo{participantInfo(carol, "Carol", 1, false, true), participantInfo(bob, "Bob", 1, false, false)})
	want("two join", pBob, pCarol) // sorted by identity

	room.OnParticipantUpdate([]*livekit.ParticipantInfo{participantInfo(bob, "Bob", 2, true, false)})
	pBob.AudioMuted = true
	want("bob mutes", pBob, pCarol)

	room.OnSpeakersChanged([]*livekit.SpeakerInfo{{Sid: "PA_" + carol, Level: 0.5, Active: true}})
	pCarol.Speaking = true
	want("carol speaks", pBob, pCarol)

	room.OnSpeakersChanged([]*livekit.SpeakerInfo{{Sid: "PA_" + carol, Active: false}})
	pCarol.Speaking = false
	want("carol stops", pBob, pCarol)

	gone := participantInfo(bob, "Bob", 3, true, false)
	gone.State = livekit.ParticipantInfo_DISCONNECTED
	room.OnParticipantUpdate([]*livekit.ParticipantInfo{gone})
	want("bob leaves", pCarol)

	// A participant without tracks counts as muted both ways.
	room.OnParticipantUpdate([]*livekit.ParticipantInfo{{Sid: "PA_x", Identity: "hashed", Version: 1, State: livekit.ParticipantInfo_ACTIVE}})
	want("a hashed identity joins", pCarol, Participant{Identity: "hashed", AudioMuted: true, VideoMuted: true})

	if err := s.Leave(context.Background()); err != nil {
		t.Fatal(err)
	}
	want("after Leave")
}

// TestSessionParticipantsLatest: a slow OnParticipants misses nothing
// but superseded lists: after a burst of changes it gets the final list,
// and Close waits for the call in progress.
func TestSessionParticipantsLatest(t *testing.T) {
	srv := focusServer(t, 200, `{"url":"wss://sfu.example","jwt":"eyJ.x.y"}`)
	mx := &fakeMatrix{hs: srv.URL}
	release := make(chan struct{})
	var got [][]Participant
	calls := make(chan int, 100)
	s, err := NewSession(SessionConfig{Matrix: mx, RoomID: roomID, Discovery: Discovery{Client: srv.Client()},
		OnParticipants: func(p []Participant) {
			<-release
			got = append(got, p)
			calls <- len(p)
		}})
	if err != nil {
		t.Fatal(err)
	}
	var room *lksdk.Room
	s.connect = func(_ context.Context, _, _ string, cb *lksdk.RoomCallback, _ ...lksdk.ConnectOption) (*lksdk.Room, error) {
		room = lksdk.NewRoom(cb)
		return room, nil
	}
	if err := s.Join(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		id := fmt.Sprintf("@u%02d:example.org:D", i)
		room.OnParticipantUpdate([]*livekit.ParticipantInfo{participantInfo(id, "", 1, false, false)})
	}
	// Wait until the owner has seen all 20, while the first call blocks.
	for {
		var n int
		_ = s.do(context.Background(), func() error { n = len(s.parts); return nil })
		if n == 20 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	for n := range calls {
		if n == 20 {
			break
		}
	}
	_ = s.Close()
	if len(got) > 3 {
		t.Errorf("%d calls for a burst of 20 changes behind a blocked callback, want at most 3", len(got))
	}
	if last := got[len(got)-1]; len(last) != 0 {
		t.Errorf("last list after Close has %d participants, want none", len(last))
	}
}
