/*
 * ed_softmax.h - SOFTMAX over the last axis, int8 in, int8 out (scale 1/256,
 * zero point -128).
 *
 * As TFLite Micro's reference Softmax: differences to the row maximum are
 * rescaled by beta * input scale into Q5.26, exponentiated with gemmlowp's
 * fixed-point exp, summed in Q12.19, inverted with the fixed-point reciprocal
 * and scaled to the output. Differences below `diff_min` give -128.
 *
 * Usage:
 *     static const ed_softmax_params p = { ... };
 *     ed_softmax_s8(&p, input, output);
 */
#ifndef ED_SOFTMAX_H
#define ED_SOFTMAX_H

#include "ed_common.h"

typedef struct {
    int32_t outer;      /* rows */
    int32_t depth;      /* length of the last axis */
    int32_t input_multiplier;
    int32_t input_left_shift;
    int32_t diff_min;
} ed_softmax_params;

ed_status_t ed_softmax_check(const ed_softmax_params *p);

void ed_softmax_s8(const ed_softmax_params *p, const int8_t *input, int8_t *output);

#endif /* ED_SOFTMAX_H */
