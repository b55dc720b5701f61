package media

import (
	"errors"
	"image"
	"io"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"weak"

	"github.com/pion/mediadevices/pkg/driver"
	"github.com/pion/mediadevices/pkg/frame"
	"github.com/pion/mediadevices/pkg/io/video"
	"github.com/pion/mediadevices/pkg/prop"
	"github.com/pion/rtcp"
	"github.com/pion/transport/v5/test"

	"github.com/mxcall/mxcall/media/vpx"
)

func TestFrameSlot(t *testing.T) {
	s := NewFrameSlot()
	if img, fresh := s.Acquire(); img != nil || fresh {
		t.Fatal("empty slot returned a frame")
	}
	seen := map[*vpx.I420]bool{}
	for i := range 5 {
		b := s.writeFrame()
		fillI420(b, 4, 2, byte(16+i*20))
		s.publish()
		seen[b] = true
	}
	select {
	case <-s.Updated():
	default:
		t.Error("no update signalled")
	}
	img, fresh := s.Acquire()
	if want := rgbaOfLuma(16 + 4*20); !fresh || img.Pix[0] != want {
		t.Fatalf("got red %d fresh=%v, want newest (%d)", img.Pix[0], fresh, want)
	}
	// The writer never gets the reader's frame.
	s.mu.Lock()
	front := s.front
	s.mu.Unlock()
	for range 3 {
		if b := s.writeFrame(); b == front {
			t.Fatal("writer got the reader's frame")
		}
		fillI420(s.writeFrame(), 4, 2, 100)
		s.publish()
	}
	if len(seen) > 3 {
		t.Errorf("%d frames used, want ≤ 3 (memory flat)", len(seen))
	}
	if _, fresh := s.Acquire(); !fresh {
		t.Error("new frame not fresh")
	}
	if _, fresh := s.Acquire(); fresh {
		t.Error("same frame reported fresh twice")
	}
	if s.Frames() != 8 {
		t.Errorf("Frames() = %d", s.Frames())
	}
}

func TestBandwidth(t *testing.T) {
	b := bandwidth{cur: 1000, max: 1500, min: 100}
	if got := b.loss(0.3); got != 850 {
		t.Errorf("30%% loss: %d, want 850", got)
	}
	if got := b.loss(0.05); got != 850 {
		t.Errorf("5%% loss changed bitrate to %d", got)
	}
	for range 50 {
		b.loss(0)
	}
	if b.cur != 1500 {
		t.Errorf("no loss: %d, want cap 1500", b.cur)
	}
	if got := b.remb(600); got != 600 {
		t.Errorf("REMB 600: %d", got)
	}
	if got := b.loss(0); got != 600 {
		t.Errorf("grew past REMB: %d", got)
	}
	if got := b.estimate(20); got != 100 {
		t.Errorf("estimate below min: %d", got)
	}
}

func TestKeyframeOnPLIAndBitrateCap(t *testing.T) {
	s := &Source{bwe: bandwidth{cur: 800, max: 1000, min: 100}}
	s.videoRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{}})
	if !s.keyframe.Load() {
		t.Error("PLI did not request a keyframe")
	}
	s.keyframe.Store(false)
	s.videoRTCP([]rtcp.Packet{&rtcp.FullIntraRequest{}})
	if !s.keyframe.Load() {
		t.Error("FIR did not request a keyframe")
	}
	s.videoRTCP([]rtcp.Packet{&rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: 5e6}})
	if got := s.VideoBitrate(); got != 800 {
		t.Errorf("REMB above cap: bitrate %d, want 800", got)
	}
	s.videoRTCP([]rtcp.Packet{&rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: 300e3}})
	if got := s.VideoBitrate(); got != 300 {
		t.Errorf("REMB 300k: bitrate %d", got)
	}
	s.SetBandwidthEstimate(2e6)
	if got := s.VideoBitrate(); got != 1000 {
		t.Errorf("estimate above cap: %d, want 1000", got)
	}
}

func TestPlayerJitterBuffer(t *testing.T) {
	p := &Player{ring: make([]int16, sampleRate), prefill: 2 * frameSamples, maxFill: 10 * frameSamples}
	out := make([]byte, 2*480)
	frame := make([]int16, frameSamples)
	for i := range frame {
		frame[i] = 1000
	}
	p.WriteAudio(frame) // 20 ms: below the 40 ms prefill
	p.fill(out, nil, 480)
	if out[0] != 0 || p.playing {
		t.Fatal("played before the jitter buffer was filled")
	}
	p.WriteAudio(frame)
	p.fill(out, nil, 480)
	if v := int16(uint16(out[0]) | uint16(out[1])<<8); v != 1000 {
		t.Fatalf("played %d, want 1000", v)
	}
	for range 5 { // drain → underrun → buffering again
		p.fill(out, nil, 480)
	}
	if p.playing || p.under != 1 {
		t.Errorf("playing=%v underruns=%d after draining", p.playing, p.under)
	}
	for range 30 { // a burst of 600 ms is trimmed to bound latency
		p.WriteAudio(frame)
	}
	if p.n > p.maxFill {
		t.Errorf("buffered %d samples, max %d", p.n, p.maxFill)
	}
}

func TestPlayerWithoutDevice(t *testing.T) {
	p, err := NewPlayer("")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("fallback (no sound device) = %v", p.Fallback())
	p.WriteAudio(make([]int16, frameSamples))
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	p.WriteAudio(make([]int16, frameSamples))
	if _, err := NewPlayer("no-such-device"); !errors.Is(err, ErrNoDevice) {
		t.Errorf("unknown device: %v", err)
	}
}

// fakeCamera is a mediadevices camera driver producing a solid colour.
type fakeCamera struct {
	y, cb, cr byte
	sub       image.YCbCrSubsampleRatio
	opens     atomic.Int32
	mu        sync.Mutex
	closed    chan struct{}
}

func (c *fakeCamera) Open() error {
	c.opens.Add(1)
	c.mu.Lock()
	c.closed = make(chan struct{})
	c.mu.Unlock()
	return nil
}

func (c *fakeCamera) Close() error {
	c.opens.Add(-1)
	c.mu.Lock()
	close(c.closed)
	c.mu.Unlock()
	return nil
}

func (c *fakeCamera) Properties() []prop.Media {
	return []prop.Media{
		{Video: prop.Video{Width: 320, Height: 240, FrameFormat: frame.FormatYUYV, FrameRate: 30}},
		{Video: prop.Video{Width: 1920, Height: 1080, FrameFormat: frame.FormatMJPEG, FrameRate: 30}},
	}
}

func (c *fakeCamera) VideoRecord(p prop.Media) (video.Reader, error) {
	img := image.NewYCbCr(image.Rect(0, 0, p.Width, p.Height), c.sub)
	for i := range img.Y {
		img.Y[i] = c.y
	}
	for i := range img.Cb {
		img.Cb[i], img.Cr[i] = c.cb, c.cr
	}
	tick := time.NewTicker(time.Second / 30)
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	return video.ReaderFunc(func() (image.Image, func(), error) {
		select {
		case <-closed:
			tick.Stop()
			return nil, func() {}, io.EOF
		case <-tick.C:
			return img, func() {}, nil
		}
	}), nil
}

func registerFake(t *testing.T, label string, c *fakeCamera, prio driver.Priority) string {
	t.Helper()
	m := driver.GetManager()
	if err := m.Register(c, driver.Info{Label: label, DeviceType: driver.Camera, Priority: prio, Name: label}); err != nil {
		t.Fatal(err)
	}
	for _, d := range m.Query(driver.FilterDeviceType(driver.Camera)) {
		if d.Info().Label == label {
			t.Cleanup(func() { m.Delete(d.ID()) })
			return d.ID()
		}
	}
	t.Fatal("fake camera not registered")
	return ""
}

func centre(img *image.RGBA) [3]int {
	c := img.RGBAAt(img.Rect.Dx()/2, img.Rect.Dy()/2)
	return [3]int{int(c.R), int(c.G), int(c.B)}
}

func near(a, b [3]int, tol int) bool {
	for i := range a {
		if math.Abs(float64(a[i]-b[i])) > float64(tol) {
			return false
		}
	}
	return true
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCameraCaptureSwitchAndRelease(t *testing.T) {
	defer test.CheckRoutines(t)()
	defer test.TimeOut(60 * time.Second).Stop()

	magenta := rgbToYUV(200, 40, 200)
	cyan := rgbToYUV(40, 200, 200)
	cam1 := &fakeCamera{y: magenta[0], cb: magenta[1], cr: magenta[2], sub: image.YCbCrSubsampleRatio422}
	cam2 := &fakeCamera{y: cyan[0], cb: cyan[1], cr: cyan[2], sub: image.YCbCrSubsampleRatio420}
	id1 := registerFake(t, "fakecam-1", cam1, driver.PriorityHigh)
	id2 := registerFake(t, "fakecam-2", cam2, driver.PriorityNormal)

	var listed int
	for _, d := range ListDevices() {
		if d.Kind == DeviceCamera && (d.ID == id1 || d.ID == id2) {
			listed++
		}
	}
	if listed != 2 {
		t.Errorf("ListDevices shows %d of the 2 fake cameras", listed)
	}

	src, err := NewSource(WithTone(300), WithVideoSize(320, 240))
	if err != nil {
		t.Fatal(err)
	}
	if src.CameraOpen() || cam1.opens.Load() != 0 {
		t.Fatal("camera opened before the track was bound")
	}
	if _, err := src.SelectCamera("nope"); !errors.Is(err, ErrNoDevice) {
		t.Errorf("SelectCamera(unknown): %v", err)
	}
	// Preview outside a call: camera runs, nothing is encoded.
	pv, err := NewSource(WithPreview(), WithVideoSize(320, 240))
	if err != nil {
		t.Fatal(err)
	}
	pv.SetPreviewing(true)
	waitFor(t, "preview frames from camera 1", func() bool {
		img, _ := pv.Preview().Acquire()
		return img != nil && near(centre(img), [3]int{200, 40, 200}, 12)
	})
	if pv.FramesSent() != 0 {
		t.Error("preview-only source encoded frames")
	}
	pv.SetPreviewing(false)
	waitFor(t, "preview released the camera", func() bool { return cam1.opens.Load() == 0 })
	pv.Close()

	p := newPair(t, src, nil)
	defer p.close(t)
	vs := waitSink(t, p.video)
	waitSink(t, p.audio)
	slot := vs.Frames()

	waitFor(t, "frames from camera 1", func() bool {
		img, _ := slot.Acquire()
		return img != nil && near(centre(img), [3]int{200, 40, 200}, 25)
	})
	if src.Fallback() || !src.CameraOpen() || cam1.opens.Load() != 1 {
		t.Errorf("fallback=%v cameraOpen=%v cam1 opens=%d", src.Fallback(), src.CameraOpen(), cam1.opens.Load())
	}
	img, _ := slot.Acquire()
	if img.Rect.Dx() != 320 || img.Rect.Dy() != 240 {
		t.Errorf("size %v, want the camera's 320x240 mode", img.Rect)
	}

	// Switch cameras: same track, new pictures, old camera released.
	tr, err := src.SelectCamera(id2)
	if err != nil || tr != src.Video() {
		t.Fatalf("SelectCamera: %v (same track: %v)", err, tr == src.Video())
	}
	waitFor(t, "frames from camera 2", func() bool {
		img, _ := slot.Acquire()
		return img != nil && near(centre(img), [3]int{40, 200, 200}, 25)
	})
	if cam1.opens.Load() != 0 || cam2.opens.Load() != 1 {
		t.Errorf("after switch: cam1 opens=%d cam2 opens=%d", cam1.opens.Load(), cam2.opens.Load())
	}

	// Mute releases the camera at once; unmute takes it again.
	src.SetVideoMuted(true)
	waitFor(t, "camera released on mute", func() bool { return cam2.opens.Load() == 0 && !src.CameraOpen() })
	src.SetVideoMuted(false)
	waitFor(t, "camera reopened on unmute", func() bool { return cam2.opens.Load() == 1 })

	p.close(t)
	vs.Close()
	if cam1.opens.Load() != 0 || cam2.opens.Load() != 0 || src.CameraOpen() {
		t.Errorf("after Close: cam1=%d cam2=%d open=%v", cam1.opens.Load(), cam2.opens.Load(), src.CameraOpen())
	}
}

func TestNoCameraFallsBackToPattern(t *testing.T) {
	if len(cameras()) > 0 {
		t.Skip("a camera exists on this machine")
	}
	src, err := NewSource()
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if !src.Fallback() {
		t.Error("no camera but Fallback() is false")
	}
}

// The bandwidth-estimation factory lives as long as the pion API; it must
// keep nothing of the connections it made interceptors for (the
// estimator's stream writers lead to the whole PeerConnection).
func TestBandwidthEstimationFactoryKeepsNoConnection(t *testing.T) {
	f, err := newBWEFactory()
	if err != nil {
		t.Fatal(err)
	}
	in, err := f.NewInterceptor("pc1")
	if err != nil {
		t.Fatal(err)
	}
	b, ok := in.(*bweInterceptor)
	if !ok {
		t.Fatalf("interceptor is a %T", in)
	}
	w := weak.Make(b)
	if err := in.Close(); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	if w.Value() != nil {
		t.Fatal("the factory still reaches the interceptor (and estimator) of a closed connection")
	}
	runtime.KeepAlive(f) // as the API keeps it
}
