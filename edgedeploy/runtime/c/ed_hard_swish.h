/*
 * ed_hard_swish.h - HARD_SWISH on int8: x * relu6(x + 3) / 6.
 *
 * As TFLite's reference quantized HardSwish, in int16 fixed point: the input
 * on a 2^7 finer scale, a "reluish" factor in [0, 1] from a second
 * multiplier, their product rescaled to the output.
 *
 * Usage:
 *     static const ed_hard_swish_params p = { ... };
 *     ed_hard_swish_s8(&p, input, output);
 */
#ifndef ED_HARD_SWISH_H
#define ED_HARD_SWISH_H

#include "ed_common.h"

typedef struct {
    int32_t size;
    int32_t input_zero_point, output_zero_point;
    int32_t output_multiplier_q15; /* int16 fixed-point multiplier */
    int32_t output_multiplier_exponent;
    int32_t reluish_multiplier_q15;
    int32_t reluish_multiplier_exponent;
} ed_hard_swish_params;

void ed_hard_swish_s8(const ed_hard_swish_params *p, const int8_t *input, int8_t *output);

#endif /* ED_HARD_SWISH_H */
