/*
 * ${banner}
 *
 * fw_io.h - writing the firmware's answers: text, numbers and hex to the UART,
 * with a running CRC32 over every byte of the current answer.
 *
 * An answer starts when a command has been received (fw_reply_begin) and ends
 * with fw_reply_end, which sends "m-crc32-[XXXXXXXX]" (the CRC of everything
 * sent since fw_reply_begin) and then "m-ready". The host checks the CRC, so
 * a byte corrupted on the link makes the exchange fail instead of giving a
 * wrong result. There is no printf: these few formatters are all the protocol
 * needs, and they keep newlib's printf (and its heap) out of the firmware.
 *
 * Usage:
 *     fw_reply_begin();
 *     fw_puts("m-lap-us-"); fw_put_u64(us); fw_eol();
 *     fw_reply_end();
 */
#ifndef FW_IO_H
#define FW_IO_H

#include <stdint.h>

/** The word the stack is filled with at reset; what is still intact was never used. */
#define FW_STACK_PAINT 0xA5A5A5A5u

void fw_reply_begin(void);
void fw_reply_end(void);

void fw_putc(char c);
void fw_puts(const char *s);
void fw_eol(void);
void fw_put_u64(uint64_t v);
void fw_put_i64(int64_t v);
void fw_put_hex8(uint8_t v);
void fw_put_hex32(uint32_t v);
/** A float as in printf("%.3f"), rounded half away from zero. */
void fw_put_fixed3(float v);

/** Report fault `exception` (an e-[…] line, then m-ready) from a fault handler. */
void fw_fault(uint32_t exception);

#endif /* FW_IO_H */
