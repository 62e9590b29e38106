/* fmt.h: the few string and number helpers a freestanding guest needs. */
#ifndef GUEST_FMT_H
#define GUEST_FMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest text fmt_u64 writes: 64 binary digits, plus the NUL. */
#define FMT_U64_MAX 65

size_t str_len(const char *s);
/* Length of s, but at most max (for strings whose NUL may be missing). */
size_t str_nlen(const char *s, size_t max);
bool str_eq(const char *a, const char *b);
/* If s starts with prefix, returns the rest of s; else NULL. */
const char *str_after(const char *s, const char *prefix);

/* Writes v in base 2..16 (lower-case digits) to buf (FMT_U64_MAX bytes); returns buf. */
char *fmt_u64(char *buf, uint64_t v, unsigned base);
/* Parses a whole string as an unsigned decimal or 0x-prefixed hex number; false on an empty
 * string, a stray character or overflow. */
bool parse_u64(const char *s, uint64_t *out);

/* Output helpers on top of the UART. */
void put_u64(uint64_t v);
void put_hex(uint64_t v);

#endif /* GUEST_FMT_H */
