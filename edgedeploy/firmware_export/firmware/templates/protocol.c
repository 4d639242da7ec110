/*
 * ${banner}
 *
 * protocol.c - the benchmark command parser.
 *
 * It answers the commands of the MLPerf Tiny runner with the lines that runner
 * expects (name, profile, timestamp, db load/HEX/print, infer N W, results) and
 * edgedeploy's own (identity, db crc, output). It is stricter than the EEMBC
 * reference: numbers must be plain decimals, unknown arguments are refused and
 * an upload can neither overrun the buffer nor be silently truncated, so a
 * command garbled on the link fails loudly instead of doing something else.
 */
#include "protocol.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "board.h"
#include "crc32.h"
#include "fw_config.h"
#include "fw_io.h"
#include "fw_model.h"

#define EE_TERMINATOR '%'
#define EE_MAX_ARGS 6
/* Output bytes per "m-output-I-[…]" line. */
#define OUTPUT_BYTES_PER_LINE 32u
/* Bytes per "m-buffer-…" line of "db print", as in the EEMBC reference. */
#define PRINT_BYTES_PER_LINE 8u
/* MLPerf's default warm-up count when "infer N" gives none. */
#define DEFAULT_WARMUPS 10u

static char s_cmd[FW_CMD_SIZE + 1];
static uint32_t s_cmd_len;
static int s_cmd_overflow;

static uint8_t s_db[FW_DB_SIZE];
static uint32_t s_db_size; /* announced by "db load N" */
static uint32_t s_db_pos;  /* bytes received so far */

static int s_model_status = -1;
static int s_have_outputs;

extern uint32_t __flash_start;
extern uint32_t __flash_end;
extern uint32_t __ram_start;
extern uint32_t __stack_start;
extern uint32_t __stack_end;

static void line(const char *text)
{
    fw_puts(text);
    fw_eol();
}

/* Received text echoed in an answer: anything that could break the line or
 * its brackets (control bytes, non-ASCII, ']') is shown as '?'. */
static void put_printable(const char *text)
{
    for (; *text != '\0'; ++text) {
        char c = *text;
        fw_putc((c < 0x20 || c > 0x7E || c == ']') ? '?' : c);
    }
}

static void error2(const char *a, const char *b)
{
    fw_puts("e-[");
    fw_puts(a);
    put_printable(b);
    fw_puts("]");
    fw_eol();
}

static void error(const char *text)
{
    error2(text, "");
}

static void error_u(const char *before, uint64_t value, const char *after)
{
    fw_puts("e-[");
    fw_puts(before);
    fw_put_u64(value);
    fw_puts(after);
    fw_puts("]");
    fw_eol();
}

/* "m-KEY-[VALUE]" */
static void info_u(const char *key, uint64_t value)
{
    fw_puts(key);
    fw_puts("-[");
    fw_put_u64(value);
    fw_puts("]");
    fw_eol();
}

static void info_s(const char *key, const char *value)
{
    fw_puts(key);
    fw_puts("-[");
    fw_puts(value);
    fw_puts("]");
    fw_eol();
}

/* A plain decimal number below 2^32; anything else (signs, spaces, letters) is refused. */
static int parse_u32(const char *text, uint32_t *out)
{
    uint64_t value = 0u;
    if (*text == '\0') {
        return 0;
    }
    for (; *text != '\0'; ++text) {
        if (*text < '0' || *text > '9') {
            return 0;
        }
        value = value * 10u + (uint64_t)(*text - '0');
        if (value > 0xFFFFFFFFu) {
            return 0;
        }
    }
    *out = (uint32_t)value;
    return 1;
}

/* Lowercase only, as the MLPerf runner and edgedeploy send it: then every
 * corrupted hex byte is refused, where a case flip would pass unnoticed. */
static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

static void lap(uint64_t ticks)
{
    const uint64_t hz = BOARD_COUNTER_HZ;
    uint64_t us = ticks / hz * 1000000u + ticks % hz * 1000000u / hz;
    fw_puts("m-lap-us-");
    fw_put_u64(us);
    fw_eol();
    fw_puts("m-lap-ticks-");
    fw_put_u64(ticks);
    fw_eol();
}

static void print_results(void)
{
    fw_puts("m-results-[");
    int first = 1;
    for (uint32_t i = 0; i < fw_model_num_outputs(); ++i) {
        const fw_tensor_info *info = fw_model_output_info(i);
        for (uint32_t k = 0; k < info->elements; ++k) {
            if (!first) {
                fw_putc(',');
            }
            first = 0;
            fw_put_fixed3(fw_model_output_value(i, k));
        }
    }
    fw_puts("]");
    fw_eol();
}

/* --- commands ----------------------------------------------------------- */

static void cmd_name(void)
{
    line("m-name-dut-[" FW_VENDOR "]");
}

static void cmd_profile(void)
{
    line("m-profile-[" FW_PROFILE "]");
    line("m-model-[" FW_MODEL_NAME "]");
}

static void cmd_help(void)
{
    line("m-help-[name: print the device name]");
    line("m-help-[profile: print the firmware profile and model]");
    line("m-help-[timestamp: print the counter]");
    line("m-help-[db load N: expect N input bytes]");
    line("m-help-[db HH[HH]*: load input bytes as hex]");
    line("m-help-[db print [N [OFFSET]]: print loaded bytes as hex]");
    line("m-help-[db crc: print the CRC32 of the loaded bytes]");
    line("m-help-[infer N [W]: load the input, run W warm-ups then N timed inferences]");
    line("m-help-[results: print the outputs as numbers]");
    line("m-help-[output: print the raw output tensors as hex]");
    line("m-help-[identity: print the model, tensors, counter and memory]");
}

static void cmd_db_load(int argc, char **argv)
{
    uint32_t n;
    if (argc != 3 || !parse_u32(argv[2], &n)) {
        error("Command 'db load' requires the # of bytes");
        return;
    }
    if (n == 0u) {
        error("Command 'db load' must be >0 bytes");
        return;
    }
    if (n > FW_DB_SIZE) {
        error_u("Command 'db load' asks for ", n, " bytes; the buffer holds " FW_DB_SIZE_TEXT);
        return;
    }
    s_db_size = n;
    s_db_pos = 0u;
    s_have_outputs = 0;
    fw_puts("m-[Expecting ");
    fw_put_u64(n);
    fw_puts(" bytes]");
    fw_eol();
}

static void cmd_db_data(const char *hex)
{
    size_t digits = strlen(hex);
    if (s_db_size == 0u) {
        error("Command 'db' needs 'db load N' first");
        return;
    }
    if ((digits & 1u) != 0u) {
        error("Insufficient number of hex digits");
        return;
    }
    for (size_t i = 0; i < digits; ++i) {
        if (hex_value(hex[i]) < 0) {
            char bad[2] = {hex[i], '\0'};
            error2("Invalid hex digit ", bad);
            return;
        }
    }
    if (s_db_pos >= s_db_size) {
        error_u("The buffer already holds all ", s_db_size, " bytes");
        return;
    }
    for (size_t i = 0; i < digits && s_db_pos < s_db_size; i += 2u) {
        s_db[s_db_pos++] = (uint8_t)(hex_value(hex[i]) * 16 + hex_value(hex[i + 1u]));
    }
    if (s_db_pos == s_db_size) {
        line("m-load-done");
    }
}

static void cmd_db_print(int argc, char **argv)
{
    uint32_t count = s_db_pos;
    uint32_t offset = 0u;
    if (argc > 4 || (argc >= 3 && !parse_u32(argv[2], &count)) ||
        (argc == 4 && !parse_u32(argv[3], &offset))) {
        error("Usage: db print [N [OFFSET]]");
        return;
    }
    if (offset > s_db_pos) {
        offset = s_db_pos;
    }
    if (count > s_db_pos - offset) {
        count = s_db_pos - offset;
    }
    for (uint32_t i = 0; i < count; ++i) {
        if (i % PRINT_BYTES_PER_LINE == 0u) {
            fw_puts("m-buffer-");
        } else {
            fw_putc('-');
        }
        fw_put_hex8(s_db[offset + i]);
        if ((i + 1u) % PRINT_BYTES_PER_LINE == 0u || i + 1u == count) {
            fw_eol();
        }
    }
}

static void cmd_db_crc(int argc)
{
    if (argc != 2) {
        error("Command 'db crc' takes no arguments");
        return;
    }
    fw_puts("m-db-crc32-[");
    fw_put_hex32(crc32_bytes(s_db, s_db_pos));
    fw_puts("]-[");
    fw_put_u64(s_db_pos);
    fw_puts("]");
    fw_eol();
}

static void cmd_db(int argc, char **argv)
{
    if (argc < 2) {
        error("Command 'db' requires a subcommand");
    } else if (strcmp(argv[1], "load") == 0) {
        cmd_db_load(argc, argv);
    } else if (strcmp(argv[1], "print") == 0) {
        cmd_db_print(argc, argv);
    } else if (strcmp(argv[1], "crc") == 0) {
        cmd_db_crc(argc);
    } else if (argc == 2) {
        cmd_db_data(argv[1]);
    } else {
        error("Command 'db' takes one run of hex digits");
    }
}

/* An inference needs exactly the model's input bytes. */
static int check_input(void)
{
    if (s_db_pos != FW_INPUT_BYTES) {
        error_u("Input has ", s_db_pos, " bytes; the model takes " FW_INPUT_BYTES_TEXT);
        return 0;
    }
    return 1;
}

/* Copy the uploaded bytes into the input tensors, in order. */
static void copy_inputs(void)
{
    uint32_t offset = 0u;
    for (uint32_t i = 0; i < fw_model_num_inputs(); ++i) {
        uint32_t n = fw_model_input_info(i)->nbytes;
        memcpy(fw_model_input(i), &s_db[offset], n);
        offset += n;
    }
}

/* Each run writes the input and invokes, as an application does: the input
 * buffers are inside the arena, which the previous run has overwritten. */
/* The stack grows down into .bss (the arena): a fully used stack means the
 * results cannot be trusted. */
static int stack_overflowed(void)
{
    return __stack_start == FW_STACK_PAINT ? 0 : 1;
}

static int run_inferences(uint32_t count)
{
    for (uint32_t i = 0; i < count; ++i) {
        copy_inputs();
        int status = fw_model_invoke();
        if (status != 0) {
            return status;
        }
    }
    return 0;
}

static void cmd_infer(int argc, char **argv)
{
    uint32_t runs = 1u;
    uint32_t warmups = DEFAULT_WARMUPS;
    if (argc > 3 || (argc >= 2 && !parse_u32(argv[1], &runs)) ||
        (argc == 3 && !parse_u32(argv[2], &warmups))) {
        error("Usage: infer N [W] with decimal N >0 and W >=0");
        return;
    }
    /* Whatever happens next, earlier outputs no longer answer for this input. */
    s_have_outputs = 0;
    if (runs == 0u) {
        error("Inference iterations must be >0");
        return;
    }
    if (s_model_status != 0) {
        error_u("The model failed to initialise with status ", (uint64_t)s_model_status, "");
        return;
    }
    if (!check_input()) {
        return;
    }
    fw_puts("m-warmup-start-");
    fw_put_u64(warmups);
    fw_eol();
    board_uart_quiet(1);
    int status = run_inferences(warmups);
    board_uart_quiet(0);
    if (status != 0) {
        error_u("Inference failed with status ", (uint64_t)status, "");
        return;
    }
    line("m-warmup-done");
    fw_puts("m-infer-start-");
    fw_put_u64(runs);
    fw_eol();
    board_uart_quiet(1);
    uint64_t start = board_counter();
    status = run_inferences(runs);
    uint64_t end = board_counter();
    board_uart_quiet(0);
    if (status != 0) {
        error_u("Inference failed with status ", (uint64_t)status, "");
        return;
    }
    if (stack_overflowed()) {
        error("Stack overflow: the firmware needs a larger stack");
        return;
    }
    lap(start);
    lap(end);
    line("m-infer-done");
    s_have_outputs = 1;
    print_results();
}

static void cmd_results(void)
{
    if (!s_have_outputs) {
        error("No inference has completed yet");
        return;
    }
    print_results();
}

static void cmd_output(void)
{
    if (!s_have_outputs) {
        error("No inference has completed yet");
        return;
    }
    for (uint32_t i = 0; i < fw_model_num_outputs(); ++i) {
        const uint8_t *data = fw_model_output(i);
        uint32_t n = fw_model_output_info(i)->nbytes;
        for (uint32_t start = 0; start < n; start += OUTPUT_BYTES_PER_LINE) {
            fw_puts("m-output-");
            fw_put_u64(i);
            fw_puts("-[");
            for (uint32_t k = start; k < n && k < start + OUTPUT_BYTES_PER_LINE; ++k) {
                fw_put_hex8(data[k]);
            }
            fw_puts("]");
            fw_eol();
        }
    }
}

static uint32_t stack_peak_bytes(void)
{
    const uint32_t *p = &__stack_start;
    while (p < &__stack_end && *p == FW_STACK_PAINT) {
        ++p;
    }
    return (uint32_t)((uintptr_t)&__stack_end - (uintptr_t)p);
}

static void tensor_line(const char *kind, uint32_t i, const fw_tensor_info *info)
{
    fw_puts("m-identity-");
    fw_puts(kind);
    fw_putc('-');
    fw_put_u64(i);
    fw_puts("-[");
    fw_puts(info->dtype);
    fw_puts("]-[");
    fw_put_u64(info->nbytes);
    fw_puts("]");
    fw_eol();
}

static void cmd_identity(void)
{
    if (s_model_status != 0) {
        error_u("The model failed to initialise with status ", (uint64_t)s_model_status, "");
    }
    info_s("m-identity-firmware", FW_VERSION);
    info_s("m-identity-board", BOARD_NAME);
    info_s("m-identity-device", FW_DEVICE);
    info_s("m-identity-model", FW_MODEL_NAME);
    info_s("m-identity-sha256", FW_MODEL_SHA256);
    info_u("m-identity-arena", fw_model_arena_bytes());
    info_u("m-identity-inputs", fw_model_num_inputs());
    for (uint32_t i = 0; i < fw_model_num_inputs(); ++i) {
        tensor_line("input", i, fw_model_input_info(i));
    }
    info_u("m-identity-outputs", fw_model_num_outputs());
    for (uint32_t i = 0; i < fw_model_num_outputs(); ++i) {
        tensor_line("output", i, fw_model_output_info(i));
    }
    fw_puts("m-identity-counter-[" BOARD_COUNTER_NAME "]-[");
    fw_put_u64(BOARD_COUNTER_HZ);
    fw_puts("]-[" BOARD_COUNTER_UNIT "]");
    fw_eol();
    info_u("m-identity-cmd-size", FW_CMD_SIZE);
    info_u("m-identity-flash", (uintptr_t)&__flash_end - (uintptr_t)&__flash_start);
    info_u("m-identity-ram", (uintptr_t)&__stack_end - (uintptr_t)&__ram_start);
    fw_puts("m-identity-stack-[");
    fw_put_u64((uintptr_t)&__stack_end - (uintptr_t)&__stack_start);
    fw_puts("]-[");
    fw_put_u64(stack_peak_bytes());
    fw_puts("]");
    fw_eol();
}

static void dispatch(int argc, char **argv)
{
    const char *cmd = argv[0];
    if (strcmp(cmd, "db") == 0) {
        cmd_db(argc, argv);
    } else if (strcmp(cmd, "infer") == 0) {
        cmd_infer(argc, argv);
    } else if (argc != 1) {
        error2("Command takes no arguments: ", cmd);
    } else if (strcmp(cmd, "name") == 0) {
        cmd_name();
    } else if (strcmp(cmd, "timestamp") == 0) {
        lap(board_counter());
    } else if (strcmp(cmd, "profile") == 0) {
        cmd_profile();
    } else if (strcmp(cmd, "help") == 0) {
        cmd_help();
    } else if (strcmp(cmd, "results") == 0) {
        cmd_results();
    } else if (strcmp(cmd, "output") == 0) {
        cmd_output();
    } else if (strcmp(cmd, "identity") == 0) {
        cmd_identity();
    } else {
        error2("Unknown command: ", cmd);
    }
}

static void run_command(void)
{
    char *argv[EE_MAX_ARGS];
    int argc = 0;
    char *p = s_cmd;
    while (*p != '\0') {
        while (*p == ' ') {
            *p++ = '\0';
        }
        if (*p == '\0') {
            break;
        }
        if (argc == EE_MAX_ARGS) {
            error("Too many arguments");
            return;
        }
        argv[argc++] = p;
        while (*p != '\0' && *p != ' ') {
            ++p;
        }
    }
    if (argc > 0) {
        dispatch(argc, argv);
    }
}

void protocol_start(void)
{
    fw_reply_begin();
    s_model_status = fw_model_init();
    line("m-timestamp-mode-performance");
    lap(board_counter());
    if (s_model_status != 0) {
        error_u("The model failed to initialise with status ", (uint64_t)s_model_status, "");
    }
    line("m-init-done");
    fw_reply_end();
}

void protocol_feed(char c)
{
    if (c == EE_TERMINATOR) {
        fw_reply_begin();
        if (s_cmd_overflow) {
            error("Command too long: the limit is " FW_CMD_SIZE_TEXT " characters");
        } else {
            s_cmd[s_cmd_len] = '\0';
            run_command();
        }
        s_cmd_len = 0u;
        s_cmd_overflow = 0;
        fw_reply_end();
        return;
    }
    if (c == '\r' || c == '\n') {
        return;
    }
    if (s_cmd_len < FW_CMD_SIZE) {
        s_cmd[s_cmd_len++] = c;
    } else {
        s_cmd_overflow = 1;
    }
}
