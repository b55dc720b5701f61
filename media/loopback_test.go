package media

import (
	"image"
	"math"
	"math/rand"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/transport/v5/test"
	"github.com/pion/webrtc/v4"
)

// pcm collects decoded audio (an AudioOutput).
type pcm struct {
	mu sync.Mutex
	s  []int16
}

func (p *pcm) WriteAudio(s []int16) {
	p.mu.Lock()
	p.s = append(p.s, s...)
	p.mu.Unlock()
}

func (p *pcm) samples() []int16 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int16(nil), p.s...)
}

// dropper drops a fraction of outgoing video RTP packets.
type dropper struct {
	interceptor.NoOp
	frac    float64
	rnd     *rand.Rand
	mu      sync.Mutex
	dropped atomic.Int64
}

func (d *dropper) NewInterceptor(string) (interceptor.Interceptor, error) { return d, nil }

func (d *dropper) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	if info.MimeType != webrtc.MimeTypeVP8 {
		return w
	}
	return interceptor.RTPWriterFunc(func(h *rtp.Header, p []byte, a interceptor.Attributes) (int, error) {
		d.mu.Lock()
		drop := d.rnd.Float64() < d.frac
		d.mu.Unlock()
		if drop {
			d.dropped.Add(1)
			return len(p), nil
		}
		return w.Write(h, p, a)
	})
}

type pair struct {
	a, b   *webrtc.PeerConnection
	src    *Source
	video  chan *VideoSink
	audio  chan *AudioSink
	pcm    *pcm
	closed bool
}

// newPair connects PeerConnection a (sending src's tracks) to b (sinks)
// over loopback. drop, if not nil, is added to a's interceptors instead of
// pion's defaults (no NACK, so losses must be repaired by PLI).
func newPair(t *testing.T, src *Source, drop *dropper) *pair {
	t.Helper()
	return newPairNACK(t, src, drop, false)
}

// newPairNACK is newPair; with nack the dropper sits on the wire side of
// pion's default interceptors (NACK responder included), so lost packets
// can be retransmitted.
func newPairNACK(t *testing.T, src *Source, drop *dropper, nack bool, sinkOpts ...SinkOption) *pair {
	t.Helper()
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(n string) bool { return n == "lo" })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	mkAPI := func(drop *dropper) *webrtc.API {
		m := &webrtc.MediaEngine{}
		if err := RegisterCodecs(m); err != nil {
			t.Fatal(err)
		}
		ir := &interceptor.Registry{}
		if drop != nil && nack {
			ir.Add(drop) // first = innermost: after the NACK responder's buffer
			if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
				t.Fatal(err)
			}
		} else if drop != nil {
			if err := webrtc.ConfigureRTCPReports(ir); err != nil {
				t.Fatal(err)
			}
			ir.Add(drop)
		} else {
			if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
				t.Fatal(err)
			}
			if err := AddBandwidthEstimation(m, ir); err != nil {
				t.Fatal(err)
			}
		}
		return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se), webrtc.WithInterceptorRegistry(ir))
	}
	a, err := mkAPI(drop).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := mkAPI(nil).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	p := &pair{a: a, b: b, src: src, video: make(chan *VideoSink, 1), audio: make(chan *AudioSink, 1), pcm: &pcm{}}
	b.OnTrack(func(tr *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
		if tr.StreamID() != src.StreamID() {
			t.Errorf("stream ID %q, want %q", tr.StreamID(), src.StreamID())
		}
		switch tr.Kind() {
		case webrtc.RTPCodecTypeVideo:
			s, err := NewVideoSink(tr, RTCPWriterFor(r), sinkOpts...)
			if err != nil {
				t.Error(err)
				return
			}
			p.video <- s
		case webrtc.RTPCodecTypeAudio:
			s, err := NewAudioSink(tr, p.pcm, sinkOpts...)
			if err != nil {
				t.Error(err)
				return
			}
			p.audio <- s
		}
	})
	for _, tr := range []webrtc.TrackLocal{src.Video(), src.Audio()} {
		if _, err := a.AddTrack(tr); err != nil {
			t.Fatal(err)
		}
	}
	offer, err := a.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	ga := webrtc.GatheringCompletePromise(a)
	if err := a.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-ga
	if err := b.SetRemoteDescription(*a.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	answer, err := b.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gb := webrtc.GatheringCompletePromise(b)
	if err := b.SetLocalDescription(answer); err != nil {
		t.Fatal(err)
	}
	<-gb
	if err := a.SetRemoteDescription(*b.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *pair) close(t *testing.T) {
	t.Helper()
	if p.closed {
		return
	}
	p.closed = true
	// PeerConnections first (FACTS: closing tracks first can hang).
	if err := p.a.Close(); err != nil {
		t.Error(err)
	}
	if err := p.b.Close(); err != nil {
		t.Error(err)
	}
	if err := p.src.Close(); err != nil {
		t.Error(err)
	}
}

func waitSink[T any](t *testing.T, ch chan T) T {
	t.Helper()
	select {
	case s := <-ch:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("no remote track")
	}
	var zero T
	return zero
}

// checkColours compares the centre of each quadrant with PatternColours.
func checkColours(t *testing.T, img *image.RGBA) {
	t.Helper()
	w, h := img.Rect.Dx(), img.Rect.Dy()
	for q, want := range PatternColours {
		cx, cy := w/4+(q%2)*w/2, h/4+(q/2)*h/2
		var sum [3]int
		n := 0
		for y := cy - 8; y < cy+8; y++ {
			for x := cx - 8; x < cx+8; x++ {
				c := img.RGBAAt(x, y)
				sum[0] += int(c.R)
				sum[1] += int(c.G)
				sum[2] += int(c.B)
				n++
			}
		}
		got := [3]int{sum[0] / n, sum[1] / n, sum[2] / n}
		exp := [3]int{int(want.R), int(want.G), int(want.B)}
		for i := range got {
			if d := got[i] - exp[i]; d < -25 || d > 25 {
				t.Errorf("quadrant %d: got RGB %v, want ≈ %v", q, got, exp)
				break
			}
		}
	}
}

// frequency estimates the frequency of a sine from the median period
// between rising zero crossings (linear interpolation), so that a few
// glitches (an underrun, a concealed packet) do not bias it.
func frequency(s []int16) float64 {
	var periods []float64
	last := -1.0
	for i := 1; i < len(s); i++ {
		if s[i-1] < 0 && s[i] >= 0 {
			x := float64(i-1) + float64(-s[i-1])/float64(int(s[i])-int(s[i-1]))
			if last >= 0 {
				periods = append(periods, x-last)
			}
			last = x
		}
	}
	if len(periods) == 0 {
		return 0
	}
	sort.Float64s(periods)
	// Average the middle half: the median alone is quantised by the
	// interpolation noise of single periods.
	q := len(periods) / 4
	mid := periods[q : len(periods)-q]
	sum := 0.0
	for _, p := range mid {
		sum += p
	}
	return sampleRate / (sum / float64(len(mid)))
}

func TestLoopbackVideoAndTone(t *testing.T) {
	defer test.CheckRoutines(t)()
	defer test.TimeOut(60 * time.Second).Stop()

	src, err := NewSource(WithTestPattern(), WithTone(440), WithStreamID("test-stream"), WithPreview())
	if err != nil {
		t.Fatal(err)
	}
	if !src.Fallback() || !src.AudioFallback() {
		t.Error("test pattern / tone not reported as fallback")
	}
	if src.Video().StreamID() != src.Audio().StreamID() {
		t.Error("tracks have different StreamIDs")
	}
	p := newPair(t, src, nil)
	defer p.close(t)
	vs := waitSink(t, p.video)
	as := waitSink(t, p.audio)

	slot := vs.Frames()
	deadline := time.Now().Add(10 * time.Second)
	for slot.Frames() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if slot.Frames() == 0 {
		t.Fatal("no frame decoded")
	}
	start := slot.Frames()
	time.Sleep(3 * time.Second)
	fps := float64(slot.Frames()-start) / 3
	t.Logf("decoded %.1f fps, stats %+v, sent %d frames at %d kbit/s (%d GCC estimates)", fps, vs.Stats(), src.FramesSent(),
		src.VideoBitrate(), src.BandwidthEstimates())
	if src.BandwidthEstimates() == 0 {
		t.Error("no bandwidth estimate reached the encoder")
	}
	if fps < 25 {
		t.Errorf("frame rate %.1f fps, want ≥ 25", fps)
	}
	img, fresh := slot.Acquire()
	if img == nil || !fresh {
		t.Fatal("no fresh frame")
	}
	if img.Rect.Dx() != 640 || img.Rect.Dy() != 480 {
		t.Errorf("frame size %v", img.Rect)
	}
	checkColours(t, img)
	if _, fresh := slot.Acquire(); fresh {
		// a new frame may have arrived meanwhile; that is fine
		t.Log("another frame arrived between acquires")
	}
	if pv, _ := src.Preview().Acquire(); pv == nil {
		t.Error("no preview frame")
	} else {
		checkColours(t, pv)
	}

	// Tone: skip the first 200 ms (codec start-up), measure 1 s.
	s := p.pcm.samples()
	if len(s) < sampleRate*3/2 {
		t.Fatalf("only %d audio samples", len(s))
	}
	f := frequency(s[sampleRate/5 : sampleRate/5+sampleRate])
	t.Logf("decoded tone %.2f Hz from %d samples", f, len(s))
	if math.Abs(f-440)/440 > 0.02 {
		t.Errorf("tone %.2f Hz, want 440 ± 2%%", f)
	}
	if dec, _ := as.Packets(); dec < 100 {
		t.Errorf("only %d audio packets", dec)
	}

	// Muting video stops capture; unmuting resumes it.
	src.SetVideoMuted(true)
	time.Sleep(200 * time.Millisecond)
	n := src.FramesSent()
	time.Sleep(300 * time.Millisecond)
	if d := src.FramesSent() - n; d != 0 {
		t.Errorf("%d frames sent while muted", d)
	}
	src.SetVideoMuted(false)
	// Capture restarts on its own goroutine: wait for its first frame (a
	// hang guard, not a timing check; a loaded machine takes longer).
	for deadline := time.Now().Add(5 * time.Second); src.FramesSent() == n && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if src.FramesSent() == n {
		t.Error("no frames after unmute")
	}

	p.close(t)
	vs.Close()
	as.Close()
	if src.CameraOpen() || src.MicrophoneOpen() {
		t.Error("device still open after Close")
	}
	if sent := src.FramesSent(); func() bool { time.Sleep(100 * time.Millisecond); return src.FramesSent() != sent }() {
		t.Error("still capturing after Close")
	}
}

func TestLoopbackLossRecoversThroughPLI(t *testing.T) {
	defer test.CheckRoutines(t)()
	defer test.TimeOut(60 * time.Second).Stop()

	src, err := NewSource(WithTestPattern(), WithTone(440))
	if err != nil {
		t.Fatal(err)
	}
	drop := &dropper{frac: 0.05, rnd: rand.New(rand.NewSource(7))}
	p := newPair(t, src, drop)
	defer p.close(t)
	vs := waitSink(t, p.video)
	_ = waitSink(t, p.audio)

	for range 8 {
		time.Sleep(500 * time.Millisecond)
		t.Logf("sent %d, sink %+v", src.FramesSent(), vs.Stats())
	}
	st := vs.Stats()
	t.Logf("dropped %d packets; sink %+v; keyframes forced at sender %d", drop.dropped.Load(), st, src.Keyframes())
	if drop.dropped.Load() == 0 || st.LostFrames == 0 {
		t.Fatal("no loss happened")
	}
	if st.PLIs == 0 {
		t.Error("no PLI sent")
	}
	if src.Keyframes() == 0 {
		t.Error("sender forced no keyframe on PLI")
	}
	if st.Keyframes < 2 {
		t.Errorf("decoded %d keyframes, want ≥ 2 (recovery)", st.Keyframes)
	}
	// Pictures recover: frames keep being decoded after losses, and they are right.
	n := vs.Frames().Frames()
	time.Sleep(2 * time.Second)
	if got := vs.Frames().Frames() - n; got < 8 {
		t.Errorf("only %d frames decoded in the last 2 s", got)
	}
	img, _ := vs.Frames().Acquire()
	if img == nil {
		t.Fatal("no frame")
	}
	checkColours(t, img)
	p.close(t)
	vs.Close()
}

func TestLoopbackLossWithNACK(t *testing.T) {
	defer test.CheckRoutines(t)()
	defer test.TimeOut(60 * time.Second).Stop()

	src, err := NewSource(WithTestPattern(), WithTone(440))
	if err != nil {
		t.Fatal(err)
	}
	drop := &dropper{frac: 0.05, rnd: rand.New(rand.NewSource(11))}
	p := newPairNACK(t, src, drop, true)
	defer p.close(t)
	vs := waitSink(t, p.video)
	_ = waitSink(t, p.audio)
	waitFor(t, "first frame", func() bool { return vs.Frames().Frames() > 0 })
	start := vs.Frames().Frames()
	time.Sleep(3 * time.Second)
	fps := float64(vs.Frames().Frames()-start) / 3
	st := vs.Stats()
	t.Logf("5%% loss with NACK: %.1f fps, dropped %d packets, sink %+v", fps, drop.dropped.Load(), st)
	if drop.dropped.Load() == 0 {
		t.Fatal("no loss happened")
	}
	if fps < 20 {
		t.Errorf("%.1f fps with NACK under 5%% loss, want ≥ 20", fps)
	}
	p.close(t)
	vs.Close()
}
