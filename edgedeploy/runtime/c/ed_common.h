/*
 * ed_common.h - status codes and limits shared by the edgedeploy int8 kernels.
 *
 * Every kernel of this library is plain C99: no malloc, no recursion, no
 * floating point on the int8 path, and no memory of its own. The caller (the
 * generated model.c) passes every buffer; parameters are `const` structs the
 * generator fills offline, so they live in flash.
 *
 * Usage:
 *     ed_status_t st = ed_conv2d_check(&params);   (once, at init)
 *     if (st == ED_OK) ed_conv2d_s8(&params, in, w, bias, folded, mult, shift, out);
 */
#ifndef ED_COMMON_H
#define ED_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Result of every call that can fail. */
typedef enum {
    ED_OK = 0,
    ED_ERROR_NOT_INITIALIZED = 1, /* invoke before a successful init */
    ED_ERROR_BAD_ARGUMENT = 2,    /* a NULL pointer or an index out of range */
    ED_ERROR_BAD_PARAMS = 3,      /* kernel parameters fail their check */
    ED_ERROR_KERNEL = 4           /* a kernel met data it cannot compute */
} ed_status_t;

/** Highest tensor rank the broadcasting, padding and reduction kernels handle. */
#define ED_MAX_DIMS 6

/** Clamp an int32 to [lo, hi]. */
static inline int32_t ed_clamp(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

#ifdef __cplusplus
}
#endif

#endif /* ED_COMMON_H */
