/*
 * ed_logistic.h - LOGISTIC (sigmoid) on int8; output scale 1/256, zero point -128.
 *
 * As TFLite Micro's reference integer Logistic: inputs beyond the radius
 * saturate, the rest are rescaled to Q4.27 and go through gemmlowp's
 * fixed-point logistic.
 *
 * Usage:
 *     static const ed_logistic_params p = { ... };
 *     ed_logistic_s8(&p, input, output);
 */
#ifndef ED_LOGISTIC_H
#define ED_LOGISTIC_H

#include "ed_common.h"

typedef struct {
    int32_t size;
    int32_t input_zero_point;
    int32_t input_range_radius;
    int32_t input_multiplier;
    int32_t input_left_shift;
} ed_logistic_params;

void ed_logistic_s8(const ed_logistic_params *p, const int8_t *input, int8_t *output);

#endif /* ED_LOGISTIC_H */
