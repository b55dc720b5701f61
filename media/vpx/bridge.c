#include <stdlib.h>
#include <string.h>
#include <vpx/vp8cx.h>
#include <vpx/vp8dx.h>
#include "bridge.h"

int mx_enc_new(mx_enc **out, int w, int h, int fps, int kbps, int threads, int cpu_used, int kf_max_dist,
               int screen) {
	mx_enc *e = calloc(1, sizeof(*e));
	if (!e) return -1;
	vpx_codec_err_t err = vpx_codec_enc_config_default(vpx_codec_vp8_cx(), &e->cfg, 0);
	if (err) { free(e); return -(int)err - 100; }
	e->cfg.g_w = w;
	e->cfg.g_h = h;
	e->cfg.g_timebase.num = 1;
	e->cfg.g_timebase.den = 1000;  // pts in milliseconds
	e->cfg.g_threads = threads;
	e->cfg.g_lag_in_frames = 0;
	e->cfg.g_error_resilient = VPX_ERROR_RESILIENT_DEFAULT;
	e->cfg.g_pass = VPX_RC_ONE_PASS;
	e->cfg.rc_end_usage = VPX_CBR;
	e->cfg.rc_target_bitrate = kbps;
	e->cfg.rc_min_quantizer = screen ? 2 : 4;
	e->cfg.rc_max_quantizer = screen ? 52 : 56;
	e->cfg.rc_undershoot_pct = 100;
	e->cfg.rc_overshoot_pct = 15;
	e->cfg.rc_buf_initial_sz = 500;
	e->cfg.rc_buf_optimal_sz = 600;
	e->cfg.rc_buf_sz = 1000;
	e->cfg.rc_dropframe_thresh = 0;
	e->cfg.rc_resize_allowed = 0;
	e->cfg.kf_mode = VPX_KF_AUTO;
	e->cfg.kf_min_dist = 0;
	e->cfg.kf_max_dist = kf_max_dist;
	e->frame_ms = fps > 0 ? 1000 / fps : 33;
	err = vpx_codec_enc_init(&e->ctx, vpx_codec_vp8_cx(), &e->cfg, 0);
	if (err) { free(e); return -(int)err - 100; }
	vpx_codec_control(&e->ctx, VP8E_SET_CPUUSED, cpu_used);
	vpx_codec_control(&e->ctx, VP8E_SET_NOISE_SENSITIVITY, 0);
	vpx_codec_control(&e->ctx, VP8E_SET_STATIC_THRESHOLD, 1);
	vpx_codec_control(&e->ctx, VP8E_SET_TOKEN_PARTITIONS, threads > 1 ? VP8_TWO_TOKENPARTITION : VP8_ONE_TOKENPARTITION);
	vpx_codec_control(&e->ctx, VP8E_SET_MAX_INTRA_BITRATE_PCT, screen ? 1000 : 300);
	if (screen) {
		// Screen content: mode 1 tunes mode decisions and rate control
		// for text and flat areas with few, sudden changes (2 would also
		// drop frames after a big change to recover quality faster).
		vpx_codec_control(&e->ctx, VP8E_SET_SCREEN_CONTENT_MODE, 1);
	}
	vpx_img_wrap(&e->img, VPX_IMG_FMT_I420, w, h, 1, (unsigned char *)1);
	*out = e;
	return 0;
}

int mx_enc_encode(mx_enc *e, const uint8_t *y, const uint8_t *u, const uint8_t *v,
                  int ystride, int uvstride, int64_t pts, int force_key) {
	e->img.planes[VPX_PLANE_Y] = (unsigned char *)y;
	e->img.planes[VPX_PLANE_U] = (unsigned char *)u;
	e->img.planes[VPX_PLANE_V] = (unsigned char *)v;
	e->img.stride[VPX_PLANE_Y] = ystride;
	e->img.stride[VPX_PLANE_U] = uvstride;
	e->img.stride[VPX_PLANE_V] = uvstride;
	vpx_codec_err_t err = vpx_codec_encode(&e->ctx, &e->img, pts, e->frame_ms,
		force_key ? VPX_EFLAG_FORCE_KF : 0, VPX_DL_REALTIME);
	// The planes are Go memory: libvpx copied them (no lag), drop the pointers.
	e->img.planes[VPX_PLANE_Y] = e->img.planes[VPX_PLANE_U] = e->img.planes[VPX_PLANE_V] = NULL;
	e->out = NULL;
	e->out_len = 0;
	e->out_key = 0;
	if (err) return -(int)err;
	vpx_codec_iter_t iter = NULL;
	const vpx_codec_cx_pkt_t *pkt;
	while ((pkt = vpx_codec_get_cx_data(&e->ctx, &iter)) != NULL) {
		if (pkt->kind == VPX_CODEC_CX_FRAME_PKT) {
			e->out = pkt->data.frame.buf;
			e->out_len = pkt->data.frame.sz;
			e->out_key = (pkt->data.frame.flags & VPX_FRAME_IS_KEY) != 0;
		}
	}
	return 0;
}

int mx_enc_set_bitrate(mx_enc *e, int kbps) {
	e->cfg.rc_target_bitrate = kbps;
	return -(int)vpx_codec_enc_config_set(&e->ctx, &e->cfg);
}

void mx_enc_free(mx_enc *e) {
	if (!e) return;
	vpx_codec_destroy(&e->ctx);
	free(e);
}

int mx_dec_new(mx_dec **out, int threads) {
	mx_dec *d = calloc(1, sizeof(*d));
	if (!d) return -1;
	vpx_codec_dec_cfg_t cfg = {0};
	cfg.threads = threads;
	vpx_codec_err_t err = vpx_codec_dec_init(&d->ctx, vpx_codec_vp8_dx(), &cfg, 0);
	if (err) { free(d); return -(int)err - 100; }
	*out = d;
	return 0;
}

int mx_dec_decode(mx_dec *d, const uint8_t *data, size_t len) {
	vpx_codec_err_t err = vpx_codec_decode(&d->ctx, data, (unsigned int)len, NULL, 0);
	if (err) return -(int)err;
	vpx_codec_iter_t iter = NULL;
	vpx_image_t *img = vpx_codec_get_frame(&d->ctx, &iter);
	if (!img) return 0;
	d->w = img->d_w;
	d->h = img->d_h;
	d->y = img->planes[VPX_PLANE_Y];
	d->u = img->planes[VPX_PLANE_U];
	d->v = img->planes[VPX_PLANE_V];
	d->ystride = img->stride[VPX_PLANE_Y];
	d->uvstride = img->stride[VPX_PLANE_U];
	return 1;
}

void mx_dec_free(mx_dec *d) {
	if (!d) return;
	vpx_codec_destroy(&d->ctx);
	free(d);
}

static inline uint8_t clamp8(int v) {
	return v < 0 ? 0 : (v > 255 ? 255 : (uint8_t)v);
}

// BT.601 limited range with 6-bit fixed-point coefficients (the SIMD path
// and the scalar tail compute exactly the same values):
//   Y' = 74 (Y-16), R = (Y' + 102 V') >> 6, G = (Y' - 25 U' - 52 V') >> 6,
//   B = (Y' + 129 U') >> 6, with U' = U-128, V' = V-128.
static inline void px(const uint8_t *yr, const uint8_t *ur, const uint8_t *vr, uint8_t *d, int x) {
	int c = 74 * (yr[x] - 16) + 32;
	int du = ur[x >> 1] - 128;
	int dv = vr[x >> 1] - 128;
	d[4 * x + 0] = clamp8((c + 102 * dv) >> 6);
	d[4 * x + 1] = clamp8((c - 25 * du - 52 * dv) >> 6);
	d[4 * x + 2] = clamp8((c + 129 * du) >> 6);
	d[4 * x + 3] = 255;
}

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

// Rows [row0,row1) of the output; row0 must be even.
void mx_i420_to_rgba(const uint8_t *y, int ystride, const uint8_t *u, const uint8_t *v, int uvstride,
                     uint8_t *dst, int dstride, int w, int row0, int row1) {
	for (int r = row0; r < row1; r++) {
		const uint8_t *yr = y + (size_t)r * ystride;
		const uint8_t *ur = u + (size_t)(r >> 1) * uvstride;
		const uint8_t *vr = v + (size_t)(r >> 1) * uvstride;
		uint8_t *d = dst + (size_t)r * dstride;
		int x = 0;
#if defined(__SSE2__)
		const __m128i zero = _mm_setzero_si128();
		const __m128i c16 = _mm_set1_epi16(16), c128 = _mm_set1_epi16(128), c32 = _mm_set1_epi16(32);
		const __m128i kY = _mm_set1_epi16(74), kRV = _mm_set1_epi16(102), kGU = _mm_set1_epi16(25),
		              kGV = _mm_set1_epi16(52), kBU = _mm_set1_epi16(129);
		const __m128i alpha = _mm_set1_epi8((char)0xff);
		for (; x + 16 <= w; x += 16) {
			__m128i yy = _mm_loadu_si128((const __m128i *)(yr + x));
			__m128i uu = _mm_unpacklo_epi8(_mm_loadl_epi64((const __m128i *)(ur + (x >> 1))), zero);
			__m128i vv = _mm_unpacklo_epi8(_mm_loadl_epi64((const __m128i *)(vr + (x >> 1))), zero);
			uu = _mm_sub_epi16(uu, c128);
			vv = _mm_sub_epi16(vv, c128);
			__m128i out[2][3];
			for (int h = 0; h < 2; h++) {
				__m128i y16 = h ? _mm_unpackhi_epi8(yy, zero) : _mm_unpacklo_epi8(yy, zero);
				__m128i u16 = h ? _mm_unpackhi_epi16(uu, uu) : _mm_unpacklo_epi16(uu, uu);
				__m128i v16 = h ? _mm_unpackhi_epi16(vv, vv) : _mm_unpacklo_epi16(vv, vv);
				__m128i yc = _mm_add_epi16(_mm_mullo_epi16(_mm_sub_epi16(y16, c16), kY), c32);
				__m128i rr = _mm_adds_epi16(yc, _mm_mullo_epi16(v16, kRV));
				__m128i gg = _mm_subs_epi16(_mm_subs_epi16(yc, _mm_mullo_epi16(u16, kGU)), _mm_mullo_epi16(v16, kGV));
				__m128i bb = _mm_adds_epi16(yc, _mm_mullo_epi16(u16, kBU));
				out[h][0] = _mm_srai_epi16(rr, 6);
				out[h][1] = _mm_srai_epi16(gg, 6);
				out[h][2] = _mm_srai_epi16(bb, 6);
			}
			__m128i R = _mm_packus_epi16(out[0][0], out[1][0]);
			__m128i G = _mm_packus_epi16(out[0][1], out[1][1]);
			__m128i B = _mm_packus_epi16(out[0][2], out[1][2]);
			__m128i rgLo = _mm_unpacklo_epi8(R, G), rgHi = _mm_unpackhi_epi8(R, G);
			__m128i baLo = _mm_unpacklo_epi8(B, alpha), baHi = _mm_unpackhi_epi8(B, alpha);
			__m128i *o = (__m128i *)(d + 4 * x);
			_mm_storeu_si128(o + 0, _mm_unpacklo_epi16(rgLo, baLo));
			_mm_storeu_si128(o + 1, _mm_unpackhi_epi16(rgLo, baLo));
			_mm_storeu_si128(o + 2, _mm_unpacklo_epi16(rgHi, baHi));
			_mm_storeu_si128(o + 3, _mm_unpackhi_epi16(rgHi, baHi));
		}
#endif
		for (; x < w; x++) px(yr, ur, vr, d, x);
	}
}

// Area average: every output pixel is the mean of the source pixels its
// rectangle covers (whole pixels: [x*sw/dw, (x+1)*sw/dw) and likewise in y).
// dw <= sw and dh <= sh. scratch holds sw+dw+1 entries: the column sums of
// the source rows under one output row (a plain loop the compiler
// vectorises), then the output columns' left edges; each output pixel
// then adds up its span of column sums.
void mx_scale_plane(const uint8_t *src, int sstride, int sw, int sh,
                    uint8_t *dst, int dstride, int dw, int dh, uint32_t *scratch) {
	uint32_t *col = scratch, *xb = scratch + sw;
	for (int x = 0; x <= dw; x++) xb[x] = (uint32_t)((int64_t)x * sw / dw);
	for (int y = 0; y < dh; y++) {
		int y0 = (int)((int64_t)y * sh / dh), y1 = (int)((int64_t)(y + 1) * sh / dh);
		const uint8_t *s = src + (size_t)y0 * sstride;
		for (int i = 0; i < sw; i++) col[i] = s[i];
		for (int r = y0 + 1; r < y1; r++) {
			s = src + (size_t)r * sstride;
			for (int i = 0; i < sw; i++) col[i] += s[i];
		}
		uint8_t *d = dst + (size_t)y * dstride;
		uint32_t rows = (uint32_t)(y1 - y0);
		for (int x = 0; x < dw; x++) {
			uint32_t sum = 0;
			for (uint32_t i = xb[x]; i < xb[x + 1]; i++) sum += col[i];
			uint32_t n = rows * (xb[x + 1] - xb[x]);
			d[x] = (uint8_t)((sum + n / 2) / n);
		}
	}
}

// BT.601 limited range, 8-bit fixed point (the inverse of mx_i420_to_rgba):
//   Y = (66 R + 129 G + 25 B + 128) >> 8 + 16
//   U = (-38 R - 74 G + 112 B + 128) >> 8 + 128
//   V = (112 R - 94 G - 18 B + 128) >> 8 + 128
// U and V from the sums of each 2x2 block (rounded mean).
void mx_rgb32_to_i420(const uint8_t *src, int sstride, int w, int h, int bgr,
                      uint8_t *y, uint8_t *u, uint8_t *v) {
	const int ri = bgr ? 2 : 0, bi = bgr ? 0 : 2;
	const int cw = w / 2;
	for (int r = 0; r + 1 < h; r += 2) {
		const uint8_t *s0 = src + (size_t)r * sstride, *s1 = s0 + sstride;
		uint8_t *y0 = y + (size_t)r * w, *y1 = y0 + w;
		uint8_t *ur = u + (size_t)(r / 2) * cw, *vr = v + (size_t)(r / 2) * cw;
		for (int x = 0; x < w; x++) {
			const uint8_t *p0 = s0 + 4 * x, *p1 = s1 + 4 * x;
			y0[x] = (uint8_t)(((66 * p0[ri] + 129 * p0[1] + 25 * p0[bi] + 128) >> 8) + 16);
			y1[x] = (uint8_t)(((66 * p1[ri] + 129 * p1[1] + 25 * p1[bi] + 128) >> 8) + 16);
		}
		for (int x = 0; x < cw; x++) {
			const uint8_t *p0 = s0 + 8 * x, *p1 = s1 + 8 * x;
			int R = p0[ri] + p0[4 + ri] + p1[ri] + p1[4 + ri];
			int G = p0[1] + p0[5] + p1[1] + p1[5];
			int B = p0[bi] + p0[4 + bi] + p1[bi] + p1[4 + bi];
			ur[x] = (uint8_t)(((-38 * R - 74 * G + 112 * B + 512) >> 10) + 128);
			vr[x] = (uint8_t)(((112 * R - 94 * G - 18 * B + 512) >> 10) + 128);
		}
	}
}
