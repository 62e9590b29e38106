/* uart.c: a polled 16550 driver for COM1, initialised the way a real driver does it so that it
 * works on QEMU's and Hyvisor's device models alike. No interrupts: the guest runs with IF=0. */
#include "uart.h"

#include "fmt.h"
#include "hyvisor_abi.h"
#include "io.h"

/* 16550 register offsets from the base port (DLAB-dependent ones noted). */
enum {
	UART_THR = 0, /* transmit holding (write, DLAB=0) */
	UART_RBR = 0, /* receive buffer (read, DLAB=0) */
	UART_DLL = 0, /* divisor latch low (DLAB=1) */
	UART_IER = 1, /* interrupt enable (DLAB=0) */
	UART_DLM = 1, /* divisor latch high (DLAB=1) */
	UART_FCR = 2, /* FIFO control (write) */
	UART_LCR = 3, /* line control */
	UART_MCR = 4, /* modem control */
	UART_LSR = 5, /* line status */
};

enum {
	LCR_8N1 = 0x03,  /* 8 data bits, no parity, 1 stop bit */
	LCR_DLAB = 0x80, /* divisor latch access */
	FCR_ENABLE = 0x01,
	FCR_CLEAR_RX = 0x02,
	FCR_CLEAR_TX = 0x04,
	MCR_DTR = 0x01,
	MCR_RTS = 0x02,
	MCR_OUT2 = 0x08,
	LSR_DR = 0x01,   /* a received byte is waiting in RBR */
	LSR_THRE = 0x20, /* THR can take a byte */
};

/* 115200 baud = 1.8432 MHz / 16 / divisor, with divisor 1. */
#define UART_DIVISOR 1u

/* Bounded wait for THRE: a missing or wedged UART must not hang the guest forever. Each poll is
 * a VM exit (~10 us on kvm_pvm), so this gives up after about a second there. */
#define THRE_POLLS 100000u

static inline void reg_write(unsigned reg, uint8_t value)
{
	outb((uint16_t)(HYV_PORTS_COM1 + reg), value);
}

static inline uint8_t reg_read(unsigned reg)
{
	return inb((uint16_t)(HYV_PORTS_COM1 + reg));
}

void uart_init(void)
{
	reg_write(UART_IER, 0); /* polled: no interrupts */
	reg_write(UART_LCR, LCR_DLAB);
	reg_write(UART_DLL, UART_DIVISOR & 0xff);
	reg_write(UART_DLM, (UART_DIVISOR >> 8) & 0xff);
	reg_write(UART_LCR, LCR_8N1); /* also clears DLAB */
	reg_write(UART_FCR, FCR_ENABLE | FCR_CLEAR_RX | FCR_CLEAR_TX);
	reg_write(UART_MCR, MCR_DTR | MCR_RTS | MCR_OUT2);
}

void uart_putc(char c)
{
	for (unsigned i = 0; i < THRE_POLLS && !(reg_read(UART_LSR) & LSR_THRE); i++)
		;
	reg_write(UART_THR, (uint8_t)c); /* plain "\n": the host prints bytes as they come */
}

void uart_write(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		uart_putc(s[i]);
}

void uart_puts(const char *s)
{
	uart_write(s, str_len(s));
}

uint8_t uart_getc(void)
{
	while (!(reg_read(UART_LSR) & LSR_DR))
		;
	return reg_read(UART_RBR);
}
