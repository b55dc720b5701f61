package partner

import (
	"fmt"
	"image"
	"image/color"
	"strings"
	"time"

	"github.com/mxcall/mxcall/callengine"
	"github.com/mxcall/mxcall/media"
)

// A caller's screen share (a second video track, purpose m.screenshare)
// is not echoed: the echo has no way to show it back except as its own
// share. It decodes the share instead and logs what arrives — the picture's
// size and the mean colours of its four corners — so a user, or a test
// that puts a known pattern on the shared screen, can see that the share
// works. Decoding costs CPU that forwarding does not, but a share runs at
// a few frames per second and only a frame every shareSampleEvery is
// converted to RGB.

// shareSampleEvery is how often the echo looks at the newest frame of a
// screen share.
const shareSampleEvery = 500 * time.Millisecond

// shareColourStep is how far (in any channel of any corner) the corners'
// colours must move before the echo logs them again.
const shareColourStep = 24

// watchShare decodes the caller's screen share rt and logs its size and
// corner colours: once at the first frame, again when they change. It
// returns when the track ends (the call ended).
func (e *Echo) watchShare(rt callengine.RemoteTrack) {
	sink, err := media.NewVideoSink(rt.Track, media.RTCPWriterFor(rt.Receiver))
	if err != nil {
		e.log.Warn("echo: screen share", "call_id", rt.CallID, "err", err)
		return
	}
	defer func() { _ = sink.Close() }()
	e.log.Info("echo: receiving a screen share", "call_id", rt.CallID, "stream", rt.Track.StreamID())
	tick := time.NewTicker(shareSampleEvery)
	defer tick.Stop()
	var last shareLook
	for {
		select {
		case <-sink.Done():
			e.log.Info("echo: screen share track ended", "call_id", rt.CallID, "frames", sink.Frames().Frames())
			return
		case <-tick.C:
		}
		img, fresh := sink.Frames().Acquire()
		if img == nil || !fresh {
			continue
		}
		look := lookAt(img)
		if look.near(last) {
			continue
		}
		last = look
		e.log.Info("echo: screen share", "call_id", rt.CallID, "size", fmt.Sprintf("%dx%d", look.w, look.h),
			"corners", look.corners(), "frames", sink.Frames().Frames())
	}
}

// shareLook is what the echo logs of a share's frame: its size and the
// mean colours of its corners (top left, top right, bottom left, bottom
// right), each a patch of 1/16 of the width by 1/16 of the height.
type shareLook struct {
	w, h int
	c    [4]color.RGBA
}

func lookAt(img *image.RGBA) shareLook {
	b := img.Bounds()
	l := shareLook{w: b.Dx(), h: b.Dy()}
	pw, ph := max(l.w/16, 1), max(l.h/16, 1)
	for i := range l.c {
		x0, y0 := b.Min.X, b.Min.Y
		if i%2 == 1 {
			x0 = b.Max.X - pw
		}
		if i >= 2 {
			y0 = b.Max.Y - ph
		}
		l.c[i] = meanColour(img, image.Rect(x0, y0, x0+pw, y0+ph).Intersect(b))
	}
	return l
}

// meanColour is the mean colour of img inside r (black when r is empty).
func meanColour(img *image.RGBA, r image.Rectangle) color.RGBA {
	var sum [3]int
	n := r.Dx() * r.Dy()
	if n == 0 {
		return color.RGBA{A: 255}
	}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		row := img.Pix[img.PixOffset(r.Min.X, y):]
		for x := 0; x < r.Dx(); x++ {
			sum[0] += int(row[4*x])
			sum[1] += int(row[4*x+1])
			sum[2] += int(row[4*x+2])
		}
	}
	return color.RGBA{R: uint8(sum[0] / n), G: uint8(sum[1] / n), B: uint8(sum[2] / n), A: 255}
}

// near reports whether l and o have the same size and corner colours
// within shareColourStep of each other.
func (l shareLook) near(o shareLook) bool {
	if l.w != o.w || l.h != o.h {
		return false
	}
	d := func(a, b uint8) int { return max(int(a)-int(b), int(b)-int(a)) }
	for i := range l.c {
		a, b := l.c[i], o.c[i]
		if d(a.R, b.R) > shareColourStep || d(a.G, b.G) > shareColourStep || d(a.B, b.B) > shareColourStep {
			return false
		}
	}
	return true
}

// corners formats the corner colours as "#rrggbb" words: top left, top
// right, bottom left, bottom right.
func (l shareLook) corners() string {
	s := make([]string, len(l.c))
	for i, c := range l.c {
		s[i] = fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B)
	}
	return strings.Join(s, " ")
}
