/* ed_add.c - ADD int8 kernel; see ed_add.h. */
#include "ed_add.h"

#include "ed_fixedpoint.h"

ed_status_t ed_add_check(const ed_add_params *p)
{
    if (p == NULL || p->act_min > p->act_max || p->left_shift < 0 || p->left_shift > 30) {
        return ED_ERROR_BAD_PARAMS;
    }
    return ed_broadcast_check(&p->shape);
}

static int8_t add_one(const ed_add_params *p, int32_t a, int32_t b)
{
    const int32_t x1 = ed_shl(p->input1_offset + a, p->left_shift);
    const int32_t x2 = ed_shl(p->input2_offset + b, p->left_shift);
    const int32_t s1 = ed_mbqm(x1, p->input1_multiplier, p->input1_shift);
    const int32_t s2 = ed_mbqm(x2, p->input2_multiplier, p->input2_shift);
    const int32_t out = ed_mbqm(s1 + s2, p->output_multiplier, p->output_shift) + p->output_offset;
    return (int8_t)ed_clamp(out, p->act_min, p->act_max);
}

void ed_add_s8(const ed_add_params *p, const int8_t *input1, const int8_t *input2,
               int8_t *output)
{
    const ed_broadcast_shape *s = &p->shape;
    int32_t i0, i1, i2, i3, i4, i5;
    if (s->elementwise) {
        for (i0 = 0; i0 < s->size; ++i0) {
            output[i0] = add_one(p, input1[i0], input2[i0]);
        }
        return;
    }
    for (i0 = 0; i0 < s->dims[0]; ++i0) {
        for (i1 = 0; i1 < s->dims[1]; ++i1) {
            for (i2 = 0; i2 < s->dims[2]; ++i2) {
                for (i3 = 0; i3 < s->dims[3]; ++i3) {
                    for (i4 = 0; i4 < s->dims[4]; ++i4) {
                        const int8_t *a = input1 + i0 * s->stride1[0] + i1 * s->stride1[1] +
                                          i2 * s->stride1[2] + i3 * s->stride1[3] +
                                          i4 * s->stride1[4];
                        const int8_t *b = input2 + i0 * s->stride2[0] + i1 * s->stride2[1] +
                                          i2 * s->stride2[2] + i3 * s->stride2[3] +
                                          i4 * s->stride2[4];
                        for (i5 = 0; i5 < s->dims[5]; ++i5) {
                            *output++ = add_one(p, a[i5 * s->stride1[5]], b[i5 * s->stride2[5]]);
                        }
                    }
                }
            }
        }
    }
}
