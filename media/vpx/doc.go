// Package vpx is a small cgo wrapper around libvpx's VP8 encoder and
// decoder, plus a fast I420 → RGBA conversion.
//
// It is hand-written rather than taken from pion/mediadevices because
// mediadevices' VP8 encoder calls vpx_codec_enc_config_set on every frame,
// which makes libvpx reinitialise its rate control and costs 23 ms a frame
// at 640x480 and 48 ms at 1280x720 on our 2-core target (720p30 impossible).
// Here the configuration is applied once, with realtime settings (deadline
// VPX_DL_REALTIME, cpu-used 8+, error-resilient, no lag; threads: see
// EncoderConfig.Threads), and changed only when the bitrate actually
// changes: on the 2-core target ≈ 2.4–3.5 ms a frame at 640x480 and
// ≈ 6–9 ms at 1280x720 (noisy content; depends on load).
//
// Steady-state Encode, Decode and the conversion allocate nothing.
//
// Owns: libvpx contexts. Must not import: anything of mxcall, Fyne, pion.
// Needs libvpx-dev (pkg-config vpx) at build time.
package vpx
