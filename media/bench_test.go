package media

import (
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"github.com/mxcall/mxcall/media/vpx"
	"gopkg.in/hraban/opus.v2"
)

func benchPatternEncode(b *testing.B, w, h int) {
	b.Helper()
	p := newPattern(w, h)
	enc, err := vpx.NewEncoder(vpx.EncoderConfig{Width: w, Height: h, BitrateKbps: 1500})
	if err != nil {
		b.Fatal(err)
	}
	defer enc.Close()
	frames := make([][3][]byte, 16)
	for i := range frames {
		p.draw(i)
		frames[i] = [3][]byte{append([]byte(nil), p.y...), append([]byte(nil), p.u...), append([]byte(nil), p.v...)}
	}
	for i := range 10 {
		f := frames[i%16]
		enc.Encode(f[0], f[1], f[2], int64(i*33))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f := frames[i%16]
		if _, _, err := enc.Encode(f[0], f[1], f[2], int64((i+10)*33)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodePattern480p encodes the test pattern (what CI sends).
func BenchmarkEncodePattern480p(b *testing.B) { benchPatternEncode(b, 640, 480) }

// BenchmarkEncodePattern720p encodes the test pattern at 720p.
func BenchmarkEncodePattern720p(b *testing.B) { benchPatternEncode(b, 1280, 720) }

// BenchmarkPatternDraw is the cost of generating one test-pattern frame.
func BenchmarkPatternDraw(b *testing.B) {
	p := newPattern(640, 480)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		p.draw(i)
	}
}

// BenchmarkOpusEncode20ms encodes one 20 ms mono 48 kHz packet.
func BenchmarkOpusEncode20ms(b *testing.B) {
	enc, err := opus.NewEncoder(sampleRate, 1, opus.AppVoIP)
	if err != nil {
		b.Fatal(err)
	}
	_ = enc.SetBitrate(32000)
	_ = enc.SetInBandFEC(true)
	t := tone{freq: 440, amp: 0.3}
	pcm := make([]int16, frameSamples)
	out := make([]byte, 1500)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		t.fill(pcm)
		if _, err := enc.Encode(pcm, out); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpusDecode20ms decodes one 20 ms packet.
func BenchmarkOpusDecode20ms(b *testing.B) {
	enc, _ := opus.NewEncoder(sampleRate, 1, opus.AppVoIP)
	dec, err := opus.NewDecoder(sampleRate, 1)
	if err != nil {
		b.Fatal(err)
	}
	t := tone{freq: 440, amp: 0.3}
	pcm := make([]int16, frameSamples)
	pkts := make([][]byte, 50)
	for i := range pkts {
		t.fill(pcm)
		out := make([]byte, 1500)
		n, _ := enc.Encode(pcm, out)
		pkts[i] = out[:n]
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := dec.Decode(pkts[i%len(pkts)], pcm); err != nil {
			b.Fatal(err)
		}
	}
}

func benchReceive(b *testing.B, w, h int) {
	b.Helper()
	p := newPattern(w, h)
	enc, err := vpx.NewEncoder(vpx.EncoderConfig{Width: w, Height: h, BitrateKbps: w * h / 250, KeyframeInterval: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	pz := rtp.NewPacketizer(1200, 96, 1234, &codecs.VP8Payloader{EnablePictureID: true}, rtp.NewRandomSequencer(), 90000)
	const n = 64
	frames := make([][][]byte, n) // raw RTP packets per frame
	for i := range frames {
		p.draw(i)
		data, _, err := enc.Encode(p.y, p.u, p.v, int64(i*33))
		if err != nil {
			b.Fatal(err)
		}
		for _, pkt := range pz.Packetize(data, 3000) {
			raw, _ := pkt.Marshal()
			frames[i] = append(frames[i], raw)
		}
	}
	enc.Close()
	dec, _ := vpx.NewDecoder(1)
	slot := NewFrameSlot()
	d := newVideoDecoder(dec, slot, func(func(*VideoStats)) {}, nil, func() {})
	defer d.close()
	seq := uint16(0)
	feed := func(i, frame int) {
		ts := uint32(i * 3000)
		for _, raw := range frames[frame] {
			pb := d.packet()
			buf := pb.raw[:]
			k := copy(buf, raw)
			buf[2], buf[3] = byte(seq>>8), byte(seq)
			buf[4], buf[5], buf[6], buf[7] = byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts)
			seq++
			d.push(pb, k)
		}
	}
	for i := range n { // first pass: keyframe, buffers, pools
		feed(i, i)
	}
	start := slot.Frames()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		feed(n+i, 1+i%(n-1)) // replay the delta frames (the decoder does not mind)
	}
	b.StopTimer()
	if got := slot.Frames() - start; got < uint64(b.N-1) {
		b.Fatalf("only %d frames decoded for %d fed", got, b.N)
	}
}

// BenchmarkReceive480p is the receive path per frame after the network:
// RTP reassembly (vp8Assembler), VP8 decode, a copy of the picture into
// the slot (the UI converts the frames it shows: BenchmarkFrameFit*).
func BenchmarkReceive480p(b *testing.B) { benchReceive(b, 640, 480) }

// BenchmarkReceive720p is BenchmarkReceive480p at 1280x720.
func BenchmarkReceive720p(b *testing.B) { benchReceive(b, 1280, 720) }
