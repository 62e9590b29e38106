/* fmt.c: string and number formatting (no libc in a freestanding guest). Plain loops: no SSE,
 * which kvm_pvm cannot run at ring 0 (the build passes -mgeneral-regs-only). */
#include "fmt.h"

#include "uart.h"

size_t str_len(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

size_t str_nlen(const char *s, size_t max)
{
	size_t n = 0;
	while (n < max && s[n])
		n++;
	return n;
}

bool str_eq(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return *a == *b;
}

const char *str_after(const char *s, const char *prefix)
{
	while (*prefix) {
		if (*s++ != *prefix++)
			return NULL;
	}
	return s;
}

char *fmt_u64(char *buf, uint64_t v, unsigned base)
{
	static const char digits[] = "0123456789abcdef";
	char tmp[FMT_U64_MAX];
	size_t n = 0;

	if (base < 2 || base > 16)
		base = 10;
	do {
		tmp[n++] = digits[v % base];
		v /= base;
	} while (v);
	for (size_t i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	buf[n] = '\0';
	return buf;
}

static int digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return 99;
}

bool parse_u64(const char *s, uint64_t *out)
{
	unsigned base = 10;
	uint64_t v = 0;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	if (!*s)
		return false;
	for (; *s; s++) {
		int d = digit_value(*s);
		if (d >= (int)base)
			return false;
		if (v > (UINT64_MAX - (uint64_t)d) / base)
			return false; /* overflow */
		v = v * base + (uint64_t)d;
	}
	*out = v;
	return true;
}

void put_u64(uint64_t v)
{
	char buf[FMT_U64_MAX];
	uart_puts(fmt_u64(buf, v, 10));
}

void put_hex(uint64_t v)
{
	char buf[FMT_U64_MAX];
	uart_puts("0x");
	uart_puts(fmt_u64(buf, v, 16));
}
