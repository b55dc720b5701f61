package rtcauth

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// SlotRoom is the MatrixRTC slot of a room-wide call (call_id "" in the
// legacy membership event), the slot that /sfu/get requests are for.
const SlotRoom = "m.call#ROOM"

// RoomName is the LiveKit room name for a MatrixRTC slot in a Matrix room:
// unpadded base64 of SHA-256 over the canonical JSON [roomID, slotID]
// (MSC4195), so the SFU never sees the Matrix room ID.
func RoomName(roomID, slotID string) string {
	return hashStrings(roomID, slotID)
}

// LegacyIdentity is the LiveKit participant identity given on /sfu/get:
// "@user:server:DEVICE", as Element Call expects in its default mode.
func LegacyIdentity(userID, deviceID string) string {
	return userID + ":" + deviceID
}

// Identity is the pseudonymous LiveKit participant identity given on
// /get_token: unpadded base64 of SHA-256 over the canonical JSON
// [userID, deviceID, memberID], equal to matrix-js-sdk's
// computeRtcIdentityRaw.
func Identity(userID, deviceID, memberID string) string {
	return hashStrings(userID, deviceID, memberID)
}

func hashStrings(parts ...string) string {
	sum := sha256.Sum256([]byte(canonicalStringArray(parts)))
	return base64.RawStdEncoding.EncodeToString(sum[:])
}

// canonicalStringArray encodes a JSON array of strings the way Matrix
// canonical JSON (and JavaScript's JSON.stringify) does: no spaces, only '"',
// '\\' and control characters escaped, everything else as UTF-8. (Go's
// encoding/json also escapes <, >, & and U+2028/U+2029, which would change
// the hash.) Invalid UTF-8 is kept as it is.
func canonicalStringArray(parts []string) string {
	const hex = "0123456789abcdef"
	var b strings.Builder
	b.WriteByte('[')
	for i, s := range parts {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		for j := 0; j < len(s); j++ {
			c := s[j]
			switch c {
			case '"':
				b.WriteString(`\"`)
			case '\\':
				b.WriteString(`\\`)
			case '\b':
				b.WriteString(`\b`)
			case '\f':
				b.WriteString(`\f`)
			case '\n':
				b.WriteString(`\n`)
			case '\r':
				b.WriteString(`\r`)
			case '\t':
				b.WriteString(`\t`)
			default:
				if c < 0x20 {
					b.WriteString(`\u00`)
					b.WriteByte(hex[c>>4])
					b.WriteByte(hex[c&0xf])
				} else {
					b.WriteByte(c)
				}
			}
		}
		b.WriteByte('"')
	}
	b.WriteByte(']')
	return b.String()
}
