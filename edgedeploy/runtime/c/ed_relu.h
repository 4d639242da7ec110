/*
 * ed_relu.h - RELU on int8: requantize to the output scale, clamp at zero.
 *
 * As TFLite Micro's ReluQuantized: (x - input zero point) is rescaled by
 * input_scale / output_scale, offset by the output zero point and clamped to
 * [output zero point, 127].
 *
 * Usage:
 *     static const ed_relu_params p = { ... };
 *     ed_relu_s8(&p, input, output);
 */
#ifndef ED_RELU_H
#define ED_RELU_H

#include "ed_common.h"

typedef struct {
    int32_t size;
    int32_t input_zero_point, output_zero_point;
    int32_t multiplier, shift;
    int32_t act_min, act_max;
} ed_relu_params;

void ed_relu_s8(const ed_relu_params *p, const int8_t *input, int8_t *output);

#endif /* ED_RELU_H */
