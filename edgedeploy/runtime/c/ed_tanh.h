/*
 * ed_tanh.h - TANH on int8; output scale 1/128, zero point 0.
 *
 * As TFLite Micro's reference integer Tanh: inputs beyond the radius
 * saturate, the rest are rescaled to Q4.27 and go through gemmlowp's
 * fixed-point tanh.
 *
 * Usage:
 *     static const ed_tanh_params p = { ... };
 *     ed_tanh_s8(&p, input, output);
 */
#ifndef ED_TANH_H
#define ED_TANH_H

#include "ed_common.h"

typedef struct {
    int32_t size;
    int32_t input_zero_point;
    int32_t input_range_radius;
    int32_t input_multiplier;
    int32_t input_left_shift;
} ed_tanh_params;

void ed_tanh_s8(const ed_tanh_params *p, const int8_t *input, int8_t *output);

#endif /* ED_TANH_H */
