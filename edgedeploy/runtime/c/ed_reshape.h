/*
 * ed_reshape.h - RESHAPE, SQUEEZE and EXPAND_DIMS.
 *
 * These only relabel a shape, so the memory planner normally gives the output
 * the input's bytes and no code runs. A copy is needed only when the input is
 * a constant (in flash) and the output must live in the arena.
 *
 * Usage:
 *     ed_reshape_copy(input, output, bytes);
 */
#ifndef ED_RESHAPE_H
#define ED_RESHAPE_H

#include "ed_common.h"

void ed_reshape_copy(const void *input, void *output, size_t bytes);

#endif /* ED_RESHAPE_H */
