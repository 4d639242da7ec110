/* ed_relu6.c - RELU6 int8 kernel; see ed_relu6.h. */
#include "ed_relu6.h"

void ed_relu6_s8(int32_t size, int32_t zero, int32_t six, const int8_t *input, int8_t *output)
{
    int32_t i;
    for (i = 0; i < size; ++i) {
        const int32_t v = input[i];
        output[i] = (int8_t)(v > six ? six : (v < zero ? zero : v));
    }
}
