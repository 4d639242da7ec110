/*
 * ${banner}
 *
 * board.h - what the benchmark firmware needs from a board: a UART, a free-running
 * counter, and a way to keep the UART quiet while inferences are timed.
 *
 * Each supported board implements these in its own board.c (with its memory map
 * in firmware.ld and its interrupt numbers in board_config.h); nothing else in
 * the firmware touches hardware. Adding a board means writing these functions.
 *
 * Usage:
 *     board_init();
 *     board_uart_putc('m');
 *     int c = board_uart_getc();          (sleeps until a byte arrives)
 *     uint64_t t0 = board_counter();      (BOARD_COUNTER_HZ ticks per second)
 */
#ifndef BOARD_H
#define BOARD_H

#include <stdint.h>

#include "board_config.h"

/** Set up the UART (receive by interrupt), the counter and the interrupt controller. */
void board_init(void);

/** Send one byte; waits while the transmitter is busy. */
void board_uart_putc(char c);

/** The next received byte; sleeps (WFI) until one arrives. */
int board_uart_getc(void);

/**
 * Stop (quiet = 1) or resume (quiet = 0) taking UART interrupts. The timed
 * inference loop runs quiet so that host traffic cannot change its count; the
 * host never sends while an `infer` command is running.
 */
void board_uart_quiet(int quiet);

/** The free-running counter, extended to 64 bits (BOARD_COUNTER_HZ ticks per second). */
uint64_t board_counter(void);

/** Interrupt handlers the vector table in startup.c points at. */
void board_uart_rx_isr(void);
void board_counter_isr(void);

#endif /* BOARD_H */
