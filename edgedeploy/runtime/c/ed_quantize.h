/*
 * ed_quantize.h - QUANTIZE: float32 -> int8 at a model input, or int8 -> int8
 * requantization inside the model.
 *
 * The float path exists only for models with float inputs and is the one
 * place besides DEQUANTIZE where this library touches floating point:
 * round(x / scale) + zero point, clamped, as TFLite Micro's AffineQuantize.
 *
 * Usage:
 *     ed_quantize_f32_s8(size, 0.0039f, -128, input, output);
 *     static const ed_requantize_params p = { ... };
 *     ed_requantize_s8(&p, input, output);
 */
#ifndef ED_QUANTIZE_H
#define ED_QUANTIZE_H

#include "ed_common.h"

typedef struct {
    int32_t size;
    int32_t input_zero_point, output_zero_point;
    int32_t multiplier, shift;
} ed_requantize_params;

void ed_quantize_f32_s8(int32_t size, float scale, int32_t zero_point, const float *input,
                        int8_t *output);

void ed_requantize_s8(const ed_requantize_params *p, const int8_t *input, int8_t *output);

#endif /* ED_QUANTIZE_H */
