/*
 * ed_depthwise_conv2d.h - DEPTHWISE_CONV_2D, int8 with per-channel int8 weights.
 *
 * Arithmetic of TFLite Micro's reference DepthwiseConvPerChannel: output
 * channel oc = ic * depth_multiplier + m sums filter[fy][fx][oc] *
 * (input[y][x][ic] + input_offset) over the window, adds the bias and
 * requantizes per channel. Windows wholly inside the image use `folded_bias`
 * (bias + input_offset * sum of the channel's taps), an exact rewrite.
 * Weights are TFLite's [1][filter_h][filter_w][out_c] layout.
 *
 * Usage:
 *     static const ed_depthwise_conv2d_params p = { ... };
 *     if (ed_depthwise_conv2d_check(&p) != ED_OK) { ... }
 *     ed_depthwise_conv2d_s8(&p, input, filter, bias, folded_bias, multiplier, shift, output);
 */
#ifndef ED_DEPTHWISE_CONV2D_H
#define ED_DEPTHWISE_CONV2D_H

#include "ed_common.h"

typedef struct {
    int32_t batches;
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t filter_h, filter_w;
    int32_t depth_multiplier;
    int32_t stride_h, stride_w;
    int32_t dilation_h, dilation_w;
    int32_t pad_h, pad_w;
    int32_t input_offset;
    int32_t output_offset;
    int32_t act_min, act_max;
    int32_t per_channel;
} ed_depthwise_conv2d_params;

ed_status_t ed_depthwise_conv2d_check(const ed_depthwise_conv2d_params *p);

void ed_depthwise_conv2d_s8(const ed_depthwise_conv2d_params *p, const int8_t *input,
                            const int8_t *filter, const int32_t *bias,
                            const int32_t *folded_bias, const int32_t *multiplier,
                            const int32_t *shift, int8_t *output);

#endif /* ED_DEPTHWISE_CONV2D_H */
