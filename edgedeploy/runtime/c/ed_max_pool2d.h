/*
 * ed_max_pool2d.h - MAX_POOL_2D, int8 NHWC.
 *
 * As TFLite Micro's reference MaxPool: the largest int8 value of the window
 * clipped to the image (-128 when empty), clamped to the activation range.
 *
 * Usage:
 *     static const ed_pool_params p = { ... };
 *     ed_max_pool2d_s8(&p, input, output);
 */
#ifndef ED_MAX_POOL2D_H
#define ED_MAX_POOL2D_H

#include "ed_pool.h"

void ed_max_pool2d_s8(const ed_pool_params *p, const int8_t *input, int8_t *output);

#endif /* ED_MAX_POOL2D_H */
