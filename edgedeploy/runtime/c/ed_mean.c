/* ed_mean.c - MEAN int8 kernel; see ed_mean.h. */
#include "ed_mean.h"

#include "ed_fixedpoint.h"

ed_status_t ed_mean_check(const ed_mean_params *p)
{
    int32_t count = 1;
    int i;
    if (p == NULL) {
        return ED_ERROR_BAD_PARAMS;
    }
    for (i = 0; i < ED_MAX_DIMS; ++i) {
        if (p->kept_dims[i] < 1 || p->reduced_dims[i] < 1) {
            return ED_ERROR_BAD_PARAMS;
        }
        count *= p->reduced_dims[i];
    }
    return count == p->count ? ED_OK : ED_ERROR_BAD_PARAMS;
}

static int32_t reduce_sum(const ed_mean_params *p, const int8_t *base)
{
    const int32_t *d = p->reduced_dims;
    const int32_t *s = p->reduced_strides;
    int32_t sum = 0;
    int32_t r0, r1, r2, r3, r4, r5;
    for (r0 = 0; r0 < d[0]; ++r0) {
        for (r1 = 0; r1 < d[1]; ++r1) {
            for (r2 = 0; r2 < d[2]; ++r2) {
                for (r3 = 0; r3 < d[3]; ++r3) {
                    for (r4 = 0; r4 < d[4]; ++r4) {
                        const int8_t *row = base + r0 * s[0] + r1 * s[1] + r2 * s[2] +
                                            r3 * s[3] + r4 * s[4];
                        for (r5 = 0; r5 < d[5]; ++r5) {
                            sum += row[r5 * s[5]];
                        }
                    }
                }
            }
        }
    }
    return sum;
}

void ed_mean_s8(const ed_mean_params *p, const int8_t *input, int8_t *output)
{
    const int32_t *d = p->kept_dims;
    const int32_t *s = p->kept_strides;
    int32_t k0, k1, k2, k3, k4, k5;
    for (k0 = 0; k0 < d[0]; ++k0) {
        for (k1 = 0; k1 < d[1]; ++k1) {
            for (k2 = 0; k2 < d[2]; ++k2) {
                for (k3 = 0; k3 < d[3]; ++k3) {
                    for (k4 = 0; k4 < d[4]; ++k4) {
                        for (k5 = 0; k5 < d[5]; ++k5) {
                            const int8_t *base = input + k0 * s[0] + k1 * s[1] + k2 * s[2] +
                                                 k3 * s[3] + k4 * s[4] + k5 * s[5];
                            const int32_t sum =
                                reduce_sum(p, base) - p->input_zero_point * p->count;
                            const int32_t out =
                                ed_mbqm(sum, p->multiplier, p->shift) + p->output_zero_point;
                            *output++ = (int8_t)ed_clamp(out, -128, 127);
                        }
                    }
                }
            }
        }
    }
}
