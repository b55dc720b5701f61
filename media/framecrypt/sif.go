package framecrypt

import "bytes"

// Frames the SFU injects in the clear, followed by the SIF trailer, e.g.
// while a publisher is muted (livekit-client e2ee/worker/sifPayload.ts,
// from livekit-server pkg/sfu/downtrack.go). livekit-client passes a SIF
// frame on only when its payload is one of these; so does Decrypt.
var (
	// sifVP8KeyFrame8x8 is an 8×8 VP8 key frame.
	sifVP8KeyFrame8x8 = []byte{
		0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x08, 0x00, 0x08, 0x00, 0x00, 0x47, 0x08, 0x85, 0x85, 0x88,
		0x85, 0x84, 0x88, 0x02, 0x02, 0x00, 0x0c, 0x0d, 0x60, 0x00, 0xfe, 0xff, 0xab, 0x50, 0x80,
	}
	// sifOpusSilence is an Opus silence frame: TOC 0xf8, 0xff, 0xfe, then
	// 77 zero bytes.
	sifOpusSilence = append([]byte{0xf8, 0xff, 0xfe}, make([]byte, 77)...)
)

// isServerInjected reports whether payload is a frame the server injects
// for codec.
func isServerInjected(codec Codec, payload []byte) bool {
	switch codec {
	case CodecVP8:
		return bytes.Equal(payload, sifVP8KeyFrame8x8)
	case CodecOpus:
		return bytes.Equal(payload, sifOpusSilence)
	default:
		return false
	}
}
