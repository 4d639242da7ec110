/*
 * ed_concatenation.h - CONCATENATION of int8 tensors along one axis.
 *
 * TFLite Micro requires every int8 input to share the output's scale and zero
 * point, so concatenation is a copy: for each of `outer` slices, each input
 * contributes `sizes[i]` contiguous bytes (its axis length times the size of
 * the axes after it).
 *
 * Usage:
 *     const int8_t *inputs[2] = { a, b };
 *     static const int32_t sizes[2] = { 64, 32 };
 *     ed_concatenation_s8(outer, 2, inputs, sizes, output);
 */
#ifndef ED_CONCATENATION_H
#define ED_CONCATENATION_H

#include "ed_common.h"

ed_status_t ed_concatenation_s8(int32_t outer, int32_t count, const int8_t *const *inputs,
                                const int32_t *sizes, int8_t *output);

#endif /* ED_CONCATENATION_H */
