/* ed_logistic.c - LOGISTIC int8 kernel; see ed_logistic.h. */
#include "ed_logistic.h"

#include "ed_fixedpoint.h"

#define INPUT_INTEGER_BITS 4

/* gemmlowp::logistic for a Q4.27 input, Q0.31 result. */
static int32_t logistic_q4(int32_t a)
{
    const int32_t abs_a = a > 0 ? a : -a;
    const int32_t if_positive = ed_one_over_one_plus_x(
        ed_exp_on_negative_values(-abs_a, INPUT_INTEGER_BITS));
    if (a == 0) {
        return (int32_t)1 << 30;
    }
    return a > 0 ? if_positive : ed_wsub(INT32_MAX, if_positive);
}

void ed_logistic_s8(const ed_logistic_params *p, const int8_t *input, int8_t *output)
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
            const int32_t q23 = ed_rdbp(logistic_q4(q4), 31 - 8);
            output[i] = (int8_t)ed_clamp(q23 - 128, -128, 127);
        }
    }
}
