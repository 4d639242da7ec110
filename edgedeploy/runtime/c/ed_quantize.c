/* ed_quantize.c - QUANTIZE kernels; see ed_quantize.h. */
#include "ed_quantize.h"

#include <math.h>

#include "ed_fixedpoint.h"

void ed_quantize_f32_s8(int32_t size, float scale, int32_t zero_point, const float *input,
                        int8_t *output)
{
    int32_t i;
    for (i = 0; i < size; ++i) {
        float r = roundf(input[i] / scale);
        int32_t q;
        /* Clamp before converting: a float outside int32 has no defined conversion. */
        if (!(r > -1.0e6f)) {
            r = -1.0e6f;
        } else if (r > 1.0e6f) {
            r = 1.0e6f;
        }
        q = (int32_t)r + zero_point;
        output[i] = (int8_t)ed_clamp(q, -128, 127);
    }
}

void ed_requantize_s8(const ed_requantize_params *p, const int8_t *input, int8_t *output)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const int32_t v = ed_mbqm((int32_t)input[i] - p->input_zero_point, p->multiplier, p->shift) +
                          p->output_zero_point;
        output[i] = (int8_t)ed_clamp(v, -128, 127);
    }
}
