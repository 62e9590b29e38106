/* main.c: the first Hyvisor guest. Greets over COM1 with the RAM size and command line taken
 * from the PVH start info, then runs what the command line asks for (see README.md). */
#include <stdbool.h>
#include <stdint.h>

#include "fmt.h"
#include "hyvisor_abi.h"
#include "io.h"
#include "start_info.h"
#include "uart.h"

/* Exit codes written to the debug-exit port on failure. */
enum { EXIT_BAD_ARGUMENT = 2, EXIT_BAD_START_INFO = 3 };

/* Values written to HYV_PORTS_BENCH + 1 around a benchmark loop. */
enum { BENCH_MARK_START = 1, BENCH_MARK_END = 2 };

enum action_kind { ACT_EXITS, ACT_SPIN, ACT_ECHO };

struct action {
	enum action_kind kind;
	uint64_t count; /* ACT_EXITS */
};

/* One action per word at most; words are separated by at least one blank, so this bounds them. */
#define MAX_ACTIONS (HYV_BOOT_LAYOUT_CMDLINE_MAX / 2)

/* In .bss, not on the 16 KiB stack. */
static struct boot_info boot;
static char words[HYV_BOOT_LAYOUT_CMDLINE_MAX];
static struct action actions[MAX_ACTIONS];

/* Ends the run with `code` through the isa-debug-exit-compatible port. A VMM without that port
 * ignores the write, so fall back to halting. */
static __attribute__((noreturn)) void debug_exit(uint32_t code)
{
	outl(HYV_PORTS_DEBUG_EXIT, code);
	halt_forever();
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* One userspace exit per iteration and nothing else: `out %al,(%dx)` in a three-instruction
 * loop. The markers let the VMM time exactly this loop. */
static void bench_exits(uint64_t n)
{
	outb(HYV_PORTS_BENCH + 1, BENCH_MARK_START);
	for (uint64_t i = 0; i < n; i++)
		outb(HYV_PORTS_BENCH, 0);
	outb(HYV_PORTS_BENCH + 1, BENCH_MARK_END);
}

/* Burns CPU without a single exit: the barrier keeps the compiler from proving the loop empty. */
static __attribute__((noreturn)) void spin(void)
{
	for (;;)
		__asm__ volatile("" : : : "memory");
}

/* Echoes UART input until EOT (not echoed) or a newline (echoed). */
static void echo(void)
{
	for (;;) {
		uint8_t c = uart_getc();
		if (c == 0x04)
			return;
		uart_putc((char)c);
		if (c == '\n')
			return;
	}
}

static __attribute__((noreturn)) void bad_argument(const char *what, const char *word)
{
	uart_puts(what);
	uart_puts(": ");
	uart_puts(word);
	uart_putc('\n');
	debug_exit(EXIT_BAD_ARGUMENT);
}

/* Splits the command line into words and checks all of them before anything runs, so a typo at
 * the end does not cost a whole benchmark first. Returns the number of actions; `exit=N` sets
 * *exit_code (the last one wins). */
static unsigned parse_cmdline(const char *cmdline, bool *has_exit_code, uint32_t *exit_code)
{
	unsigned n = 0;
	size_t len = str_len(cmdline);

	for (size_t i = 0; i < len; i++)
		words[i] = is_blank(cmdline[i]) ? '\0' : cmdline[i];
	words[len] = '\0';

	for (size_t i = 0; i < len;) {
		const char *word = &words[i];
		const char *value;
		uint64_t v;

		if (!*word) {
			i++;
			continue;
		}
		i += str_len(word) + 1;

		if (str_eq(word, "spin")) {
			actions[n++] = (struct action){ .kind = ACT_SPIN };
		} else if (str_eq(word, "echo")) {
			actions[n++] = (struct action){ .kind = ACT_ECHO };
		} else if ((value = str_after(word, "exits=")) != NULL) {
			if (!parse_u64(value, &v))
				bad_argument("invalid number in argument", word);
			actions[n++] = (struct action){ .kind = ACT_EXITS, .count = v };
		} else if ((value = str_after(word, "exit=")) != NULL) {
			if (!parse_u64(value, &v) || v > UINT32_MAX)
				bad_argument("invalid number in argument", word);
			*has_exit_code = true;
			*exit_code = (uint32_t)v;
		} else {
			bad_argument("unknown argument", word);
		}
	}
	return n;
}

void main(const struct hvm_start_info *si)
{
	bool has_exit_code = false;
	uint32_t exit_code = 0;

	uart_init();

	if (!start_info_parse(si, &boot)) {
		uart_puts("error: no PVH start info at ");
		put_hex((uintptr_t)si);
		uart_puts(" (magic ");
		put_hex(si && (uintptr_t)si < (4ull << 30) ? si->magic : 0);
		uart_puts(", expected ");
		put_hex(HYV_START_INFO_MAGIC);
		uart_puts(")\n");
		debug_exit(EXIT_BAD_START_INFO);
	}

	uart_puts("Hello from the Hyvisor guest! RAM: ");
	put_u64(boot.ram_bytes >> 20);
	uart_puts(" MiB, cmdline: \"");
	uart_write(boot.cmdline, boot.cmdline_len);
	uart_puts("\"\n");

	unsigned n = parse_cmdline(boot.cmdline, &has_exit_code, &exit_code);
	for (unsigned i = 0; i < n; i++) {
		switch (actions[i].kind) {
		case ACT_EXITS:
			bench_exits(actions[i].count);
			break;
		case ACT_SPIN:
			spin();
		case ACT_ECHO:
			echo();
			break;
		}
	}

	if (has_exit_code)
		debug_exit(exit_code);
	halt_forever();
}
