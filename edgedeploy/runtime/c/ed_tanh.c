/* ed_tanh.c - TANH int8 kernel; see ed_tanh.h. */
#include "ed_tanh.h"

#include "ed_fixedpoint.h"

/* gemmlowp::tanh for a Q4.27 input, Q0.31 result. */
static int32_t tanh_q4(int32_t a)
{
    const int32_t n = a < 0 ? a : -a;
    /* ExactMulByPot<1>: the same raw value read with 5 integer bits. */
    const int32_t t = ed_one_minus_x_over_one_plus_x(ed_exp_on_negative_values(n, 5));
    if (a == 0) {
        return 0;
    }
    return a < 0 ? -t : t;
}

void ed_tanh_s8(const ed_tanh_params *p, const int8_t *input, int8_t *output)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const int32_t x = (int32_t)input[i] - p->input_zero_point;
        if (x <= -p->input_range_radius) {
            output[i] = -128;
        } else if (x >= p->input_range_radius) {
            output[i] = 127;
        } else {
            const int32_t q4 = ed_mbqm(x, p->input_multiplier, p->input_left_shift);
            const int32_t q24 = ed_rdbp(tanh_q4(q4), 31 - 7);
            output[i] = (int8_t)ed_clamp(q24, -128, 127);
        }
    }
}
