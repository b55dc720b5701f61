package media

import (
	"context"
	"errors"
	"fmt"
	"image"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/transport/v5/test"
	"github.com/pion/webrtc/v4"

	"github.com/mxcall/mxcall/media/screen"
	"github.com/mxcall/mxcall/media/vpx"
)

// fakeScreen is a screen.VideoSource of four coloured quadrants (the
// test pattern's colours) that ends with ErrSourceGone when told to.
type fakeScreen struct {
	w, h   int
	fps    int
	frame  screen.Frame
	gone   chan struct{}
	closed chan struct{}
	once   sync.Once
	reads  atomic.Int64
}

func newFakeScreen(w, h, fps int) *fakeScreen {
	f := &fakeScreen{w: w, h: h, fps: fps, gone: make(chan struct{}), closed: make(chan struct{})}
	var img vpx.I420
	img.Resize(w, h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := PatternColours[(y*2/h)*2+x*2/w]
			yuv := rgbToYUV(c.R, c.G, c.B)
			img.Y[y*w+x] = yuv[0]
			if x%2 == 0 && y%2 == 0 {
				img.U[(y/2)*(w/2)+x/2], img.V[(y/2)*(w/2)+x/2] = yuv[1], yuv[2]
			}
		}
	}
	f.frame = screen.Frame{Width: w, Height: h, Y: img.Y, U: img.U, V: img.V}
	return f
}

func (f *fakeScreen) ReadFrame(ctx context.Context) (*screen.Frame, error) {
	if f.reads.Add(1) > 1 {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-f.closed:
			return nil, screen.ErrClosed
		case <-f.gone:
			return nil, fmt.Errorf("%w: window 0x42", screen.ErrSourceGone)
		case <-time.After(time.Second / time.Duration(f.fps)):
		}
	}
	f.frame.Time = time.Now()
	return &f.frame, nil
}

func (f *fakeScreen) Source() screen.Source {
	return screen.Source{ID: "window:0x42", Kind: screen.KindWindow, Title: "fake", Size: image.Pt(f.w, f.h)}
}

func (f *fakeScreen) Close() error {
	f.once.Do(func() { close(f.closed) })
	return nil
}

// connectScreen sends tracks from a new PeerConnection to another one
// (loopback, send-side estimation on), whose video tracks go to sinks.
func connectScreen(tb testing.TB, tracks ...webrtc.TrackLocal) (a, b *webrtc.PeerConnection, sinks chan *VideoSink) {
	tb.Helper()
	return connectScreenTo(tb, true, tracks...)
}

// connectScreenTo is connectScreen; without decode the receiver reads and
// drops the packets (no sinks).
func connectScreenTo(tb testing.TB, decode bool, tracks ...webrtc.TrackLocal) (a, b *webrtc.PeerConnection, sinks chan *VideoSink) {
	tb.Helper()
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(n string) bool { return n == "lo" })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	mkAPI := func() *webrtc.API {
		m := &webrtc.MediaEngine{}
		if err := RegisterCodecs(m); err != nil {
			tb.Fatal(err)
		}
		ir := &interceptor.Registry{}
		if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
			tb.Fatal(err)
		}
		if err := AddBandwidthEstimation(m, ir); err != nil {
			tb.Fatal(err)
		}
		return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se), webrtc.WithInterceptorRegistry(ir))
	}
	var err error
	if a, err = mkAPI().NewPeerConnection(webrtc.Configuration{}); err != nil {
		tb.Fatal(err)
	}
	if b, err = mkAPI().NewPeerConnection(webrtc.Configuration{}); err != nil {
		tb.Fatal(err)
	}
	sinks = make(chan *VideoSink, len(tracks))
	b.OnTrack(func(tr *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
		if tr.Kind() != webrtc.RTPCodecTypeVideo {
			return
		}
		if !decode {
			buf := make([]byte, 1500)
			for {
				if _, _, err := tr.Read(buf); err != nil {
					return
				}
			}
		}
		s, err := NewVideoSink(tr, RTCPWriterFor(r))
		if err != nil {
			tb.Error(err)
			return
		}
		sinks <- s
	})
	for _, tr := range tracks {
		if _, err := a.AddTrack(tr); err != nil {
			tb.Fatal(err)
		}
	}
	offer, err := a.CreateOffer(nil)
	if err != nil {
		tb.Fatal(err)
	}
	ga := webrtc.GatheringCompletePromise(a)
	if err := a.SetLocalDescription(offer); err != nil {
		tb.Fatal(err)
	}
	<-ga
	if err := b.SetRemoteDescription(*a.LocalDescription()); err != nil {
		tb.Fatal(err)
	}
	answer, err := b.CreateAnswer(nil)
	if err != nil {
		tb.Fatal(err)
	}
	gb := webrtc.GatheringCompletePromise(b)
	if err := b.SetLocalDescription(answer); err != nil {
		tb.Fatal(err)
	}
	<-gb
	if err := a.SetRemoteDescription(*b.LocalDescription()); err != nil {
		tb.Fatal(err)
	}
	return a, b, sinks
}

func TestScreenTrackLoopback(t *testing.T) {
	defer test.CheckRoutines(t)()
	defer test.TimeOut(60 * time.Second).Stop()

	src := newFakeScreen(1280, 720, 10)
	st, err := NewScreenTrack(src, ScreenOptions{FPS: 10, Preview: true})
	if err != nil {
		t.Fatal(err)
	}
	if st.StreamID() == "" || st.Video().StreamID() != st.StreamID() || st.Video().Kind() != webrtc.RTPCodecTypeVideo {
		t.Errorf("stream %q, track %q %v", st.StreamID(), st.Video().StreamID(), st.Video().Kind())
	}
	time.Sleep(100 * time.Millisecond)
	if src.reads.Load() != 0 {
		t.Fatal("captured before the track was bound")
	}
	a, b, sinks := connectScreen(t, st.Video())
	vs := waitSink(t, sinks)
	if vs == nil {
		return
	}
	waitFor(t, "the shared picture", func() bool {
		img, _ := vs.Frames().Acquire()
		return img != nil && img.Rect.Dx() == 1280 && img.Rect.Dy() == 720
	})
	img, _ := vs.Frames().Acquire()
	checkColours(t, img)
	if w, h := st.Size(); w != 1280 || h != 720 {
		t.Errorf("Size %dx%d", w, h)
	}
	if pv, _ := st.Preview().Acquire(); pv == nil {
		t.Error("no preview")
	}
	if st.VideoBitrate() <= 0 || st.VideoBitrate() > 2500 {
		t.Errorf("bitrate %d kbit/s, want within the 2500 cap", st.VideoBitrate())
	}
	select {
	case <-st.Done():
		t.Fatal("Done before the source ended")
	default:
	}

	// The window closes: the track ends, says why, and sends nothing more.
	close(src.gone)
	select {
	case <-st.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Done not closed after the source ended")
	}
	if !errors.Is(st.Err(), screen.ErrSourceGone) {
		t.Errorf("Err = %v, want ErrSourceGone", st.Err())
	}
	sent := st.FramesSent()
	time.Sleep(300 * time.Millisecond)
	if st.FramesSent() != sent {
		t.Error("frames sent after the source ended")
	}

	if err := a.Close(); err != nil {
		t.Error(err)
	}
	if err := b.Close(); err != nil {
		t.Error(err)
	}
	if err := st.Close(); err != nil {
		t.Error(err)
	}
	if err := st.Close(); err != nil {
		t.Error(err)
	}
	if !errors.Is(st.Err(), screen.ErrSourceGone) {
		t.Errorf("after Close Err = %v, want the source's end kept", st.Err())
	}
}

// The first frame of a share is a keyframe, and a keyframe request (PLI)
// gives one; closing ends capture and closes the source.
func TestScreenTrackKeyframesAndClose(t *testing.T) {
	defer test.CheckRoutines(t)()
	defer test.TimeOut(60 * time.Second).Stop()

	src := newFakeScreen(320, 240, 20)
	st, err := NewScreenTrack(src, ScreenOptions{FPS: 20})
	if err != nil {
		t.Fatal(err)
	}
	a, b, sinks := connectScreen(t, st.Video())
	vs := waitSink(t, sinks)
	if vs == nil {
		return
	}
	waitFor(t, "a decoded frame", func() bool { return vs.Frames().Frames() > 0 })
	st.RequestKeyframe()
	waitFor(t, "the requested keyframe", func() bool { return st.Keyframes() == 1 })
	_ = a.Close()
	_ = b.Close()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-src.closed:
	default:
		t.Error("source not closed with the track")
	}
	select {
	case <-st.Done():
	default:
		t.Error("Done not closed by Close")
	}
	if st.Err() != nil {
		t.Errorf("Err after Close = %v, want nil", st.Err())
	}
}

// A connection that sends a camera and a screen share splits its
// bandwidth estimate 1:3 between them; alone, each gets all of it.
func TestBandwidthEstimateSplitCameraScreen(t *testing.T) {
	cam := &Source{bwe: bandwidth{max: 100_000, min: 10}}
	scr := &ScreenTrack{bwe: bandwidth{max: 100_000, min: 10}}
	b := &bweInterceptor{ssrcs: map[uint32]bool{}}
	estimateTargets.Store(uint32(0xca01), videoOwner(cam))
	estimateTargets.Store(uint32(0x5c01), videoOwner(scr))
	defer estimateTargets.Delete(uint32(0xca01))
	defer estimateTargets.Delete(uint32(0x5c01))

	b.ssrcs[0xca01] = true
	b.onTarget(2_000_000 + audioShare)
	if cam.VideoBitrate() != 2000 {
		t.Errorf("camera alone: %d kbit/s, want 2000", cam.VideoBitrate())
	}
	b.ssrcs[0x5c01] = true
	b.onTarget(2_000_000 + audioShare)
	if cam.VideoBitrate() != 500 || scr.VideoBitrate() != 1500 {
		t.Errorf("camera %d, screen %d kbit/s; want 500 and 1500", cam.VideoBitrate(), scr.VideoBitrate())
	}
}

// A screen that does not change is sent at one frame a second after the
// first second, not at the capture rate.
func TestScreenTrackStillScreen(t *testing.T) {
	defer test.CheckRoutines(t)()
	defer test.TimeOut(60 * time.Second).Stop()

	src := newFakeScreen(320, 240, 20)
	st, err := NewScreenTrack(src, ScreenOptions{FPS: 20})
	if err != nil {
		t.Fatal(err)
	}
	a, b, sinks := connectScreen(t, st.Video())
	vs := waitSink(t, sinks)
	if vs == nil {
		return
	}
	waitFor(t, "80 captured frames", func() bool { return src.reads.Load() >= 80 })
	reads, sent := src.reads.Load(), st.FramesSent()
	if limit := 20 + reads/20 + 2; sent > limit {
		t.Errorf("%d frames sent of %d captured, want at most %d", sent, reads, limit)
	}
	if sent < 20 {
		t.Errorf("%d frames sent in the first second's 20", sent)
	}
	// A keyframe request is answered at once, still screen or not.
	k := st.Keyframes()
	st.RequestKeyframe()
	waitFor(t, "the keyframe", func() bool { return st.Keyframes() > k })
	_ = a.Close()
	_ = b.Close()
	_ = st.Close()
}
