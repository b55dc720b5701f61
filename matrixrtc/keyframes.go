package matrixrtc

import (
	"strings"
	"sync"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// KeyframeTrack is a published video track that can make its next frame
// a key frame (mxcall's media tracks, the echo partner's forwarding
// tracks). A session asks each of its video Tracks that implements it for
// a key frame whenever the SFU or a subscriber asks for one (PLI, FIR) and
// when a subscription to our video starts.
//
// The SFU forwards a video track to a new subscriber only from a key
// frame, and it throttles its own key frame requests to a publisher
// (500 ms to 1 s per track): a request that goes missing, or one that
// could have been made earlier, delays the first picture by as much.
type KeyframeTrack interface {
	RequestKeyframe()
}

// requestKeyframes (any goroutine) asks our video tracks for a key frame:
// a request for any of our video SSRCs goes to every video track that can
// make one (the camera, and our screen share while we share; the SFU's
// throttle keeps such requests rare).
func (s *Session) requestKeyframes(why string) {
	n := 0
	tracks := s.cfg.Tracks
	if sh := s.screen(); sh != nil {
		tracks = append(tracks[:len(tracks):len(tracks)], sh)
	}
	for _, t := range tracks {
		if k, ok := t.(KeyframeTrack); ok && t.Kind() == webrtc.RTPCodecTypeVideo {
			k.RequestKeyframe()
			n++
		}
	}
	if n > 0 {
		s.cfg.Log.Debug("matrixrtc: key frame requested", "room", s.cfg.RoomID, "why", why)
	}
}

// keyframeTap is a pion interceptor factory for a session's LiveKit peer
// connections: it sees every RTCP packet read on them and calls
// onRequest for each key frame request (PLI, FIR) about one of our video
// streams. LiveKit's SDK drains the RTCP of the tracks it did not make
// itself (LocalTrackPublication.readRTCP) alongside the track's own
// reader, so each reader gets only some of the packets; an interceptor
// sees them all, whoever reads.
type keyframeTap struct {
	onRequest func(ssrc uint32)
}

// NewInterceptor implements interceptor.Factory.
func (f *keyframeTap) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &keyframeTapInterceptor{onRequest: f.onRequest, video: map[uint32]bool{}}, nil
}

type keyframeTapInterceptor struct {
	interceptor.NoOp
	onRequest func(ssrc uint32)
	mu        sync.Mutex
	video     map[uint32]bool // our video streams' SSRCs
}

// BindLocalStream notes our video streams.
func (t *keyframeTapInterceptor) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	if strings.HasPrefix(strings.ToLower(info.MimeType), "video/") {
		t.mu.Lock()
		t.video[info.SSRC] = true
		t.mu.Unlock()
	}
	return w
}

// UnbindLocalStream forgets a stream.
func (t *keyframeTapInterceptor) UnbindLocalStream(info *interceptor.StreamInfo) {
	t.mu.Lock()
	delete(t.video, info.SSRC)
	t.mu.Unlock()
}

// BindRTCPReader looks at every RTCP packet read.
func (t *keyframeTapInterceptor) BindRTCPReader(r interceptor.RTCPReader) interceptor.RTCPReader {
	return interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, a, err := r.Read(b, a)
		if err == nil {
			t.inspect(b[:n])
		}
		return n, a, err
	})
}

// inspect calls onRequest once per video stream a compound packet asks a
// key frame of.
func (t *keyframeTapInterceptor) inspect(b []byte) {
	pkts, err := rtcp.Unmarshal(b)
	if err != nil {
		return
	}
	var asked []uint32
	for _, p := range pkts {
		switch p := p.(type) {
		case *rtcp.PictureLossIndication:
			asked = append(asked, p.MediaSSRC)
		case *rtcp.FullIntraRequest:
			for _, e := range p.FIR {
				asked = append(asked, e.SSRC)
			}
		}
	}
	if len(asked) == 0 {
		return
	}
	seen := map[uint32]bool{}
	t.mu.Lock()
	for _, ssrc := range asked {
		if t.video[ssrc] {
			seen[ssrc] = true
		}
	}
	t.mu.Unlock()
	for ssrc := range seen {
		t.onRequest(ssrc)
	}
}

// setScreen (owner) sets our screen share (nil: none).
func (s *Session) setScreen(t webrtc.TrackLocal) {
	if t == nil {
		s.sharing.Store(nil)
		return
	}
	s.sharing.Store(&t)
}

// screen is our screen share while we share (PublishScreenshare),
// published in every room we connect to until unpublished; nil when we
// share nothing. Set it with setScreen (owner); any goroutine may read it.
func (s *Session) screen() webrtc.TrackLocal {
	if t := s.sharing.Load(); t != nil {
		return *t
	}
	return nil
}
