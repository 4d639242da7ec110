/*
 * ed_conv2d.h - CONV_2D, int8 activations, per-channel int8 weights, int32 bias.
 *
 * Arithmetic of TFLite Micro's reference ConvPerChannel: accumulate
 * filter * (input + input_offset) over the window (padding taps skipped),
 * add the bias, requantize per output channel, add the output zero point and
 * clamp to the fused activation range. Windows that lie wholly inside the
 * image start from `folded_bias` (bias + input_offset * sum of the channel's
 * weights, computed offline), which gives the same integer with one fewer
 * add per tap. Grouped convolution (filter depth < input depth) is supported.
 *
 * Weights are laid out [filter_h][filter_w][filter_c][out_c] (channel last;
 * TFLite stores [out_c][h][w][c], the generator transposes them).
 *
 * Usage:
 *     static const ed_conv2d_params p = { ... };   (filled by the generator)
 *     if (ed_conv2d_check(&p) != ED_OK) { ... }
 *     ed_conv2d_s8(&p, input, filter, bias, folded_bias, multiplier, shift, output);
 */
#ifndef ED_CONV2D_H
#define ED_CONV2D_H

#include "ed_common.h"

typedef struct {
    int32_t batches;
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t filter_h, filter_w, filter_c; /* filter_c = in_c / groups */
    int32_t stride_h, stride_w;
    int32_t dilation_h, dilation_w;
    int32_t pad_h, pad_w;
    int32_t input_offset;  /* -input zero point */
    int32_t output_offset; /* output zero point */
    int32_t act_min, act_max;
    int32_t per_channel;   /* 0: multiplier[0] and shift[0] serve every channel */
} ed_conv2d_params;

ed_status_t ed_conv2d_check(const ed_conv2d_params *p);

/* bias may be NULL (no bias); folded_bias, multiplier and shift may not. */
void ed_conv2d_s8(const ed_conv2d_params *p, const int8_t *input, const int8_t *filter,
                  const int32_t *bias, const int32_t *folded_bias,
                  const int32_t *multiplier, const int32_t *shift, int8_t *output);

#endif /* ED_CONV2D_H */
