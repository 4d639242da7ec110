/*
 * ed_fully_connected.h - FULLY_CONNECTED, int8 with int8 weights (per-tensor or
 * per-channel) and int32 bias.
 *
 * Arithmetic of TFLite Micro's reference FullyConnected(PerChannel): for each
 * batch row and output unit, sum filter * (input + input_offset), add the
 * bias, requantize, add the output zero point, clamp. The generator folds
 * bias + input_offset * sum(filter row) into `folded_bias`, so the inner loop
 * multiplies raw int8 values and gives the same integer.
 *
 * Weights are laid out [accum_depth][out_depth] (TFLite stores
 * [out_depth][accum_depth]; the generator transposes them).
 *
 * Usage:
 *     static const ed_fully_connected_params p = { ... };
 *     ed_fully_connected_s8(&p, input, filter, folded_bias, multiplier, shift, output);
 */
#ifndef ED_FULLY_CONNECTED_H
#define ED_FULLY_CONNECTED_H

#include "ed_common.h"

typedef struct {
    int32_t batches;
    int32_t accum_depth;
    int32_t out_depth;
    int32_t output_offset;
    int32_t act_min, act_max;
    int32_t per_channel;
} ed_fully_connected_params;

ed_status_t ed_fully_connected_check(const ed_fully_connected_params *p);

void ed_fully_connected_s8(const ed_fully_connected_params *p, const int8_t *input,
                           const int8_t *filter, const int32_t *folded_bias,
                           const int32_t *multiplier, const int32_t *shift, int8_t *output);

#endif /* ED_FULLY_CONNECTED_H */
