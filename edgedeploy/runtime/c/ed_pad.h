/*
 * ed_pad.h - PAD / PADV2 of an int8 tensor with a constant value.
 *
 * The generator pads the shapes to ED_MAX_DIMS (leading size-1 axes); the
 * output is filled with `pad_value` (the output zero point, or PADV2's
 * constant) and every innermost input row is copied into place.
 *
 * Usage:
 *     static const ed_pad_params p = { ... };
 *     ed_pad_s8(&p, input, output);
 */
#ifndef ED_PAD_H
#define ED_PAD_H

#include "ed_common.h"

typedef struct {
    int32_t in_dims[ED_MAX_DIMS];
    int32_t out_dims[ED_MAX_DIMS];
    int32_t before[ED_MAX_DIMS]; /* padding ahead of each axis */
    int32_t pad_value;
} ed_pad_params;

ed_status_t ed_pad_check(const ed_pad_params *p);

void ed_pad_s8(const ed_pad_params *p, const int8_t *input, int8_t *output);

#endif /* ED_PAD_H */
