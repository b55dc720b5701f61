package media

import "github.com/mxcall/mxcall/media/vpx"

// WarmUpCodec runs the video path of a call once, ahead of the first one:
// a VP8 encoder and decoder for w×h pictures, one key frame of the test
// pattern through both, then closes them. Call it on a goroutine of its
// own once the app is up; it takes some tens of milliseconds of CPU.
//
// What it warms is memory and code the first call would otherwise pay
// for on its click path: libvpx's encoder zeroes a token buffer of about
// 7 MB for 640x480 (vp8_alloc_compressor_data) and both codecs touch
// their code for the first time. On the 2-core test VM, where a page
// fault costs about 10 µs, a first call made about 1,000 more page faults
// than the calls after it (scripts/bench-call.sh prints them). Once freed,
// that memory stays in the C heap for the call that follows.
func WarmUpCodec(w, h int) error {
	enc, err := vpx.NewEncoder(vpx.EncoderConfig{Width: w, Height: h})
	if err != nil {
		return err
	}
	defer func() { _ = enc.Close() }()
	dec, err := vpx.NewDecoder(1)
	if err != nil {
		return err
	}
	defer func() { _ = dec.Close() }()
	p := newPattern(w, h)
	p.draw(0)
	frame, _, err := enc.Encode(p.y, p.u, p.v, 0)
	if err != nil {
		return err
	}
	_, _, err = dec.Decode(frame)
	return err
}
