/*
 * ed_dequantize.h - DEQUANTIZE: int8 -> float32 at a model output.
 *
 * As TFLite Micro's Dequantize: (float)(scale * (x - zero_point)) with the
 * scale held in double precision. Only used when the model has float outputs.
 *
 * Usage:
 *     ed_dequantize_s8_f32(size, 0.0039, -128, input, output);
 */
#ifndef ED_DEQUANTIZE_H
#define ED_DEQUANTIZE_H

#include "ed_common.h"

void ed_dequantize_s8_f32(int32_t size, double scale, int32_t zero_point, const int8_t *input,
                          float *output);

#endif /* ED_DEQUANTIZE_H */
