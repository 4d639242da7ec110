/* ed_pool.c - parameter check shared by the pooling kernels; see ed_pool.h. */
#include "ed_pool.h"

ed_status_t ed_pool_check(const ed_pool_params *p)
{
    if (p == NULL || p->batches < 1 || p->in_h < 1 || p->in_w < 1 || p->channels < 1 ||
        p->out_h < 1 || p->out_w < 1 || p->filter_h < 1 || p->filter_w < 1 ||
        p->stride_h < 1 || p->stride_w < 1 || p->pad_h < 0 || p->pad_w < 0 ||
        p->act_min > p->act_max) {
        return ED_ERROR_BAD_PARAMS;
    }
    return ED_OK;
}
