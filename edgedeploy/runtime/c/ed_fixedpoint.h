/*
 * ed_fixedpoint.h - the integer rescaling arithmetic of TFLite's reference kernels.
 *
 * Bit-exactness with TensorFlow Lite Micro depends on rounding every step the
 * same way, so these follow TFLite's quantization spec and gemmlowp's
 * fixed-point semantics exactly: a rounding doubling high multiply, a rounding
 * divide by a power of two that rounds half away from zero, and
 * MultiplyByQuantizedMultiplier in its double-rounding form (the default
 * build of TFLite Micro), or single rounding with -DED_SINGLE_ROUNDING=1.
 *
 * Usage:
 *     int32_t y = ed_mbqm(acc, multiplier, shift);   (acc * M * 2^shift)
 */
#ifndef ED_FIXEDPOINT_H
#define ED_FIXEDPOINT_H

#include <stdint.h>

#ifndef ED_SINGLE_ROUNDING
#define ED_SINGLE_ROUNDING 0
#endif

/** a * b * 2 / 2^32, rounded to nearest (ties away from zero), saturating. */
static inline int32_t ed_srdhm(int32_t a, int32_t b)
{
    int64_t ab;
    int64_t nudge;
    if (a == b && a == INT32_MIN) {
        return INT32_MAX;
    }
    ab = (int64_t)a * (int64_t)b;
    nudge = ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

/** x / 2^exponent rounded to nearest, ties away from zero (0 <= exponent <= 31). */
static inline int32_t ed_rdbp(int32_t x, int exponent)
{
    const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/** x * 2^amount in wrapping int32 arithmetic, as TFLite's `x * (1 << amount)`. */
static inline int32_t ed_shl(int32_t x, int amount)
{
    return (int32_t)((uint32_t)x << amount);
}

/** x * multiplier * 2^(shift - 31): TFLite's MultiplyByQuantizedMultiplier. */
static inline int32_t ed_mbqm(int32_t x, int32_t multiplier, int shift)
{
#if ED_SINGLE_ROUNDING
    const int total_shift = 31 - shift;
    const int64_t round = (int64_t)1 << (total_shift - 1);
    return (int32_t)(((int64_t)x * (int64_t)multiplier + round) >> total_shift);
#else
    const int left = shift > 0 ? shift : 0;
    const int right = shift > 0 ? 0 : -shift;
    return ed_rdbp(ed_srdhm(ed_shl(x, left), multiplier), right);
#endif
}

/** Saturating x * 2^exponent for exponent > 0 (gemmlowp SaturatingRoundingMultiplyByPOT). */
static inline int32_t ed_sat_shl(int32_t x, int exponent)
{
    const int32_t threshold = (int32_t)(((int64_t)1 << (31 - exponent)) - 1);
    if (x > threshold) {
        return INT32_MAX;
    }
    if (x < -threshold) {
        return INT32_MIN;
    }
    return ed_shl(x, exponent);
}

/** (a + b) / 2 rounded half away from zero, without overflow. */
static inline int32_t ed_rounding_half_sum(int32_t a, int32_t b)
{
    const int64_t sum = (int64_t)a + (int64_t)b;
    const int64_t sign = sum >= 0 ? 1 : -1;
    return (int32_t)((sum + sign) / 2);
}

/** Wrapping int32 add and subtract, as gemmlowp's raw fixed-point + and -. */
static inline int32_t ed_wadd(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

static inline int32_t ed_wsub(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a - (uint32_t)b);
}

/* exp(x) for x in [-1/4, 0), both Q0.31. */
static inline int32_t ed_exp_on_interval_q0(int32_t a)
{
    const int32_t constant_term = 1895147668;   /* exp(-1/8) */
    const int32_t constant_1_over_3 = 715827883;
    const int32_t x = ed_wadd(a, (int32_t)1 << 28);
    const int32_t x2 = ed_srdhm(x, x);
    const int32_t x3 = ed_srdhm(x2, x);
    const int32_t x4 = ed_srdhm(x2, x2);
    const int32_t x4_over_4 = ed_rdbp(x4, 2);
    const int32_t poly = ed_rdbp(
        ed_wadd(ed_srdhm(ed_wadd(x4_over_4, x3), constant_1_over_3), x2), 1);
    return ed_wadd(constant_term, ed_srdhm(constant_term, ed_wadd(x, poly)));
}

/* exp(a) for a <= 0; a has `integer_bits` integer bits, the result is Q0.31. */
static inline int32_t ed_exp_on_negative_values(int32_t a, int integer_bits)
{
    static const int32_t multipliers[7] = {
        1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242
    };
    const int fractional_bits = 31 - integer_bits;
    const int32_t one_quarter = (int32_t)1 << (fractional_bits - 2);
    const int32_t mask = one_quarter - 1;
    const int32_t a_mod_quarter_minus_one_quarter = ed_wsub(a & mask, one_quarter);
    /* Rescale to 0 integer bits: a left shift by integer_bits, saturating. */
    int32_t result = ed_exp_on_interval_q0(
        integer_bits > 0 ? ed_sat_shl(a_mod_quarter_minus_one_quarter, integer_bits)
                         : a_mod_quarter_minus_one_quarter);
    const int32_t remainder = ed_wsub(a_mod_quarter_minus_one_quarter, a);
    int k;
    for (k = 0; k < 7; ++k) {
        const int exponent = k - 2;
        if (integer_bits > exponent) {
            const int shift_amount = fractional_bits + exponent;
            if (remainder & ((int32_t)1 << shift_amount)) {
                result = ed_srdhm(result, multipliers[k]);
            }
        }
    }
    if (integer_bits > 5) {
        const int32_t clamp = -((int32_t)1 << (36 - integer_bits));
        if (a < clamp) {
            result = 0;
        }
    }
    if (a == 0) {
        result = INT32_MAX;
    }
    return result;
}

/* Newton-Raphson core shared by 1/(1+x) and (1-x)/(1+x); returns x in Q2.29. */
static inline int32_t ed_reciprocal_core_q2(int32_t half_denominator)
{
    const int32_t constant_48_over_17 = 1515870810;
    const int32_t constant_neg_32_over_17 = -1010580540;
    const int32_t one_q2 = (int32_t)1 << 29;
    int32_t x = ed_wadd(constant_48_over_17, ed_srdhm(half_denominator, constant_neg_32_over_17));
    int i;
    for (i = 0; i < 3; ++i) {
        const int32_t half_denominator_times_x = ed_srdhm(half_denominator, x);
        const int32_t one_minus = ed_wsub(one_q2, half_denominator_times_x);
        x = ed_wadd(x, ed_sat_shl(ed_srdhm(x, one_minus), 2));
    }
    return x;
}

/* 1 / (1 + a) for a in [0, 1), Q0.31 in and out. */
static inline int32_t ed_one_over_one_plus_x(int32_t a)
{
    const int32_t half_denominator = ed_rounding_half_sum(a, INT32_MAX);
    const int32_t x = ed_reciprocal_core_q2(half_denominator);
    /* ExactMulByPot<-1> then Rescale<0> from 1 integer bit: saturating << 1. */
    return ed_sat_shl(x, 1);
}

/* (1 - a) / (1 + a) for a in [0, 1), Q0.31 in and out. */
static inline int32_t ed_one_minus_x_over_one_plus_x(int32_t a)
{
    const int32_t half_denominator = ed_rounding_half_sum(a, INT32_MAX);
    const int32_t x = ed_reciprocal_core_q2(half_denominator);
    return ed_sat_shl(ed_wsub(x, (int32_t)1 << 29), 2);
}

/* Count of leading zero bits of a 32-bit word (32 for zero). */
static inline int ed_clz32(uint32_t x)
{
    int n = 0;
    if (x == 0) {
        return 32;
    }
    while ((x & 0x80000000u) == 0) {
        x <<= 1;
        ++n;
    }
    return n;
}

#endif /* ED_FIXEDPOINT_H */
