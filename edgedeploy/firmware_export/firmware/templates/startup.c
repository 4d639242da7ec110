/*
 * ${banner}
 *
 * startup.c - reset and exception vectors for a Cortex-M board.
 *
 * Reset_Handler turns the FPU on (when the build uses it), copies initialised
 * data from flash to RAM, zeroes .bss, fills the stack with a pattern so that
 * its peak use can be measured later, and calls main. Any fault ends in
 * fault_handler, which says so on the UART (an `e-[…]` line the host reports)
 * and stops, rather than leaving the host waiting in silence.
 */
#include <stdint.h>

#include "board.h"
#include "fw_io.h"

/* Defined by firmware.ld. */
extern uint32_t __data_load;
extern uint32_t __data_start;
extern uint32_t __data_end;
extern uint32_t __bss_start;
extern uint32_t __bss_end;
extern uint32_t __stack_start;
extern uint32_t __stack_end;

int main(void);
void Reset_Handler(void);
void fault_handler(void);

#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)
#define SCB_ICSR (*(volatile uint32_t *)0xE000ED04u)

/* Bytes left unpainted below the reset handler's own frame. */
#define STACK_PAINT_MARGIN 64u

void Reset_Handler(void)
{
#if defined(__ARM_FP)
    SCB_CPACR |= 0xFu << 20; /* full access to coprocessors 10 and 11 (the FPU) */
    __asm volatile("dsb\n\tisb" ::: "memory");
#endif
    const uint32_t *src = &__data_load;
    for (uint32_t *dst = &__data_start; dst < &__data_end;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = &__bss_start; dst < &__bss_end;) {
        *dst++ = 0u;
    }
    uint32_t here = (uint32_t)(uintptr_t)&src;
    for (uint32_t *p = &__stack_start; (uint32_t)(uintptr_t)p < here - STACK_PAINT_MARGIN;) {
        *p++ = FW_STACK_PAINT;
    }
    (void)main();
    for (;;) {
        __asm volatile("wfi");
    }
}

void fault_handler(void)
{
    uint32_t exception = SCB_ICSR & 0x1FFu;
    fw_fault(exception);
    for (;;) {
        __asm volatile("wfi");
    }
}

typedef void (*vector_t)(void);

/* The exception numbers of the core (0-15), then the board's interrupts. The
 * range designators give every slot the fault handler; the later ones then
 * override single slots on purpose, which -Wextra would otherwise flag. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverride-init"
__attribute__((section(".isr_vector"), used)) const vector_t g_vectors[16 + BOARD_NUM_IRQS] = {
    [0] = (vector_t)(uintptr_t)&__stack_end,
    [1] = Reset_Handler,
    [2 ... 15] = fault_handler,
    [16 ... 16 + BOARD_NUM_IRQS - 1] = fault_handler,
    [16 + BOARD_UART_RX_IRQN] = board_uart_rx_isr,
    [16 + BOARD_COUNTER_IRQN] = board_counter_isr,
};
#pragma GCC diagnostic pop
