package framecrypt

// Codec names the codec of the frames given to Encrypt and Decrypt; it
// decides how many leading bytes stay in the clear.
type Codec uint8

// Codecs. CodecUnknown is the zero value and is rejected.
const (
	CodecUnknown Codec = iota
	// CodecOpus keeps the TOC byte (RFC 6716 §3.1) in the clear.
	CodecOpus
	// CodecVP8 keeps 10 bytes of a key frame and 3 bytes of a delta frame
	// in the clear (the frame tag and, on key frames, the start code and
	// size; RFC 6386 §9.1). A frame is a key frame when (b[0]&1)==0.
	CodecVP8
	// CodecVP9 keeps nothing in the clear.
	CodecVP9
)

// String returns the codec's lower-case name, as livekit-client spells it.
func (c Codec) String() string {
	switch c {
	case CodecOpus:
		return "opus"
	case CodecVP8:
		return "vp8"
	case CodecVP9:
		return "vp9"
	default:
		return "unknown"
	}
}

// Clear header sizes (livekit-client e2ee/constants.ts UNENCRYPTED_BYTES).
const (
	clearOpus     = 1
	clearVP8Key   = 10
	clearVP8Delta = 3
	clearVP9      = 0
)

// clearLen returns how many leading bytes of frame (non-empty) stay in the
// clear for codec c, or ok=false for an unsupported codec.
func clearLen(c Codec, frame []byte) (n int, ok bool) {
	switch c {
	case CodecOpus:
		return clearOpus, true
	case CodecVP8:
		if frame[0]&1 == 0 {
			return clearVP8Key, true
		}
		return clearVP8Delta, true
	case CodecVP9:
		return clearVP9, true
	default:
		return 0, false
	}
}
