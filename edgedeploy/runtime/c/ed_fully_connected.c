/* ed_fully_connected.c - FULLY_CONNECTED int8 kernel; see ed_fully_connected.h. */
#include "ed_fully_connected.h"

#include "ed_block.h"

ed_status_t ed_fully_connected_check(const ed_fully_connected_params *p)
{
    if (p == NULL || p->batches < 1 || p->accum_depth < 1 || p->out_depth < 1 ||
        p->act_min > p->act_max) {
        return ED_ERROR_BAD_PARAMS;
    }
    return ED_OK;
}

void ed_fully_connected_s8(const ed_fully_connected_params *p, const int8_t *input,
                           const int8_t *filter, const int32_t *folded_bias,
                           const int32_t *multiplier, const int32_t *shift, int8_t *output)
{
    const int32_t oc_n = p->out_depth;
    int32_t acc[ED_BLOCK];
    int32_t count = ED_BLOCK;
    int32_t b, ob, j;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *x = input + (size_t)b * p->accum_depth;
        for (ob = 0; ob < oc_n; ob += count) {
            count = ed_block_count(oc_n - ob);
            for (j = 0; j < count; ++j) {
                acc[j] = folded_bias[ob + j];
            }
            ed_block_outer_any(acc, count, x, p->accum_depth, filter + ob, oc_n, 0);
            ed_block_store(acc, count, ob, multiplier, shift, p->per_channel, p->output_offset,
                           p->act_min, p->act_max, output + ob);
        }
        output += oc_n;
    }
}
