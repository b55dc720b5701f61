package matrixrtc

import (
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"

	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// kfTrack is a published track that counts its key frame requests.
type kfTrack struct {
	*webrtc.TrackLocalStaticRTP
	n atomic.Int32
}

func (t *kfTrack) RequestKeyframe() { t.n.Add(1) }

func newKFTrack(t *testing.T, mime string) *kfTrack {
	t.Helper()
	tr, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: mime}, mime, "s")
	if err != nil {
		t.Fatal(err)
	}
	return &kfTrack{TrackLocalStaticRTP: tr}
}

func TestKeyframeTapSeesEveryRequestForOurVideo(t *testing.T) {
	const video, audio, other = 1111, 2222, 3333
	marshal := func(pkts ...rtcp.Packet) []byte {
		b, err := rtcp.Marshal(pkts)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tc := range []struct {
		name string
		raw  []byte
		want []uint32
	}{
		{"PLI", marshal(&rtcp.PictureLossIndication{MediaSSRC: video}), []uint32{video}},
		{"FIR", marshal(&rtcp.FullIntraRequest{FIR: []rtcp.FIREntry{{SSRC: video}}}), []uint32{video}},
		{"compound with a receiver report", marshal(&rtcp.ReceiverReport{SSRC: 9}, &rtcp.PictureLossIndication{MediaSSRC: video}), []uint32{video}},
		{"twice in one compound packet", marshal(&rtcp.PictureLossIndication{MediaSSRC: video}, &rtcp.PictureLossIndication{MediaSSRC: video}), []uint32{video}},
		{"PLI for our audio", marshal(&rtcp.PictureLossIndication{MediaSSRC: audio}), nil},
		{"PLI for a stream not ours", marshal(&rtcp.PictureLossIndication{MediaSSRC: other}), nil},
		{"receiver report", marshal(&rtcp.ReceiverReport{SSRC: 9}), nil},
		{"garbage", []byte{0x80, 0xff, 0, 9, 1}, nil},
		{"empty", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []uint32
			i, err := (&keyframeTap{onRequest: func(ssrc uint32) { got = append(got, ssrc) }}).NewInterceptor("")
			if err != nil {
				t.Fatal(err)
			}
			i.BindLocalStream(&interceptor.StreamInfo{SSRC: video, MimeType: webrtc.MimeTypeVP8}, nil)
			i.BindLocalStream(&interceptor.StreamInfo{SSRC: audio, MimeType: webrtc.MimeTypeOpus}, nil)
			sent := false
			r := i.BindRTCPReader(interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
				if sent {
					return 0, nil, io.EOF
				}
				sent = true
				return copy(b, tc.raw), a, nil
			}))
			buf := make([]byte, 1500)
			if n, _, err := r.Read(buf, nil); err != nil || n != len(tc.raw) {
				t.Fatalf("read %d, %v; want %d bytes passed on", n, err, len(tc.raw))
			}
			if _, _, err := r.Read(buf, nil); !errors.Is(err, io.EOF) {
				t.Fatalf("the reader's error was not passed on: %v", err)
			}
			if len(got) != len(tc.want) || (len(got) == 1 && got[0] != tc.want[0]) {
				t.Fatalf("requests for %v, want %v", got, tc.want)
			}
			i.UnbindLocalStream(&interceptor.StreamInfo{SSRC: video})
			sent, got = false, nil
			_, _, _ = r.Read(buf, nil)
			if len(got) != 0 {
				t.Fatalf("a request for an unbound stream passed: %v", got)
			}
		})
	}
}

// TestKeyframeWhenOurVideoIsSubscribed checks that a session makes a key
// frame as soon as the SFU says our track's first subscriber is set up,
// and when the SFU asks for one, on its video tracks only.
func TestKeyframeWhenOurVideoIsSubscribed(t *testing.T) {
	video, audio := newKFTrack(t, webrtc.MimeTypeVP8), newKFTrack(t, webrtc.MimeTypeOpus)
	s := &Session{cfg: SessionConfig{Tracks: []webrtc.TrackLocal{audio, video}, Log: slog.New(slog.DiscardHandler)}}
	cb := s.roomCallback(1)
	cb.OnLocalTrackSubscribed(&lksdk.LocalTrackPublication{}, nil)
	if video.n.Load() != 1 || audio.n.Load() != 0 {
		t.Fatalf("after our track was subscribed: %d video, %d audio key frame requests; want 1, 0", video.n.Load(), audio.n.Load())
	}
	s.requestKeyframes("test")
	if video.n.Load() != 2 || audio.n.Load() != 0 {
		t.Fatalf("after a request: %d video, %d audio key frame requests; want 2, 0", video.n.Load(), audio.n.Load())
	}
}

// TestKeyframeWhenARemoteVideoStarts checks that a session makes a key
// frame when a remote video track starts (its publisher's subscription to
// ours may have been set up after our last key frame), and still hands
// the track on.
func TestKeyframeWhenARemoteVideoStarts(t *testing.T) {
	video := newKFTrack(t, webrtc.MimeTypeVP8)
	var got []RemoteTrack
	s := &Session{cfg: SessionConfig{Tracks: []webrtc.TrackLocal{video}, Log: slog.New(slog.DiscardHandler),
		OnRemoteTrack: func(rt RemoteTrack) { got = append(got, rt) }}}
	remote := &webrtc.TrackRemote{} // of no kind: counts as video
	s.roomCallback(1).OnTrackSubscribed(remote, &lksdk.RemoteTrackPublication{}, &lksdk.RemoteParticipant{})
	if video.n.Load() != 1 || len(got) != 1 || got[0].Track != remote {
		t.Fatalf("%d key frame requests, %d tracks handed on; want 1, 1", video.n.Load(), len(got))
	}
	s.cfg.OnRemoteTrack = nil // nobody takes remote tracks: still a key frame
	s.roomCallback(2).OnTrackSubscribed(remote, &lksdk.RemoteTrackPublication{}, &lksdk.RemoteParticipant{})
	if video.n.Load() != 2 {
		t.Fatalf("%d key frame requests without OnRemoteTrack, want 2", video.n.Load())
	}
}
