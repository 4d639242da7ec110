/*
 * ed_average_pool2d.h - AVERAGE_POOL_2D, int8 NHWC.
 *
 * As TFLite Micro's reference AveragePool: the sum of the raw int8 values in
 * the window clipped to the image, divided by the count of those values with
 * rounding half away from zero, then clamped. A window with no value in the
 * image is an error, as in TFLite Micro.
 *
 * Usage:
 *     static const ed_pool_params p = { ... };
 *     ed_status_t st = ed_average_pool2d_s8(&p, input, output);
 */
#ifndef ED_AVERAGE_POOL2D_H
#define ED_AVERAGE_POOL2D_H

#include "ed_pool.h"

ed_status_t ed_average_pool2d_s8(const ed_pool_params *p, const int8_t *input, int8_t *output);

#endif /* ED_AVERAGE_POOL2D_H */
