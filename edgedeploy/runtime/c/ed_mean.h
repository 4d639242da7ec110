/*
 * ed_mean.h - MEAN over any set of axes of an int8 tensor.
 *
 * As TFLite Micro's reference QuantizedMeanOrSum: the raw int8 values of each
 * output's reduction set are summed, the input zero point times the count is
 * subtracted, and the sum is scaled by a multiplier the generator already
 * divided by the count (exactly as TFLite Micro does at run time), then the
 * output zero point is added and the result clamped. The generator splits the
 * input's axes into kept and reduced ones, each padded to ED_MAX_DIMS with
 * size-1 axes, with input strides, so no scratch buffer is needed.
 *
 * Usage:
 *     static const ed_mean_params p = { ... };
 *     ed_mean_s8(&p, input, output);
 */
#ifndef ED_MEAN_H
#define ED_MEAN_H

#include "ed_common.h"

typedef struct {
    int32_t kept_dims[ED_MAX_DIMS];
    int32_t kept_strides[ED_MAX_DIMS];
    int32_t reduced_dims[ED_MAX_DIMS];
    int32_t reduced_strides[ED_MAX_DIMS];
    int32_t count; /* elements reduced into each output */
    int32_t input_zero_point, output_zero_point;
    int32_t multiplier, shift;
} ed_mean_params;

ed_status_t ed_mean_check(const ed_mean_params *p);

void ed_mean_s8(const ed_mean_params *p, const int8_t *input, int8_t *output);

#endif /* ED_MEAN_H */
