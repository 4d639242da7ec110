/*
 * ${banner}
 *
 * protocol.h - the EEMBC / MLPerf Tiny benchmark command set, plus edgedeploy's
 * additions (identity, db crc, output, a CRC32 on every answer).
 *
 * Commands are ASCII text ended by '%'; every answer is a series of lines
 * "m-…" (information) or "e-[…]" (error) ending with "m-crc32-[XXXXXXXX]" and
 * "m-ready". docs/serial-protocol.md in edgedeploy is the specification.
 *
 * Usage:
 *     protocol_start();                              (prints the boot answer)
 *     for (;;) protocol_feed((char)board_uart_getc());
 */
#ifndef PROTOCOL_H
#define PROTOCOL_H

/** Initialise the model and print the boot answer ("m-init-done", "m-ready"). */
void protocol_start(void);

/** Take one received character; a '%' runs the command received so far. */
void protocol_feed(char c);

#endif /* PROTOCOL_H */
