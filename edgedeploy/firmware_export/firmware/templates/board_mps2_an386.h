/*
 * ${banner}
 *
 * board_config.h - constants of the ARM MPS2 board with the AN386 FPGA image
 * (Cortex-M4), as QEMU's `-M mps2-an386` emulates it.
 *
 * Memory map, peripherals and interrupt numbers follow ARM's AN386 application
 * note and QEMU's hw/arm/mps2.c: CMSDK APB UART0 at 0x40004000 (RX interrupt 0),
 * CMSDK APB timer 0 at 0x40000000 (interrupt 8), both clocked at 25 MHz.
 */
#ifndef BOARD_CONFIG_H
#define BOARD_CONFIG_H

#define BOARD_NAME "mps2-an386"

/* The counter: CMSDK timer 0 counting the 25 MHz peripheral clock. Under QEMU's
 * -icount shift=S, virtual time advances 2^S ns per instruction, so one tick is
 * 40 / 2^S instructions; the host converts, the firmware reports raw ticks. */
#define BOARD_COUNTER_NAME "cmsdk-timer0"
#define BOARD_COUNTER_HZ 25000000u
#define BOARD_COUNTER_UNIT "ticks"

#define BOARD_UART_RX_IRQN 0
#define BOARD_COUNTER_IRQN 8
/* External interrupts in the vector table (the AN386 has 32). */
#define BOARD_NUM_IRQS 32

#define BOARD_PERIPH_CLOCK_HZ 25000000u
#define BOARD_UART_BAUD 115200u

#endif /* BOARD_CONFIG_H */
