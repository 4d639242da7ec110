/*
 * ed_mul.h - MUL of two int8 tensors with broadcasting and a fused activation.
 *
 * As TFLite Micro's reference integer Mul: (a + offset1) * (b + offset2)
 * requantized by one multiplier, plus the output zero point, clamped.
 *
 * Usage:
 *     static const ed_mul_params p = { ... };
 *     ed_mul_s8(&p, input1, input2, output);
 */
#ifndef ED_MUL_H
#define ED_MUL_H

#include "ed_broadcast.h"

typedef struct {
    ed_broadcast_shape shape;
    int32_t input1_offset, input2_offset, output_offset;
    int32_t output_multiplier, output_shift;
    int32_t act_min, act_max;
} ed_mul_params;

ed_status_t ed_mul_check(const ed_mul_params *p);

void ed_mul_s8(const ed_mul_params *p, const int8_t *input1, const int8_t *input2,
               int8_t *output);

#endif /* ED_MUL_H */
