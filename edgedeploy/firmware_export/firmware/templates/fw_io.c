/*
 * ${banner}
 *
 * fw_io.c - the firmware's output, with the CRC32 of each answer.
 */
#include "fw_io.h"

#include "board.h"
#include "crc32.h"

static uint32_t s_reply_crc = CRC32_INIT;

void fw_reply_begin(void)
{
    s_reply_crc = CRC32_INIT;
}

void fw_putc(char c)
{
    s_reply_crc = crc32_update(s_reply_crc, (uint8_t)c);
    board_uart_putc(c);
}

void fw_puts(const char *s)
{
    while (*s != '\0') {
        fw_putc(*s++);
    }
}

void fw_eol(void)
{
    fw_puts("\r\n");
}

void fw_put_u64(uint64_t v)
{
    char digits[20];
    int n = 0;
    do {
        digits[n++] = (char)('0' + (int)(v % 10u));
        v /= 10u;
    } while (v != 0u);
    while (n > 0) {
        fw_putc(digits[--n]);
    }
}

void fw_put_i64(int64_t v)
{
    if (v < 0) {
        fw_putc('-');
        fw_put_u64((uint64_t)0 - (uint64_t)v);
    } else {
        fw_put_u64((uint64_t)v);
    }
}

void fw_put_hex8(uint8_t v)
{
    static const char k_hex[] = "0123456789abcdef";
    fw_putc(k_hex[v >> 4]);
    fw_putc(k_hex[v & 0xFu]);
}

void fw_put_hex32(uint32_t v)
{
    for (int shift = 24; shift >= 0; shift -= 8) {
        fw_put_hex8((uint8_t)(v >> shift));
    }
}

void fw_put_fixed3(float v)
{
    /* Values beyond +-9.2e15 cannot come out of an 8- or 16-bit tensor. */
    const float limit = 9.0e15f;
    if (!(v == v)) {
        fw_puts("nan");
        return;
    }
    if (v > limit || v < -limit) {
        fw_puts(v > 0.0f ? "inf" : "-inf");
        return;
    }
    float scaled = v * 1000.0f;
    int64_t milli = (int64_t)(scaled < 0.0f ? scaled - 0.5f : scaled + 0.5f);
    if (milli < 0) {
        fw_putc('-');
        milli = -milli;
    }
    fw_put_u64((uint64_t)(milli / 1000));
    fw_putc('.');
    int64_t frac = milli % 1000;
    fw_putc((char)('0' + (int)(frac / 100)));
    fw_putc((char)('0' + (int)(frac / 10 % 10)));
    fw_putc((char)('0' + (int)(frac % 10)));
}

void fw_reply_end(void)
{
    uint32_t crc = crc32_final(s_reply_crc);
    fw_puts("m-crc32-[");
    fw_put_hex32(crc);
    fw_puts("]");
    fw_eol();
    fw_puts("m-ready");
    fw_eol();
}

void fw_fault(uint32_t exception)
{
    fw_puts("\r\ne-[Fault: exception ");
    fw_put_u64(exception);
    fw_puts(", the firmware stopped]");
    fw_eol();
    fw_reply_end();
}
