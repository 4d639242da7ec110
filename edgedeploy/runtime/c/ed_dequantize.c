/* ed_dequantize.c - DEQUANTIZE kernel; see ed_dequantize.h. */
#include "ed_dequantize.h"

void ed_dequantize_s8_f32(int32_t size, double scale, int32_t zero_point, const int8_t *input,
                          float *output)
{
    int32_t i;
    for (i = 0; i < size; ++i) {
        output[i] = (float)(scale * (double)((int32_t)input[i] - zero_point));
    }
}
