/* ed_broadcast.c - shape check for the broadcasting kernels; see ed_broadcast.h. */
#include "ed_broadcast.h"

ed_status_t ed_broadcast_check(const ed_broadcast_shape *s)
{
    int32_t total = 1;
    int i;
    if (s == NULL || s->size < 0) {
        return ED_ERROR_BAD_PARAMS;
    }
    for (i = 0; i < ED_MAX_DIMS; ++i) {
        if (s->dims[i] < 1 || s->stride1[i] < 0 || s->stride2[i] < 0) {
            return ED_ERROR_BAD_PARAMS;
        }
        total *= s->dims[i];
    }
    return total == s->size ? ED_OK : ED_ERROR_BAD_PARAMS;
}
