// Package calltest helps tests that run real calls: synthetic media
// tracks that keep writing samples, and pion settings that keep ICE on
// 127.0.0.1. It imports no mxcall package, so callengine's own tests can
// use it too.
package calltest

import (
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// Tracks are an Opus and a VP8 track sharing one stream ID that write
// dummy samples (20 ms audio, ~30 fps video) until Close.
type Tracks struct {
	Audio, Video *webrtc.TrackLocalStaticSample
	stop         chan struct{}
	once         sync.Once
	wg           sync.WaitGroup
}

// NewTracks starts the tracks; they stop at Close or when tb ends.
func NewTracks(tb testing.TB, stream string) *Tracks {
	tb.Helper()
	a, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", stream)
	if err != nil {
		tb.Fatal(err)
	}
	v, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", stream)
	if err != nil {
		tb.Fatal(err)
	}
	t := &Tracks{Audio: a, Video: v, stop: make(chan struct{})}
	t.wg.Add(2)
	go t.write(a, 20*time.Millisecond, 40)
	go t.write(v, 33*time.Millisecond, 200)
	tb.Cleanup(t.Close)
	return t
}

func (t *Tracks) write(tr *webrtc.TrackLocalStaticSample, every time.Duration, size int) {
	defer t.wg.Done()
	tick := time.NewTicker(every)
	defer tick.Stop()
	buf := make([]byte, size)
	buf[0] = 0x10 // VP8: start of partition; harmless for Opus
	for {
		select {
		case <-t.stop:
			return
		case <-tick.C:
			_ = tr.WriteSample(media.Sample{Data: buf, Duration: every})
		}
	}
}

// Close stops writing. It is idempotent.
func (t *Tracks) Close() {
	t.once.Do(func() { close(t.stop) })
	t.wg.Wait()
}

// LoopbackSettings keeps pion's ICE on 127.0.0.1 (UDP, no mDNS).
func LoopbackSettings() webrtc.SettingEngine {
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return se
}
