/* ed_average_pool2d.c - AVERAGE_POOL_2D int8 kernel; see ed_average_pool2d.h. */
#include "ed_average_pool2d.h"

static int32_t max_i32(int32_t a, int32_t b) { return a > b ? a : b; }
static int32_t min_i32(int32_t a, int32_t b) { return a < b ? a : b; }

ed_status_t ed_average_pool2d_s8(const ed_pool_params *p, const int8_t *input, int8_t *output)
{
    const int32_t in_row = p->in_w * p->channels;
    int32_t b, oy, ox, c, fy, fx;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = input + (size_t)b * p->in_h * in_row;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_h;
            const int32_t fy0 = max_i32(0, -y0);
            const int32_t fy1 = min_i32(p->filter_h, p->in_h - y0);
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_w;
                const int32_t fx0 = max_i32(0, -x0);
                const int32_t fx1 = min_i32(p->filter_w, p->in_w - x0);
                const int32_t count = (fy1 - fy0) * (fx1 - fx0);
                if (fy1 <= fy0 || fx1 <= fx0) {
                    return ED_ERROR_KERNEL;
                }
                for (c = 0; c < p->channels; ++c) {
                    int32_t acc = 0;
                    for (fy = fy0; fy < fy1; ++fy) {
                        const int8_t *row = in_b + (size_t)(y0 + fy) * in_row + c;
                        for (fx = fx0; fx < fx1; ++fx) {
                            acc += row[(x0 + fx) * p->channels];
                        }
                    }
                    acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                    *output++ = (int8_t)ed_clamp(acc, p->act_min, p->act_max);
                }
            }
        }
    }
    return ED_OK;
}
