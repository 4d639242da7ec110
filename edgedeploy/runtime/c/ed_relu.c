/* ed_relu.c - RELU int8 kernel; see ed_relu.h. */
#include "ed_relu.h"

#include "ed_fixedpoint.h"

void ed_relu_s8(const ed_relu_params *p, const int8_t *input, int8_t *output)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const int32_t v = p->output_zero_point +
                          ed_mbqm((int32_t)input[i] - p->input_zero_point, p->multiplier, p->shift);
        output[i] = (int8_t)ed_clamp(v, p->act_min, p->act_max);
    }
}
