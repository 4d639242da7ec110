/*
 * ${banner}
 *
 * fw_model.h - the model as the benchmark protocol sees it: input and output
 * byte buffers, one invoke, and what is needed to print results.
 *
 * fw_model.c implements this over the generated model API (model.h), so the
 * protocol code does not depend on how the runtime names things. Input and
 * output buffers live inside the model's arena, which invoke reuses: write the
 * inputs before every invoke, read the outputs before the next one.
 *
 * Usage:
 *     if (fw_model_init() != 0) { ... }
 *     memcpy(fw_model_input(0), bytes, fw_model_input_info(0)->nbytes);
 *     int status = fw_model_invoke();
 *     const uint8_t *out = fw_model_output(0);
 */
#ifndef FW_MODEL_H
#define FW_MODEL_H

#include <stdint.h>

typedef struct {
    const char *dtype; /* "int8" or "float32" (a float input or output at the model's edge) */
    int is_float;
    uint32_t nbytes;
    uint32_t elements;
    float scale; /* 0 when the tensor is not quantized */
    int32_t zero_point;
} fw_tensor_info;

/** Set the model up; 0 on success, else the runtime's status code. */
int fw_model_init(void);

/** Run one inference on the current inputs; 0 on success, else a status code. */
int fw_model_invoke(void);

uint32_t fw_model_num_inputs(void);
uint32_t fw_model_num_outputs(void);
const fw_tensor_info *fw_model_input_info(uint32_t i);
const fw_tensor_info *fw_model_output_info(uint32_t i);
uint8_t *fw_model_input(uint32_t i);
const uint8_t *fw_model_output(uint32_t i);

/** Bytes of working memory (tensor arena) the model uses. */
uint32_t fw_model_arena_bytes(void);

/** Output `i`, element `k`, as a real number (dequantized when quantized). */
float fw_model_output_value(uint32_t i, uint32_t k);

#endif /* FW_MODEL_H */
