package media

import (
	"sync"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/interceptor/pkg/gcc"
	"github.com/pion/webrtc/v4"
)

// audioShare is what the send-side estimate keeps for Opus and RTCP.
const audioShare = 48_000

// estimateTargets maps the SSRC of a bound video track to its owner (a
// Source or a ScreenTrack), so a PeerConnection's bandwidth estimate
// reaches the encoder feeding it.
var estimateTargets sync.Map // uint32 → videoOwner

// Shares of one connection's estimate when it sends a camera and a screen:
// the screen gets three quarters (its text must stay readable; the camera
// is a small tile beside it).
const (
	cameraWeight = 1
	screenWeight = 3
)

// AddBandwidthEstimation adds pion's send-side congestion control (Google
// Congestion Control over transport-wide CC feedback) to an interceptor
// registry. Each PeerConnection gets its own estimator; its target bitrate
// (minus a share for audio) is fed to the Source whose video track that
// connection sends, through SetBandwidthEstimate, so the encoder follows
// the available bandwidth under the configured cap. A connection that
// sends a camera and a screen share splits it 1:3 between them. The peer must send
// TWCC feedback (pion's default interceptors and browsers do; register
// transport-cc, as RegisterCodecs does). Packets are not paced.
//
// It also registers the transport-wide CC header extension on m and the
// interceptor that stamps it, after the estimator, so that the estimator
// (wrapping outermost) sees stamped packets. Call it once per API.
func AddBandwidthEstimation(m *webrtc.MediaEngine, ir *interceptor.Registry) error {
	f, err := newBWEFactory()
	if err != nil {
		return err
	}
	ir.Add(f)
	return webrtc.ConfigureTWCCHeaderExtensionSender(m, ir)
}

func newBWEFactory() (*bweFactory, error) {
	f, err := cc.NewInterceptor(func() (cc.BandwidthEstimator, error) {
		return gcc.NewSendSideBWE(
			gcc.SendSideBWEInitialBitrate(1_000_000),
			gcc.SendSideBWEMinBitrate(150_000),
			gcc.SendSideBWEMaxBitrate(4_000_000),
			gcc.SendSideBWEPacer(gcc.NewNoOpPacer()),
		)
	})
	if err != nil {
		return nil, err
	}
	return &bweFactory{cc: f}, nil
}

type bweFactory struct {
	cc *cc.InterceptorFactory
	mu sync.Mutex
}

// NewInterceptor implements interceptor.Factory.
func (f *bweFactory) NewInterceptor(id string) (interceptor.Interceptor, error) {
	var est cc.BandwidthEstimator
	f.mu.Lock() // OnNewPeerConnection's callback is per factory, not per call
	f.cc.OnNewPeerConnection(func(_ string, e cc.BandwidthEstimator) { est = e })
	in, err := f.cc.NewInterceptor(id)
	// The factory lives as long as the API: a callback left set would keep
	// this connection's estimator, and through its stream writers the
	// whole connection, alive until the next call.
	f.cc.OnNewPeerConnection(nil)
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	b := &bweInterceptor{Interceptor: in, ssrcs: map[uint32]bool{}}
	if est != nil {
		est.OnTargetBitrateChange(b.onTarget)
	}
	return b, nil
}

// bweInterceptor remembers which video SSRCs its PeerConnection sends.
type bweInterceptor struct {
	interceptor.Interceptor
	mu    sync.Mutex
	ssrcs map[uint32]bool
}

func (b *bweInterceptor) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	if info.MimeType == webrtc.MimeTypeVP8 {
		b.mu.Lock()
		b.ssrcs[info.SSRC] = true
		b.mu.Unlock()
	}
	return b.Interceptor.BindLocalStream(info, w)
}

func (b *bweInterceptor) UnbindLocalStream(info *interceptor.StreamInfo) {
	b.mu.Lock()
	delete(b.ssrcs, info.SSRC)
	b.mu.Unlock()
	b.Interceptor.UnbindLocalStream(info)
}

func (b *bweInterceptor) onTarget(bps int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var owners []videoOwner
	total := 0
	for ssrc := range b.ssrcs {
		if s, ok := estimateTargets.Load(ssrc); ok {
			o := s.(videoOwner)
			owners = append(owners, o)
			total += o.bweWeight()
		}
	}
	video := max(bps-audioShare, 0)
	for _, o := range owners {
		o.SetBandwidthEstimate(video * o.bweWeight() / total)
	}
}
