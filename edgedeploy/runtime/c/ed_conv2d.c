/* ed_conv2d.c - CONV_2D int8 kernel; see ed_conv2d.h. */
#include "ed_conv2d.h"

#include "ed_block.h"

ed_status_t ed_conv2d_check(const ed_conv2d_params *p)
{
    if (p == NULL || p->batches < 1 || p->in_h < 1 || p->in_w < 1 || p->in_c < 1 ||
        p->out_h < 1 || p->out_w < 1 || p->out_c < 1 || p->filter_h < 1 || p->filter_w < 1 ||
        p->filter_c < 1 || p->stride_h < 1 || p->stride_w < 1 || p->dilation_h < 1 ||
        p->dilation_w < 1 || p->pad_h < 0 || p->pad_w < 0 || p->in_c % p->filter_c != 0 ||
        p->out_c % (p->in_c / p->filter_c) != 0 || p->act_min > p->act_max) {
        return ED_ERROR_BAD_PARAMS;
    }
    return ED_OK;
}

/* First tap index t with 0 <= origin + d*t, and one past the last with origin + d*t < size. */
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

/* One output pixel of an ungrouped convolution, ED_BLOCK channels at a time. */
static void conv_pixel(const ed_conv2d_params *p, const int8_t *in_b, int32_t y0, int32_t x0,
                       int32_t fy0, int32_t fy1, int32_t fx0, int32_t fx1, int inside,
                       const int8_t *filter, const int32_t *bias, const int32_t *folded_bias,
                       const int32_t *multiplier, const int32_t *shift, int8_t *out)
{
    const int32_t oc_n = p->out_c;
    const int32_t ic_n = p->in_c;
    const int32_t offset = inside ? 0 : p->input_offset;
    int32_t acc[ED_BLOCK];
    int32_t count = ED_BLOCK;
    int32_t ob, j, fy, fx;
    for (ob = 0; ob < oc_n; ob += count) {
        count = ed_block_count(oc_n - ob);
        for (j = 0; j < count; ++j) {
            acc[j] = inside ? folded_bias[ob + j] : (bias != NULL ? bias[ob + j] : 0);
        }
        for (fy = fy0; fy < fy1; ++fy) {
            const int32_t iy = y0 + p->dilation_h * fy;
            const int8_t *w_row = filter + ((size_t)fy * p->filter_w * ic_n) * oc_n + ob;
            if (p->dilation_w == 1) {
                /* The taps fx0..fx1 of this row are contiguous in input and weights. */
                const int8_t *x = in_b + ((size_t)iy * p->in_w + (x0 + fx0)) * ic_n;
                const int8_t *w = w_row + (size_t)fx0 * ic_n * oc_n;
                const int32_t n = (fx1 - fx0) * ic_n;
                ed_block_outer_any(acc, count, x, n, w, oc_n, offset);
            } else {
                for (fx = fx0; fx < fx1; ++fx) {
                    const int8_t *x =
                        in_b + ((size_t)iy * p->in_w + (x0 + p->dilation_w * fx)) * ic_n;
                    const int8_t *w = w_row + (size_t)fx * ic_n * oc_n;
                    ed_block_outer_any(acc, count, x, ic_n, w, oc_n, offset);
                }
            }
        }
        ed_block_store(acc, count, ob, multiplier, shift, p->per_channel, p->output_offset,
                       p->act_min, p->act_max, out + ob);
    }
}

/* One output pixel of a grouped convolution, one channel at a time. */
static void grouped_pixel(const ed_conv2d_params *p, const int8_t *in_b, int32_t y0, int32_t x0,
                          int32_t fy0, int32_t fy1, int32_t fx0, int32_t fx1,
                          const int8_t *filter, const int32_t *bias,
                          const int32_t *multiplier, const int32_t *shift, int8_t *out)
{
    const int32_t groups = p->in_c / p->filter_c;
    const int32_t filters_per_group = p->out_c / groups;
    int32_t oc, fy, fx, ic;
    for (oc = 0; oc < p->out_c; ++oc) {
        const int32_t first_ic = (oc / filters_per_group) * p->filter_c;
        const int32_t ch = p->per_channel ? oc : 0;
        int32_t acc = bias != NULL ? bias[oc] : 0;
        int32_t v;
        for (fy = fy0; fy < fy1; ++fy) {
            const int32_t iy = y0 + p->dilation_h * fy;
            for (fx = fx0; fx < fx1; ++fx) {
                const int32_t ix = x0 + p->dilation_w * fx;
                const int8_t *x = in_b + ((size_t)iy * p->in_w + ix) * p->in_c + first_ic;
                const int8_t *w =
                    filter + ((size_t)(fy * p->filter_w + fx) * p->filter_c) * p->out_c + oc;
                for (ic = 0; ic < p->filter_c; ++ic) {
                    acc += ((int32_t)x[ic] + p->input_offset) * (int32_t)w[(size_t)ic * p->out_c];
                }
            }
        }
        v = ed_mbqm(acc, multiplier[ch], shift[ch]) + p->output_offset;
        out[oc] = (int8_t)ed_clamp(v, p->act_min, p->act_max);
    }
}

void ed_conv2d_s8(const ed_conv2d_params *p, const int8_t *input, const int8_t *filter,
                  const int32_t *bias, const int32_t *folded_bias,
                  const int32_t *multiplier, const int32_t *shift, int8_t *output)
{
    const int32_t in_image = p->in_h * p->in_w * p->in_c;
    const int grouped = p->filter_c != p->in_c;
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
                if (grouped) {
                    grouped_pixel(p, in_b, y0, x0, fy0, fy1, fx0, fx1, filter, bias, multiplier,
                                  shift, output);
                } else {
                    const int inside =
                        fy0 == 0 && fy1 == p->filter_h && fx0 == 0 && fx1 == p->filter_w;
                    conv_pixel(p, in_b, y0, x0, fy0, fy1, fx0, fx1, inside, filter, bias,
                               folded_bias, multiplier, shift, output);
                }
                output += p->out_c;
            }
        }
    }
}
