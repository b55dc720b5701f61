package matrixrtc

import (
	"context"
	"errors"
	"testing"

	"github.com/pion/webrtc/v4"
)

// A screen share is one video track of a joined session; anything else is
// refused before it reaches LiveKit, and stopping when not sharing is a
// no-op. (Publishing itself runs against the real SFU:
// TestScreenshare.)
func TestScreenshareArguments(t *testing.T) {
	s, err := NewSession(SessionConfig{Matrix: &fakeMatrix{}, RoomID: roomID})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	audio, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus}, "audio", "s")
	if err != nil {
		t.Fatal(err)
	}
	video, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", "s")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PublishScreenshare(ctx, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("no track: %v", err)
	}
	if err := s.PublishScreenshare(ctx, audio); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("audio track: %v", err)
	}
	if err := s.PublishScreenshare(ctx, video); !errors.Is(err, ErrWrongState) {
		t.Errorf("before join: %v", err)
	}
	if on, err := s.Screensharing(ctx); err != nil || on {
		t.Errorf("Screensharing() = %v, %v", on, err)
	}
	if err := s.UnpublishScreenshare(ctx); err != nil {
		t.Errorf("stop when not sharing: %v", err)
	}
	_ = s.Close()
	if err := s.PublishScreenshare(ctx, video); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}
