package media

import (
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"github.com/mxcall/mxcall/media/vpx"
)

// TestVideoDecoderNotesFirstPacketKeyframeFrame checks the times a video
// sink notes on the way to its first picture: the first packet (a delta
// frame, skipped with a PLI), the first key frame, the first picture.
func TestVideoDecoderNotesFirstPacketKeyframeFrame(t *testing.T) {
	const w, h = 160, 120
	p := newPattern(w, h)
	enc, err := vpx.NewEncoder(vpx.EncoderConfig{Width: w, Height: h, KeyframeInterval: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	pz := rtp.NewPacketizer(1200, 96, 1234, &codecs.VP8Payloader{EnablePictureID: true}, rtp.NewFixedSequencer(0), 90000)
	var frames [][]*rtp.Packet
	for i := range 2 { // a key frame, then a delta frame
		p.draw(i)
		data, _, err := enc.Encode(p.y, p.u, p.v, int64(i*33))
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, pz.Packetize(data, 3000))
	}
	_ = enc.Close()
	dec, err := vpx.NewDecoder(1)
	if err != nil {
		t.Fatal(err)
	}
	var st VideoStats
	plis := 0
	d := newVideoDecoder(dec, NewFrameSlot(), func(f func(*VideoStats)) { f(&st) }, nil, func() { plis++ })
	defer d.close()
	seq := uint16(100)
	feed := func(pkts []*rtp.Packet, ts uint32) {
		for _, pkt := range pkts {
			pkt.SequenceNumber, pkt.Timestamp = seq, ts
			seq++
			b := d.packet()
			raw, err := pkt.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			d.push(b, copy(b.raw[:], raw))
		}
	}
	before := time.Now()
	feed(frames[1], 3000) // a delta frame first: no picture yet
	if st.FirstPacket.Before(before) || !st.FirstKeyframe.IsZero() || !st.FirstFrame.IsZero() || st.Skipped != 1 || plis == 0 {
		t.Fatalf("after a delta frame: %+v, %d PLIs", st, plis)
	}
	first := st.FirstPacket
	time.Sleep(2 * time.Millisecond)
	feed(frames[0], 6000)
	if st.FirstPacket != first || st.FirstKeyframe.Before(first) || st.FirstFrame.Before(st.FirstKeyframe) || st.Frames != 1 {
		t.Fatalf("after the key frame: %+v", st)
	}
	key, pic := st.FirstKeyframe, st.FirstFrame
	feed(frames[1], 9000)
	if st.FirstKeyframe != key || st.FirstFrame != pic || st.Frames != 2 {
		t.Fatalf("the first times changed: %+v", st)
	}
}
