/*
 * ed_relu6.h - RELU6 on int8: clamp to the quantized [0, 6] of the input.
 *
 * As TFLite Micro's Relu6Quantized, which keeps the input's quantization: each
 * value is clamped to [zero, six], the input zero point and round(6 / scale)
 * + zero point.
 *
 * Usage:
 *     ed_relu6_s8(size, zero, six, input, output);
 */
#ifndef ED_RELU6_H
#define ED_RELU6_H

#include "ed_common.h"

void ed_relu6_s8(int32_t size, int32_t zero, int32_t six, const int8_t *input, int8_t *output);

#endif /* ED_RELU6_H */
