package partner

import (
	"sync"
	"sync/atomic"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// pliTrack is an echo track that hears its receivers' key frame requests
// (PLI, FIR): the echo passes them on to the caller, whose encoder makes
// the key frame, so a receiver that joins or loses packets recovers at
// once instead of at the echo's next periodic request.
type pliTrack struct {
	*webrtc.TrackLocalStaticRTP
	onKeyframe atomic.Pointer[func()]
	wg         sync.WaitGroup // RTCP readers
}

func newPLITrack(t *webrtc.TrackLocalStaticRTP) *pliTrack { return &pliTrack{TrackLocalStaticRTP: t} }

// setOnKeyframe sets what a key frame request from a receiver calls.
func (t *pliTrack) setOnKeyframe(fn func()) { t.onKeyframe.Store(&fn) }

// RequestKeyframe passes a key frame request on (to the caller); a
// matrixrtc session calls it (matrixrtc.KeyframeTrack) for every request
// the SFU makes, some of which LiveKit's SDK reads before readRTCP can.
func (t *pliTrack) RequestKeyframe() {
	if fn := t.onKeyframe.Load(); fn != nil && *fn != nil {
		(*fn)()
	}
}

// Bind implements webrtc.TrackLocal and starts reading the sender's RTCP
// (until its PeerConnection closes).
func (t *pliTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	p, err := t.TrackLocalStaticRTP.Bind(ctx)
	if err == nil {
		if r := ctx.RTCPReader(); r != nil {
			t.wg.Add(1)
			go t.readRTCP(r)
		}
	}
	return p, err
}

func (t *pliTrack) readRTCP(r interceptor.RTCPReader) {
	defer t.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, _, err := r.Read(buf, interceptor.Attributes{})
		if err != nil {
			return
		}
		pkts, err := rtcp.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				t.RequestKeyframe()
			}
		}
	}
}

// wait waits for the RTCP readers, which end with their PeerConnections.
func (t *pliTrack) wait() { t.wg.Wait() }
