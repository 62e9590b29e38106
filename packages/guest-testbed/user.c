/* user.c: the ring-3 programs. Linked into .user at a user virtual address and mapped read-only
 * into every process; compiled position-independent, with no writable data and no calls into the
 * kernel (the Makefile checks). On kvm_pvm this code runs natively while ring 0 is emulated, so
 * the heavy lifting (buffers, CRCs) happens here.
 *
 * System calls: `int3` (gate GATE_INT3, kvm_pvm) or `syscall`, rax = number, rdi/rsi/rdx =
 * arguments; the kernel preserves only the callee-saved registers. */
#include <stdint.h>

#include "kernel.h"
#include "user.h"

static inline uint64_t usys(uint64_t gate, uint64_t nr, uint64_t a0, uint64_t a1, uint64_t a2)
{
	register uint64_t rax __asm__("rax") = nr;
	register uint64_t rdi __asm__("rdi") = a0;
	register uint64_t rsi __asm__("rsi") = a1;
	register uint64_t rdx __asm__("rdx") = a2;
	if (gate == GATE_INT3)
		__asm__ volatile("int3"
				 : "+r"(rax), "+r"(rdi), "+r"(rsi), "+r"(rdx)
				 :
				 : "rcx", "r8", "r9", "r10", "r11", "memory", "cc");
	else
		__asm__ volatile("syscall"
				 : "+r"(rax), "+r"(rdi), "+r"(rsi), "+r"(rdx)
				 :
				 : "rcx", "r8", "r9", "r10", "r11", "memory", "cc");
	return rax;
}

static __attribute__((noreturn)) void uexit(uint64_t gate, uint64_t status)
{
	usys(gate, SYS_EXIT, status, 0, 0);
	for (;;)
		; /* not reached */
}

static void uputs(uint64_t gate, const char *s)
{
	uint64_t n = 0;
	while (s[n])
		n++;
	usys(gate, SYS_WRITE, (uint64_t)s, n, 0);
}

static inline uint64_t xorshift64(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* CRC-32 (IEEE, reflected 0xedb88320), table-driven and bit-by-bit. */
static void crc32_table(uint32_t *t)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
		t[i] = c;
	}
}

static uint32_t crc32_update(const uint32_t *t, uint32_t crc, const uint8_t *p, uint64_t n)
{
	crc = ~crc;
	for (uint64_t i = 0; i < n; i++)
		crc = t[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static uint32_t crc32_bitwise(const uint8_t *p, uint64_t n)
{
	uint32_t crc = ~0u;
	for (uint64_t i = 0; i < n; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1)));
	}
	return ~crc;
}

static void fill(uint64_t *seed, uint64_t *buf, uint64_t words)
{
	for (uint64_t i = 0; i < words; i++)
		buf[i] = xorshift64(seed);
}

#define CPU_BUF_WORDS 512 /* 4 KiB per operation */

/* cpu: N x (fill 4 KiB with xorshift64, CRC-32 it); no system call inside the loop. The result
 * is the CRC chain; the check recomputes the last CRC bit by bit. */
static uint64_t prog_cpu(uint64_t gate, uint64_t n)
{
	uint32_t table[256];
	uint64_t buf[CPU_BUF_WORDS];
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	uint32_t chain = 0, last = 0;

	crc32_table(table);
	usys(gate, SYS_MARK, 1, 0, 0);
	for (uint64_t i = 0; i < n; i++) {
		fill(&seed, buf, CPU_BUF_WORDS);
		last = crc32_update(table, 0, (const uint8_t *)buf, sizeof(buf));
		chain = crc32_update(table, chain, (const uint8_t *)&last, sizeof(last));
	}
	usys(gate, SYS_MARK, 2, 0, 0);
	bool ok = n == 0 || crc32_bitwise((const uint8_t *)buf, sizeof(buf)) == last;
	return chain | (ok ? 0 : USTATUS_FAILED);
}

/* syscall: N null system calls. */
static uint64_t prog_syscall(uint64_t gate, uint64_t n)
{
	uint64_t bad = 0;
	usys(gate, SYS_MARK, 1, 0, 0);
	for (uint64_t i = 0; i < n; i++)
		bad |= usys(gate, SYS_NULL, 0, 0, 0);
	usys(gate, SYS_MARK, 2, 0, 0);
	return bad ? USTATUS_FAILED : 0;
}

/* memory: N x (map a page, touch it -> demand fault, read it back, unmap it). */
static uint64_t prog_memory(uint64_t gate, uint64_t n)
{
	uint64_t bad = 0;
	usys(gate, SYS_MARK, 1, 0, 0);
	for (uint64_t i = 0; i < n; i++) {
		volatile uint64_t *p = (volatile uint64_t *)usys(gate, SYS_MAP, 0, 0, 0);
		if (!p) {
			bad++;
			break;
		}
		bad += p[1] != 0; /* fresh pages are zeroed */
		p[0] = i;         /* (the read above already faulted the page in) */
		bad += p[0] != i;
		bad += usys(gate, SYS_UNMAP, (uint64_t)p, 0, 0) != 0;
	}
	usys(gate, SYS_MARK, 2, 0, 0);
	return bad ? USTATUS_FAILED | (bad & 0xffffffffu) : 0;
}

/* io: fill N sectors with a pattern, write them to the disk, read them back into a second buffer
 * and compare CRC-32s. Buffers come from SYS_MAP (touched before the measured part). */
static uint64_t prog_io(uint64_t gate, uint64_t sectors)
{
	uint32_t table[256];
	uint64_t bytes = sectors * 512;
	uint64_t pages = (bytes + 4095) / 4096;
	uint8_t *wbuf = 0, *rbuf = 0;
	uint64_t seed = 0x2545f4914f6cdd1dull;

	crc32_table(table);
	for (uint64_t i = 0; i < 2 * pages; i++) {
		uint8_t *p = (uint8_t *)usys(gate, SYS_MAP, 0, 0, 0);
		if (i == 0)
			wbuf = p;
		if (!p || p != wbuf + i * 4096) {
			uputs(gate, "testbed: io: heap pages not contiguous\n");
			return USTATUS_FAILED;
		}
		p[0] = 0; /* fault it in now, not inside the measured part */
	}
	rbuf = wbuf + pages * 4096;
	fill(&seed, (uint64_t *)wbuf, bytes / 8);
	for (uint64_t i = 0; i < bytes; i++)
		rbuf[i] = 0;
	uint32_t crc_w = crc32_update(table, 0, wbuf, bytes);

	usys(gate, SYS_MARK, 1, 0, 0);
	uint64_t werr = usys(gate, SYS_BLK_WRITE, 0, sectors, (uint64_t)wbuf);
	uint64_t rerr = usys(gate, SYS_BLK_READ, 0, sectors, (uint64_t)rbuf);
	usys(gate, SYS_MARK, 2, 0, 0);

	uint32_t crc_r = crc32_update(table, 0, rbuf, bytes);
	bool ok = !werr && !rerr && crc_r == crc_w;
	return crc_r | (ok ? 0 : USTATUS_FAILED);
}

void user_main(unsigned long gate, unsigned long program, unsigned long iterations)
{
	uint64_t status;

	uputs(gate, "testbed: ring-3 process started\n");
	switch (program) {
	case UPROG_CPU:
		status = prog_cpu(gate, iterations);
		break;
	case UPROG_SYSCALL:
		status = prog_syscall(gate, iterations);
		break;
	case UPROG_MEMORY:
		status = prog_memory(gate, iterations);
		break;
	case UPROG_IO:
		status = prog_io(gate, iterations);
		break;
	default:
		status = USTATUS_FAILED;
		break;
	}
	uexit(gate, status);
}
