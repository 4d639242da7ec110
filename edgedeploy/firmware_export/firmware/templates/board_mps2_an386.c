/*
 * ${banner}
 *
 * board.c - the MPS2 AN386 board (Cortex-M4): CMSDK APB UART0 and timer 0.
 *
 * Received bytes are taken by the UART's RX interrupt into a ring buffer, and
 * the main loop sleeps (WFI) while it is empty. Polling the UART instead would
 * keep an emulated CPU busy and starve QEMU's I/O thread; on a real board it
 * wastes power. When the ring is full the RX interrupt is switched off, so the
 * UART's own one-byte buffer holds the next byte (QEMU then stops delivering:
 * no byte is dropped). Timer 0 counts down from 0xFFFFFFFF at 25 MHz; its
 * interrupt at each wrap extends it to 64 bits.
 */
#include <stdint.h>

#include "board.h"

#define REG(addr) (*(volatile uint32_t *)(addr))

/* CMSDK APB UART */
#define UART0_BASE 0x40004000u
#define UART_DATA REG(UART0_BASE + 0x000u)
#define UART_STATE REG(UART0_BASE + 0x004u)
#define UART_CTRL REG(UART0_BASE + 0x008u)
#define UART_INTCLEAR REG(UART0_BASE + 0x00Cu)
#define UART_BAUDDIV REG(UART0_BASE + 0x010u)
#define UART_STATE_TXFULL (1u << 0)
#define UART_STATE_RXFULL (1u << 1)
#define UART_CTRL_TXEN (1u << 0)
#define UART_CTRL_RXEN (1u << 1)
#define UART_CTRL_RXINTEN (1u << 3)
#define UART_INT_RX (1u << 1)

/* CMSDK APB timer 0 */
#define TIMER0_BASE 0x40000000u
#define TIMER_CTRL REG(TIMER0_BASE + 0x000u)
#define TIMER_VALUE REG(TIMER0_BASE + 0x004u)
#define TIMER_RELOAD REG(TIMER0_BASE + 0x008u)
#define TIMER_INTSTATUS REG(TIMER0_BASE + 0x00Cu) /* read: interrupt pending */
#define TIMER_INTCLEAR REG(TIMER0_BASE + 0x00Cu)  /* write 1: clear it */
#define TIMER_CTRL_ENABLE (1u << 0)
#define TIMER_CTRL_IRQEN (1u << 3)

/* NVIC */
#define NVIC_ISER0 REG(0xE000E100u)
#define NVIC_ICER0 REG(0xE000E180u)

/* Power of two so that the free-running indices wrap cleanly. */
#define RX_RING_SIZE 256u

static volatile uint8_t s_rx_ring[RX_RING_SIZE];
static volatile uint32_t s_rx_head; /* written by the ISR */
static volatile uint32_t s_rx_tail; /* written by the main loop */
static volatile uint32_t s_counter_wraps;

void board_init(void)
{
    UART_BAUDDIV = BOARD_PERIPH_CLOCK_HZ / BOARD_UART_BAUD;
    UART_CTRL = UART_CTRL_TXEN | UART_CTRL_RXEN | UART_CTRL_RXINTEN;

    TIMER_CTRL = 0u;
    TIMER_RELOAD = 0xFFFFFFFFu;
    TIMER_VALUE = 0xFFFFFFFFu;
    TIMER_INTCLEAR = 1u;
    TIMER_CTRL = TIMER_CTRL_ENABLE | TIMER_CTRL_IRQEN;

    NVIC_ISER0 = (1u << BOARD_UART_RX_IRQN) | (1u << BOARD_COUNTER_IRQN);
}

void board_uart_putc(char c)
{
    while (UART_STATE & UART_STATE_TXFULL) {
    }
    UART_DATA = (uint8_t)c;
}

void board_uart_rx_isr(void)
{
    UART_INTCLEAR = UART_INT_RX;
    while (UART_STATE & UART_STATE_RXFULL) {
        if (s_rx_head - s_rx_tail >= RX_RING_SIZE) {
            /* Ring full: leave the byte in the UART and stop taking interrupts
             * until the main loop has made room. */
            UART_CTRL &= ~UART_CTRL_RXINTEN;
            return;
        }
        s_rx_ring[s_rx_head % RX_RING_SIZE] = (uint8_t)UART_DATA;
        s_rx_head = s_rx_head + 1u;
    }
}

int board_uart_getc(void)
{
    for (;;) {
        __asm volatile("cpsid i" ::: "memory");
        if (s_rx_head != s_rx_tail) {
            int c = s_rx_ring[s_rx_tail % RX_RING_SIZE];
            s_rx_tail = s_rx_tail + 1u;
            UART_CTRL |= UART_CTRL_RXINTEN;
            __asm volatile("cpsie i" ::: "memory");
            return c;
        }
        /* A pending interrupt wakes WFI even with interrupts masked; it runs
         * as soon as they are unmasked, so no byte can slip in unnoticed. */
        __asm volatile("wfi" ::: "memory");
        __asm volatile("cpsie i" ::: "memory");
    }
}

void board_uart_quiet(int quiet)
{
    if (quiet) {
        NVIC_ICER0 = 1u << BOARD_UART_RX_IRQN;
    } else {
        NVIC_ISER0 = 1u << BOARD_UART_RX_IRQN;
    }
}

void board_counter_isr(void)
{
    TIMER_INTCLEAR = 1u;
    s_counter_wraps = s_counter_wraps + 1u;
}

uint64_t board_counter(void)
{
    uint32_t high;
    uint32_t value;
    uint32_t pending;
    do {
        high = s_counter_wraps;
        value = TIMER_VALUE;
        pending = TIMER_INTSTATUS & 1u;
    } while (high != s_counter_wraps);
    /* Wrapped but its interrupt not taken yet (interrupts masked): count it. */
    if (pending && value >= 0x80000000u) {
        high = high + 1u;
    }
    return ((uint64_t)high << 32) | (uint64_t)(0xFFFFFFFFu - value);
}
