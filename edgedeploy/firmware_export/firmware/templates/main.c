/*
 * ${banner}
 *
 * main.c - bring the board up, then answer benchmark commands forever.
 */
#include "board.h"
#include "protocol.h"

int main(void)
{
    board_init();
    protocol_start();
    for (;;) {
        protocol_feed((char)board_uart_getc());
    }
}
