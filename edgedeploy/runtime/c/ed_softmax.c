/* ed_softmax.c - SOFTMAX int8 kernel; see ed_softmax.h. */
#include "ed_softmax.h"

#include "ed_fixedpoint.h"

#define SCALED_DIFF_INTEGER_BITS 5
#define ACCUMULATION_INTEGER_BITS 12

ed_status_t ed_softmax_check(const ed_softmax_params *p)
{
    if (p == NULL || p->outer < 1 || p->depth < 1 || p->input_left_shift < 0 ||
        p->input_left_shift > 31) {
        return ED_ERROR_BAD_PARAMS;
    }
    return ED_OK;
}

static int32_t exp_of_diff(const ed_softmax_params *p, int32_t diff)
{
#if ED_SINGLE_ROUNDING
    const int32_t rescaled = ed_mbqm(diff, p->input_multiplier, p->input_left_shift);
#else
    const int32_t rescaled = ed_srdhm(ed_shl(diff, p->input_left_shift), p->input_multiplier);
#endif
    return ed_exp_on_negative_values(rescaled, SCALED_DIFF_INTEGER_BITS);
}

void ed_softmax_s8(const ed_softmax_params *p, const int8_t *input, int8_t *output)
{
    int32_t i, c;
    for (i = 0; i < p->outer; ++i) {
        const int8_t *x = input + (size_t)i * p->depth;
        int8_t *y = output + (size_t)i * p->depth;
        int32_t max_in_row = -128;
        int32_t sum_of_exps = 0;
        int headroom_plus_one, num_bits_over_unit, exponent;
        int32_t shifted_scale;
        for (c = 0; c < p->depth; ++c) {
            max_in_row = x[c] > max_in_row ? x[c] : max_in_row;
        }
        for (c = 0; c < p->depth; ++c) {
            const int32_t diff = (int32_t)x[c] - max_in_row;
            if (diff >= p->diff_min) {
                sum_of_exps = ed_wadd(sum_of_exps,
                                      ed_rdbp(exp_of_diff(p, diff), ACCUMULATION_INTEGER_BITS));
            }
        }
        headroom_plus_one = ed_clz32((uint32_t)sum_of_exps);
        num_bits_over_unit = ACCUMULATION_INTEGER_BITS - headroom_plus_one;
        shifted_scale = ed_one_over_one_plus_x(
            (int32_t)(((uint32_t)sum_of_exps << headroom_plus_one) - ((uint32_t)1 << 31)));
        exponent = num_bits_over_unit + 31 - 8;
        for (c = 0; c < p->depth; ++c) {
            const int32_t diff = (int32_t)x[c] - max_in_row;
            if (diff >= p->diff_min) {
                const int32_t unsat =
                    ed_rdbp(ed_srdhm(shifted_scale, exp_of_diff(p, diff)), exponent);
                y[c] = (int8_t)ed_clamp(unsat - 128, -128, 127);
            } else {
                y[c] = -128;
            }
        }
    }
}
