/*
 * ed_block.h - the inner loops the convolution and fully connected kernels share.
 *
 * Output channels are computed in blocks of ED_BLOCK with the weights laid
 * out channel-last (the generator transposes them offline), so the innermost
 * loop runs over ED_BLOCK contiguous weights with a constant trip count: the
 * compiler keeps the block in vector registers, and the integer result is the
 * same as the reference kernels' order of summation (int32 addition is exact).
 * An input plus its offset lies in [-255, 255], so it is held as int16: the
 * compiler then multiplies 16-bit lanes instead of emulating 32-bit ones.
 */
#ifndef ED_BLOCK_H
#define ED_BLOCK_H

#include "ed_common.h"
#include "ed_fixedpoint.h"

#define ED_BLOCK 16

/* acc[j] += sum_i (x[i] + offset) * w[i * stride + j], for j < ED_BLOCK. */
static inline void ed_block_outer(int32_t *acc, const int8_t *x, int32_t n, const int8_t *w,
                                  int32_t stride, int32_t offset)
{
    int32_t i, j;
    for (i = 0; i < n; ++i) {
        const int16_t xv = (int16_t)((int32_t)x[i] + offset);
        const int8_t *row = w + (size_t)i * stride;
        for (j = 0; j < ED_BLOCK; ++j) {
            acc[j] += xv * row[j];
        }
    }
}

/* The same for ED_BLOCK / 2 channels (models with 8, 24, 40... channels). */
static inline void ed_block_outer_half(int32_t *acc, const int8_t *x, int32_t n, const int8_t *w,
                                       int32_t stride, int32_t offset)
{
    int32_t i, j;
    for (i = 0; i < n; ++i) {
        const int16_t xv = (int16_t)((int32_t)x[i] + offset);
        const int8_t *row = w + (size_t)i * stride;
        for (j = 0; j < ED_BLOCK / 2; ++j) {
            acc[j] += xv * row[j];
        }
    }
}

/* Any block of at most ED_BLOCK channels: the constant-width loops when they fit. */
static inline void ed_block_outer_any(int32_t *acc, int32_t count, const int8_t *x, int32_t n,
                                      const int8_t *w, int32_t stride, int32_t offset);

/* The same for a partial block of `count` channels. */
static inline void ed_block_outer_n(int32_t *acc, int32_t count, const int8_t *x, int32_t n,
                                    const int8_t *w, int32_t stride, int32_t offset)
{
    int32_t i, j;
    for (i = 0; i < n; ++i) {
        const int16_t xv = (int16_t)((int32_t)x[i] + offset);
        const int8_t *row = w + (size_t)i * stride;
        for (j = 0; j < count; ++j) {
            acc[j] += xv * row[j];
        }
    }
}

static inline void ed_block_outer_any(int32_t *acc, int32_t count, const int8_t *x, int32_t n,
                                      const int8_t *w, int32_t stride, int32_t offset)
{
    if (count == ED_BLOCK) {
        ed_block_outer(acc, x, n, w, stride, offset);
    } else if (count == ED_BLOCK / 2) {
        ed_block_outer_half(acc, x, n, w, stride, offset);
    } else {
        ed_block_outer_n(acc, count, x, n, w, stride, offset);
    }
}

/* Block widths: ED_BLOCK while at least that many channels remain, then ED_BLOCK / 2. */
static inline int32_t ed_block_count(int32_t remaining)
{
    return remaining >= ED_BLOCK ? ED_BLOCK : (remaining >= ED_BLOCK / 2 ? ED_BLOCK / 2 : remaining);
}

/* Requantize `count` accumulators of channels first..first+count-1 and store them. */
static inline void ed_block_store(const int32_t *acc, int32_t count, int32_t first,
                                  const int32_t *multiplier, const int32_t *shift,
                                  int32_t per_channel, int32_t output_offset, int32_t act_min,
                                  int32_t act_max, int8_t *out)
{
    int32_t j;
    for (j = 0; j < count; ++j) {
        const int32_t ch = per_channel ? first + j : 0;
        const int32_t v = ed_mbqm(acc[j], multiplier[ch], shift[ch]) + output_offset;
        out[j] = (int8_t)ed_clamp(v, act_min, act_max);
    }
}

#endif /* ED_BLOCK_H */
