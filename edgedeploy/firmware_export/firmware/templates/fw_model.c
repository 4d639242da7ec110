/*
 * ${banner}
 *
 * fw_model.c - the benchmark's view of the model (fw_model.h) over the API of
 * the generated plain-C runtime (model/model.h) for ${model_file_comment}.
 */
#include "fw_model.h"

#include <stddef.h>
#include <string.h>

#include "model.h"

static const fw_tensor_info k_inputs[ED_MODEL_NUM_INPUTS] = {
${input_infos}
};

static const fw_tensor_info k_outputs[ED_MODEL_NUM_OUTPUTS] = {
${output_infos}
};

int fw_model_init(void)
{
    return (int)ed_model_init();
}

int fw_model_invoke(void)
{
    return (int)ed_model_invoke();
}

uint32_t fw_model_num_inputs(void)
{
    return ED_MODEL_NUM_INPUTS;
}

uint32_t fw_model_num_outputs(void)
{
    return ED_MODEL_NUM_OUTPUTS;
}

const fw_tensor_info *fw_model_input_info(uint32_t i)
{
    return i < ED_MODEL_NUM_INPUTS ? &k_inputs[i] : NULL;
}

const fw_tensor_info *fw_model_output_info(uint32_t i)
{
    return i < ED_MODEL_NUM_OUTPUTS ? &k_outputs[i] : NULL;
}

uint8_t *fw_model_input(uint32_t i)
{
    void *data = NULL;
    if (ed_model_input((int)i, &data, NULL) != ED_OK) {
        return NULL;
    }
    return (uint8_t *)data;
}

const uint8_t *fw_model_output(uint32_t i)
{
    void *data = NULL;
    if (ed_model_output((int)i, &data, NULL) != ED_OK) {
        return NULL;
    }
    return (const uint8_t *)data;
}

uint32_t fw_model_arena_bytes(void)
{
    return ED_MODEL_ARENA_SIZE;
}

float fw_model_output_value(uint32_t i, uint32_t k)
{
    const fw_tensor_info *info = fw_model_output_info(i);
    const uint8_t *data = fw_model_output(i);
    if (info == NULL || data == NULL || k >= info->elements) {
        return 0.0f;
    }
    if (info->is_float) {
        float value;
        memcpy(&value, data + 4u * k, sizeof value);
        return value;
    }
    int32_t q = (int8_t)data[k];
    return info->scale != 0.0f ? (float)(q - info->zero_point) * info->scale : (float)q;
}
