// Package framecrypt is LiveKit's end-to-end media encryption of whole
// encoded frames, as livekit-client (and so Element Call, Element Web and
// Element X) applies it: the frame half of MatrixRTC media E2EE. It owns
// the frame format, the key derivation and ratcheting, and the per
// participant key rings. It does not own how keys travel (Matrix to-device
// events), when they rotate, or RTP: it must not import Fyne, mautrix,
// pion or a LiveKit client, and needs none of them to be used.
//
// Where it sits: encrypt after our encoder, before packetisation; decrypt
// after the frame assembler, before the decoder. Encrypt and Decrypt take
// one whole frame and append to a caller-owned buffer; neither allocates
// once that buffer has room (one cipher.AEAD is kept per key).
//
// Use: one KeyRing per participant (256 indexes). The local ring feeds an
// Encryptor, which encrypts with the ring's current index; each remote
// participant's ring feeds a Decryptor, which picks the key by the index
// in the frame. NewFrameEncryptor and NewFrameDecryptor adapt them to
// server-sdk-go/v2's e2ee/types.FrameEncryptor and FrameDecryptor
// (EncryptFrame/DecryptFrame), which that SDK itself implements only for
// H.264, H.265 and Opus.
//
// # Format
//
// Key: the AES-128 key is HKDF-SHA256(IKM = the key material as received,
// salt = "LKFrameEncryptionKey", info = 128 zero bytes), 16 bytes. A
// ratchet step replaces the material by HKDF-SHA256 of it with the same
// salt and info, 32 bytes; the key then derives from the new material.
//
// Frame:
//
//	[clear header][AES-128-GCM ciphertext + 16-byte tag][IV, 12 bytes][0x0C][key index]
//
// The clear header is also the GCM additional data. Its size: Opus 1 (the
// TOC byte); VP8 10 on a key frame ((b[0]&1)==0) and 3 on a delta frame;
// VP9 0. H.264/H.265 (clear up to the first slice NALU, RBSP-escaped
// tail) and AV1 are not supported here. The IV is SSRC (u32 BE) ‖ RTP
// timestamp (u32 BE) ‖ RTP timestamp − (sendCount mod 0xFFFF) (u32 BE,
// wrapping), sendCount counting frames per SSRC from a random start below
// 0xFFFF; receivers only read it from the frame. Empty frames (Opus DTX)
// pass untouched both ways. When the SFU's SIF trailer (JoinResponse
// sif_trailer) ends a frame, the server injected it in the clear: the rest
// passes through if it is a frame the server injects (sif.go), else the
// frame is dropped.
//
// Decrypting: the key index names the key; when the tag fails, up to the
// ring's ratchet window (10 by default, as Element Call sets) of ratchet
// steps of that key are tried, and one that fits replaces the key at that
// index. Any failure returns a sentinel error of errors.go and the frame is
// to be dropped; no input panics.
//
// # Sources
//
// livekit-client 2.23.0 (Apache-2.0): src/e2ee/constants.ts, utils.ts
// (deriveKeys, ratchet), worker/FrameCryptor.ts (encodeFunction,
// decryptFrame, makeIV, getUnencryptedBytes, isFrameServerInjected),
// worker/ParticipantKeyHandler.ts, worker/sifPayload.ts; unchanged in
// these parts since 2.21.0. Element Call's MatrixKeyProvider
// (ratchetWindowSize 10, keyringSize 256). server-sdk-go v2.19.0
// (e2ee.go, e2ee/types, encryption.go).
//
// Cross-checked by running livekit-client's own worker bundle in Node
// (testdata/lkjs): testdata/vectors.json holds frames it encrypted, which
// the tests decrypt and re-encrypt byte for byte; MXCALL_LKJS=1 go test
// runs it live both ways. Two behaviours of livekit-client 2.23.0 found
// there: its receiver's auto-ratchet retries the same one-step ratchet
// window times, so it follows a sender's ratchet only one step per frame
// (Decrypt here follows up to window steps); and it takes the IV length
// from the trailer, while Decrypt accepts only 12 (all senders use 12).
package framecrypt
