// Small C helpers around libvpx for package vpx. Everything that crosses
// the cgo boundary is a plain pointer, length or integer so that a frame
// needs exactly one cgo call and no Go allocation.
#ifndef MXCALL_VPX_BRIDGE_H
#define MXCALL_VPX_BRIDGE_H

#include <stdint.h>
#include <vpx/vpx_encoder.h>
#include <vpx/vpx_decoder.h>

typedef struct mx_enc {
	vpx_codec_ctx_t ctx;
	vpx_codec_enc_cfg_t cfg;
	vpx_image_t img;
	const uint8_t *out;   // last compressed frame (owned by libvpx)
	size_t out_len;
	int out_key;
	unsigned long frame_ms; // nominal frame duration in timebase units
} mx_enc;

typedef struct mx_dec {
	vpx_codec_ctx_t ctx;
	int w, h, ystride, uvstride;
	const uint8_t *y, *u, *v;   // last decoded picture (owned by libvpx)
} mx_dec;

int mx_enc_new(mx_enc **out, int w, int h, int fps, int kbps, int threads, int cpu_used, int kf_max_dist,
               int screen);
int mx_enc_encode(mx_enc *e, const uint8_t *y, const uint8_t *u, const uint8_t *v,
                  int ystride, int uvstride, int64_t pts, int force_key);
int mx_enc_set_bitrate(mx_enc *e, int kbps);
void mx_enc_free(mx_enc *e);

int mx_dec_new(mx_dec **out, int threads);
// Returns 1 when a picture was produced, 0 when none, <0 on error.
int mx_dec_decode(mx_dec *d, const uint8_t *data, size_t len);
void mx_dec_free(mx_dec *d);

void mx_i420_to_rgba(const uint8_t *y, int ystride, const uint8_t *u, const uint8_t *v, int uvstride,
                     uint8_t *dst, int dstride, int w, int row0, int row1);

// Shrinks one plane (sw x sh) into dst (dw x dh, no larger) by area
// averaging; scratch holds sw+dw+1 entries.
void mx_scale_plane(const uint8_t *src, int sstride, int sw, int sh,
                    uint8_t *dst, int dstride, int dw, int dh, uint32_t *scratch);

// Converts a 32-bit-per-pixel picture (w x h, both even, rows sstride
// bytes apart) into packed I420 (BT.601 limited range, chroma the mean of
// each 2x2 block). bgr: bytes B,G,R,x in memory (X11's usual TrueColor on
// a little-endian server); else R,G,B,x.
void mx_rgb32_to_i420(const uint8_t *src, int sstride, int w, int h, int bgr,
                      uint8_t *y, uint8_t *u, uint8_t *v);

#endif
