#include <stdlib.h>
#include <string.h>
#include <vpx/vp8cx.h>
#include <vpx/vp8dx.h>
#include "bridge.h"

int mx_enc_new(mx_enc **out, int w, int h, int fps, int kbps, int threads, int cpu_used, int kf_max_dist) {
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
	e->cfg.rc_min_quantizer = 4;
	e->cfg.rc_max_quantizer = 56;
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
	vpx_codec_control(&e->ctx, VP8E_SET_MAX_INTRA_BITRATE_PCT, 300);
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

// BT.601 limited range, 8-bit fixed point. Rows [row0,row1) of the output;
// row0 must be even. Written so that gcc -O3 can vectorise the inner loop.
void mx_i420_to_rgba(const uint8_t *y, int ystride, const uint8_t *u, const uint8_t *v, int uvstride,
                     uint8_t *dst, int dstride, int w, int row0, int row1) {
	for (int r = row0; r < row1; r++) {
		const uint8_t *yr = y + (size_t)r * ystride;
		const uint8_t *ur = u + (size_t)(r >> 1) * uvstride;
		const uint8_t *vr = v + (size_t)(r >> 1) * uvstride;
		uint8_t *d = dst + (size_t)r * dstride;
		for (int x = 0; x < w; x++) {
			int c = 298 * (yr[x] - 16) + 128;
			int du = ur[x >> 1] - 128;
			int dv = vr[x >> 1] - 128;
			d[4 * x + 0] = clamp8((c + 409 * dv) >> 8);
			d[4 * x + 1] = clamp8((c - 100 * du - 208 * dv) >> 8);
			d[4 * x + 2] = clamp8((c + 516 * du) >> 8);
			d[4 * x + 3] = 255;
		}
	}
}
