/*
 * ${banner}
 *
 * fw_config.h - what this firmware build is: the model, the device, and the
 * sizes the protocol works with. Written from ${model_file_comment}.
 */
#ifndef FW_CONFIG_H
#define FW_CONFIG_H

#define FW_VERSION ${version}
#define FW_VENDOR "edgedeploy"
/* The profile string of the EEMBC ULPMark-ML firmware the MLPerf Tiny runner expects. */
#define FW_PROFILE "ULPMark for tinyML Firmware V0.0.1"
#define FW_DEVICE ${device_literal}
#define FW_MODEL_NAME ${model_name}
#define FW_MODEL_SHA256 "${sha256}"

/* Longest command (characters before '%') the parser accepts. */
#define FW_CMD_SIZE ${cmd_size}u
#define FW_CMD_SIZE_TEXT "${cmd_size}"

/* All input tensors' bytes back to back: what "db load N" must announce. */
#define FW_INPUT_BYTES ${input_bytes}u
#define FW_INPUT_BYTES_TEXT "${input_bytes}"
#define FW_DB_SIZE ${input_bytes}u
#define FW_DB_SIZE_TEXT "${input_bytes}"

#endif /* FW_CONFIG_H */
