/* ed_depthwise_conv2d.c - DEPTHWISE_CONV_2D int8 kernel; see ed_depthwise_conv2d.h. */
#include "ed_depthwise_conv2d.h"

#include "ed_block.h"

ed_status_t ed_depthwise_conv2d_check(const ed_depthwise_conv2d_params *p)
{
    if (p == NULL || p->batches < 1 || p->in_h < 1 || p->in_w < 1 || p->in_c < 1 ||
        p->out_h < 1 || p->out_w < 1 || p->filter_h < 1 || p->filter_w < 1 ||
        p->depth_multiplier < 1 || p->out_c != p->in_c * p->depth_multiplier ||
        p->stride_h < 1 || p->stride_w < 1 || p->dilation_h < 1 || p->dilation_w < 1 ||
        p->pad_h < 0 || p->pad_w < 0 || p->act_min > p->act_max) {
        return ED_ERROR_BAD_PARAMS;
    }
    return ED_OK;
}

static void tap_range(int32_t origin, int32_t dilation, int32_t taps, int32_t size,
                      int32_t *first, int32_t *end)
{
    int32_t t0 = 0;
    int32_t t1 = taps;
    while (t0 < taps && origin + dilation * t0 < 0) {
        ++t0;
    }
    while (t1 > t0 && origin + dilation * (t1 - 1) >= size) {
        --t1;
    }
    *first = t0;
    *end = t1;
}

/* One output pixel with depth multiplier 1: channels in blocks, taps innermost. */
static void dw_pixel_dm1(const ed_depthwise_conv2d_params *p, const int8_t *in_b, int32_t y0,
                         int32_t x0, int32_t fy0, int32_t fy1, int32_t fx0, int32_t fx1,
                         int inside, const int8_t *filter, const int32_t *bias,
                         const int32_t *folded_bias, const int32_t *multiplier,
                         const int32_t *shift, int8_t *out)
{
    const int32_t c_n = p->out_c;
    const int32_t offset = inside ? 0 : p->input_offset;
    int32_t acc[ED_BLOCK];
    int32_t count = ED_BLOCK;
    int32_t cb, j, fy, fx;
    for (cb = 0; cb < c_n; cb += count) {
        count = ed_block_count(c_n - cb);
        for (j = 0; j < count; ++j) {
            acc[j] = inside ? folded_bias[cb + j] : (bias != NULL ? bias[cb + j] : 0);
        }
        for (fy = fy0; fy < fy1; ++fy) {
            const int32_t iy = y0 + p->dilation_h * fy;
            for (fx = fx0; fx < fx1; ++fx) {
                const int32_t ix = x0 + p->dilation_w * fx;
                const int8_t *x = in_b + ((size_t)iy * p->in_w + ix) * c_n + cb;
                const int8_t *w = filter + (size_t)(fy * p->filter_w + fx) * c_n + cb;
                if (count == ED_BLOCK) {
                    for (j = 0; j < ED_BLOCK; ++j) {
                        acc[j] += (int16_t)((int32_t)x[j] + offset) * w[j];
                    }
                } else if (count == ED_BLOCK / 2) {
                    for (j = 0; j < ED_BLOCK / 2; ++j) {
                        acc[j] += (int16_t)((int32_t)x[j] + offset) * w[j];
                    }
                } else {
                    for (j = 0; j < count; ++j) {
                        acc[j] += (int16_t)((int32_t)x[j] + offset) * w[j];
                    }
                }
            }
        }
        ed_block_store(acc, count, cb, multiplier, shift, p->per_channel, p->output_offset,
                       p->act_min, p->act_max, out + cb);
    }
}

/* One output pixel with any depth multiplier, one channel at a time. */
static void dw_pixel(const ed_depthwise_conv2d_params *p, const int8_t *in_b, int32_t y0,
                     int32_t x0, int32_t fy0, int32_t fy1, int32_t fx0, int32_t fx1,
                     const int8_t *filter, const int32_t *bias, const int32_t *multiplier,
                     const int32_t *shift, int8_t *out)
{
    const int32_t dm = p->depth_multiplier;
    int32_t ic, m, fy, fx;
    for (ic = 0; ic < p->in_c; ++ic) {
        for (m = 0; m < dm; ++m) {
            const int32_t oc = ic * dm + m;
            const int32_t ch = p->per_channel ? oc : 0;
            int32_t acc = bias != NULL ? bias[oc] : 0;
            int32_t v;
            for (fy = fy0; fy < fy1; ++fy) {
                const int32_t iy = y0 + p->dilation_h * fy;
                for (fx = fx0; fx < fx1; ++fx) {
                    const int32_t ix = x0 + p->dilation_w * fx;
                    const int32_t xv = in_b[((size_t)iy * p->in_w + ix) * p->in_c + ic];
                    const int32_t wv = filter[(size_t)(fy * p->filter_w + fx) * p->out_c + oc];
                    acc += (xv + p->input_offset) * wv;
                }
            }
            v = ed_mbqm(acc, multiplier[ch], shift[ch]) + p->output_offset;
            out[oc] = (int8_t)ed_clamp(v, p->act_min, p->act_max);
        }
    }
}

void ed_depthwise_conv2d_s8(const ed_depthwise_conv2d_params *p, const int8_t *input,
                            const int8_t *filter, const int32_t *bias,
                            const int32_t *folded_bias, const int32_t *multiplier,
                            const int32_t *shift, int8_t *output)
{
    const int32_t in_image = p->in_h * p->in_w * p->in_c;
    int32_t b, oy, ox;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = input + (size_t)b * in_image;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_h;
            int32_t fy0, fy1;
            tap_range(y0, p->dilation_h, p->filter_h, p->in_h, &fy0, &fy1);
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_w;
                int32_t fx0, fx1;
                tap_range(x0, p->dilation_w, p->filter_w, p->in_w, &fx0, &fx1);
                if (p->depth_multiplier == 1) {
                    const int inside =
                        fy0 == 0 && fy1 == p->filter_h && fx0 == 0 && fx1 == p->filter_w;
                    dw_pixel_dm1(p, in_b, y0, x0, fy0, fy1, fx0, fx1, inside, filter, bias,
                                 folded_bias, multiplier, shift, output);
                } else {
                    dw_pixel(p, in_b, y0, x0, fy0, fy1, fx0, fx1, filter, bias, multiplier,
                             shift, output);
                }
                output += p->out_c;
            }
        }
    }
}
