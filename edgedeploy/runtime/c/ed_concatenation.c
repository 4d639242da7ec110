/* ed_concatenation.c - CONCATENATION int8 kernel; see ed_concatenation.h. */
#include "ed_concatenation.h"

#include <string.h>

ed_status_t ed_concatenation_s8(int32_t outer, int32_t count, const int8_t *const *inputs,
                                const int32_t *sizes, int8_t *output)
{
    int32_t o, i;
    if (inputs == NULL || sizes == NULL || output == NULL || outer < 0 || count < 1) {
        return ED_ERROR_BAD_ARGUMENT;
    }
    for (o = 0; o < outer; ++o) {
        for (i = 0; i < count; ++i) {
            memcpy(output, inputs[i] + (size_t)o * sizes[i], (size_t)sizes[i]);
            output += sizes[i];
        }
    }
    return ED_OK;
}
