/* ed_hard_swish.c - HARD_SWISH int8 kernel; see ed_hard_swish.h. */
#include "ed_hard_swish.h"

static int16_t sat16(int32_t v)
{
    return (int16_t)(v > 32767 ? 32767 : (v < -32768 ? -32768 : v));
}

static int16_t saturating_left_shift16(int16_t value, int amount)
{
    return sat16((int32_t)value * (1 << amount));
}

/* gemmlowp SaturatingRoundingDoublingHighMul for int16. */
static int16_t srdhm16(int16_t a, int16_t b)
{
    int32_t ab;
    int32_t nudge;
    if (a == b && a == INT16_MIN) {
        return INT16_MAX;
    }
    ab = (int32_t)a * (int32_t)b;
    nudge = ab >= 0 ? (1 << 14) : (1 - (1 << 14));
    return (int16_t)((ab + nudge) / (1 << 15));
}

/* The same product without the rounding nudge (TFLite's SaturatingDoublingHighMul). */
static int16_t sdhm16(int16_t a, int16_t b)
{
    if (a == b && a == INT16_MIN) {
        return INT16_MAX;
    }
    return (int16_t)(((int32_t)a * (int32_t)b) / (1 << 15));
}

static int16_t rdbp16(int16_t x, int exponent)
{
    const int16_t mask = (int16_t)((1 << exponent) - 1);
    const int16_t remainder = (int16_t)(x & mask);
    const int16_t threshold = (int16_t)((mask >> 1) + (x < 0 ? 1 : 0));
    return (int16_t)((x >> exponent) + (remainder > threshold ? 1 : 0));
}

void ed_hard_swish_s8(const ed_hard_swish_params *p, const int8_t *input, int8_t *output)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const int16_t in_value = (int16_t)(input[i] - p->input_zero_point);
        const int16_t hires = (int16_t)(in_value * (1 << 7));
        const int16_t preshift_out = srdhm16(hires, (int16_t)p->output_multiplier_q15);
        int16_t reluish = hires;
        int16_t preshift_output_value;
        int32_t out;
        if (p->reluish_multiplier_exponent > 0) {
            reluish = saturating_left_shift16(reluish, p->reluish_multiplier_exponent - 1);
        }
        reluish = srdhm16(reluish, (int16_t)p->reluish_multiplier_q15);
        if (p->reluish_multiplier_exponent > 0) {
            reluish = saturating_left_shift16(reluish, 1);
        }
        if (p->reluish_multiplier_exponent < 0) {
            reluish = rdbp16(reluish, -p->reluish_multiplier_exponent);
        }
        reluish = (int16_t)(((int32_t)reluish + (1 << 15)) >> 1);
        preshift_output_value = sdhm16(reluish, preshift_out);
        out = (int16_t)(rdbp16(preshift_output_value, -p->output_multiplier_exponent) +
                        p->output_zero_point);
        output[i] = (int8_t)ed_clamp(out, -128, 127);
    }
}
