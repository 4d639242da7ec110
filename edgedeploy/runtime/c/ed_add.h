/*
 * ed_add.h - ADD of two int8 tensors with broadcasting and a fused activation.
 *
 * As TFLite Micro's reference integer Add: both inputs are offset, shifted left
 * by `left_shift` (20 for int8), rescaled to a common scale, summed, rescaled
 * to the output scale and clamped.
 *
 * Usage:
 *     static const ed_add_params p = { ... };
 *     ed_add_s8(&p, input1, input2, output);
 */
#ifndef ED_ADD_H
#define ED_ADD_H

#include "ed_broadcast.h"

typedef struct {
    ed_broadcast_shape shape;
    int32_t input1_offset, input2_offset, output_offset;
    int32_t left_shift;
    int32_t input1_multiplier, input1_shift;
    int32_t input2_multiplier, input2_shift;
    int32_t output_multiplier, output_shift;
    int32_t act_min, act_max;
} ed_add_params;

ed_status_t ed_add_check(const ed_add_params *p);

void ed_add_s8(const ed_add_params *p, const int8_t *input1, const int8_t *input2,
               int8_t *output);

#endif /* ED_ADD_H */
