/*
 * ed_pool.h - parameters shared by AVERAGE_POOL_2D and MAX_POOL_2D (NHWC int8).
 *
 * Pooling never rescales: TFLite Micro requires the input and output to share
 * scale and zero point, so only the window, padding and the fused activation
 * range matter.
 */
#ifndef ED_POOL_H
#define ED_POOL_H

#include "ed_common.h"

typedef struct {
    int32_t batches;
    int32_t in_h, in_w, channels;
    int32_t out_h, out_w;
    int32_t filter_h, filter_w;
    int32_t stride_h, stride_w;
    int32_t pad_h, pad_w;
    int32_t act_min, act_max;
} ed_pool_params;

ed_status_t ed_pool_check(const ed_pool_params *p);

#endif /* ED_POOL_H */
