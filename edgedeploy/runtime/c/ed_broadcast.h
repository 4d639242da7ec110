/*
 * ed_broadcast.h - element-wise iteration over two inputs with numpy broadcasting.
 *
 * The generator right-aligns both input shapes against the output shape, pads
 * them to ED_MAX_DIMS, and gives each input a stride of 0 along every axis it
 * broadcasts; equal shapes set `elementwise` so the kernel runs one flat loop.
 */
#ifndef ED_BROADCAST_H
#define ED_BROADCAST_H

#include "ed_common.h"

typedef struct {
    int32_t elementwise; /* 1: both inputs have the output's shape */
    int32_t size;        /* output element count */
    int32_t dims[ED_MAX_DIMS];
    int32_t stride1[ED_MAX_DIMS];
    int32_t stride2[ED_MAX_DIMS];
} ed_broadcast_shape;

ed_status_t ed_broadcast_check(const ed_broadcast_shape *s);

#endif /* ED_BROADCAST_H */
