package partner

import (
	"context"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/transport/v5/test"
	"github.com/pion/webrtc/v4"

	"github.com/mxcall/mxcall/callengine/calltest"
)

// A receiver's PLI on an echo video track reaches the track's key frame
// callback (which passes it on to the caller); the RTCP reader ends with
// the connection.
func TestPLITrackPassesKeyframeRequests(t *testing.T) {
	defer test.CheckRoutines(t)()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // a hang guard
	defer cancel()
	api := webrtc.NewAPI(webrtc.WithSettingEngine(calltest.LoopbackSettings()))
	pub, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	tracks, err := newEchoCall("pli")
	if err != nil {
		t.Fatal(err)
	}
	tr := tracks.video
	requested := make(chan struct{}, 16)
	tr.setOnKeyframe(func() { requested <- struct{}{} })
	if _, err := pub.AddTrack(tr); err != nil {
		t.Fatal(err)
	}
	sub.OnTrack(func(remote *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		_ = sub.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(remote.SSRC())}})
	})
	connect(ctx, t, pub, sub)
	// Packets, until the subscriber has the track and asks for a key frame.
	seq := uint16(0)
	for got := false; !got; {
		seq++
		pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: uint32(seq) * 3000, SSRC: 1},
			Payload: []byte{0x10, 0x00, 0x9d, 0x01, 0x2a}}
		b, _ := pkt.Marshal()
		_, _ = tr.Write(b)
		select {
		case <-requested:
			got = true
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			t.Fatal("the PLI never reached the echo track")
		}
	}
	_ = sub.Close()
	_ = pub.Close()
	tr.wait()
}

// connect negotiates pub → sub (full ICE gathering, no trickle).
func connect(ctx context.Context, t *testing.T, pub, sub *webrtc.PeerConnection) {
	t.Helper()
	offer, err := pub.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pub)
	if err := pub.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	if err := sub.SetRemoteDescription(*pub.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	answer, err := sub.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered = webrtc.GatheringCompletePromise(sub)
	if err := sub.SetLocalDescription(answer); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		t.Fatal("gathering")
	}
	if err := pub.SetRemoteDescription(*sub.LocalDescription()); err != nil {
		t.Fatal(err)
	}
}
