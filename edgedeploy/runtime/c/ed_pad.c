/* ed_pad.c - PAD int8 kernel; see ed_pad.h. */
#include "ed_pad.h"

#include <string.h>

ed_status_t ed_pad_check(const ed_pad_params *p)
{
    int i;
    if (p == NULL || p->pad_value < -128 || p->pad_value > 127) {
        return ED_ERROR_BAD_PARAMS;
    }
    for (i = 0; i < ED_MAX_DIMS; ++i) {
        if (p->in_dims[i] < 1 || p->before[i] < 0 ||
            p->out_dims[i] < p->in_dims[i] + p->before[i]) {
            return ED_ERROR_BAD_PARAMS;
        }
    }
    return ED_OK;
}

void ed_pad_s8(const ed_pad_params *p, const int8_t *input, int8_t *output)
{
    const int32_t *in = p->in_dims;
    const int32_t *out = p->out_dims;
    int32_t out_stride[ED_MAX_DIMS];
    size_t total = 1;
    int32_t i0, i1, i2, i3, i4;
    int k;
    for (k = ED_MAX_DIMS - 1; k >= 0; --k) {
        out_stride[k] = (int32_t)total;
        total *= (size_t)out[k];
    }
    memset(output, (int8_t)p->pad_value, total);
    for (i0 = 0; i0 < in[0]; ++i0) {
        for (i1 = 0; i1 < in[1]; ++i1) {
            for (i2 = 0; i2 < in[2]; ++i2) {
                for (i3 = 0; i3 < in[3]; ++i3) {
                    for (i4 = 0; i4 < in[4]; ++i4) {
                        int8_t *dst = output + (i0 + p->before[0]) * out_stride[0] +
                                      (i1 + p->before[1]) * out_stride[1] +
                                      (i2 + p->before[2]) * out_stride[2] +
                                      (i3 + p->before[3]) * out_stride[3] +
                                      (i4 + p->before[4]) * out_stride[4] + p->before[5];
                        memcpy(dst, input, (size_t)in[5]);
                        input += in[5];
                    }
                }
            }
        }
    }
}
