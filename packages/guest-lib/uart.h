/* uart.h: polled driver for the 16550 UART at COM1. */
#ifndef GUEST_UART_H
#define GUEST_UART_H

#include <stddef.h>
#include <stdint.h>

void uart_init(void);
void uart_putc(char c);
void uart_write(const char *s, size_t len);
void uart_puts(const char *s);
/* Blocks until a byte arrives (polls LSR.DR). */
uint8_t uart_getc(void);

#endif /* GUEST_UART_H */
