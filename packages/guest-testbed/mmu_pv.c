/* mmu_pv.c: the PV mmu facet: direct paging (docs/pv-abi.md, "Direct paging"). Page tables live
 * only in the page-table pool (PtPool), which the guest can read but not write: a pool page
 * becomes a table with MMUEXT_OP(DECLARE_TABLE) (the VMM zeroes it) and goes back with
 * RELEASE_TABLE; every entry is written by MMU_UPDATE ({ptr, val} requests in RAM, validated,
 * all or nothing); an L4 is pinned (PIN_L4, validating everything it reaches) and announced with
 * NEW_BASEPTR, which loads it into CR3 (as on Xen: CR3 is the VMM's). The kernel starts on tables
 * the VMM built in the pool (validated and pinned): they are adopted (their pool pages marked in
 * use) and released once the kernel's own map is loaded. Single updates (a page fault, an unmap)
 * are one MMU_UPDATE each; in lazy mode (building the kernel map or an address space, tearing one
 * down) updates queue up to MMU_UPDATE_MAX per call. TLB flushes stay invlpg. Accessed/dirty bits
 * are never used (kvm_pvm does not set them in a read-only slot). */
#include "pv.h"

#include "fmt.h"
#include "io.h"
#include "uart.h"

#define POOL_PAGES (HYV_PT_POOL_SIZE / PAGE_SIZE)
#define POOL_PINNED 0x80u

struct mmu_req {
	uint64_t ptr, val;
};

/* Requests are read by the VMM from guest RAM: .data/.bss, identity-mapped, so gpa = va. */
static struct mmu_req one_req PV_HOT_DATA __attribute__((aligned(16)));
static struct mmu_req batch[HYV_HYPERCALL_MMU_UPDATE_MAX] __attribute__((aligned(4096)));
static unsigned nbatch PV_HOT_DATA;
static bool lazy PV_HOT_DATA;

static uint8_t pool_state[POOL_PAGES]; /* 0 free, else level | POOL_PINNED */
static unsigned pool_next;   /* pool pages below it have been used at least once */
static bool pool_reusing;

/* The VMM's boot tables, top-down (L4 first, each table before those it references), so they
 * can be released in this order once the kernel runs on its own: releasing a table drops its
 * references to the ones below. */
#define BOOT_TABLES_MAX 16
static uint64_t boot_tables[BOOT_TABLES_MAX];
static unsigned boot_count;
static bool boot_adopted;

static __attribute__((noreturn)) void mmuext_fail(long rc, const char *what, uint64_t cmd, uint64_t gpa, uint64_t arg)
{
	pv_fail(HYV_HYPERCALL_MMUEXT_OP, what, rc, 3, cmd, gpa, arg, HYV_GUEST_EXIT_CODE_PANIC);
}

static void mmuext(uint64_t cmd, uint64_t gpa, uint64_t arg, const char *what)
{
	long rc = hypercall3(HYV_HYPERCALL_MMUEXT_OP, cmd, gpa, arg);
	if (rc != 0)
		mmuext_fail(rc, what, cmd, gpa, arg);
}

PV_HOT_TEXT static bool in_pool(uint64_t pa)
{
	return pa >= HYV_PT_POOL_BASE && pa < (uint64_t)HYV_PT_POOL_BASE + HYV_PT_POOL_SIZE;
}

/* Applies reqs[0..n): the result must be n (all applied). */
PV_HOT_TEXT static void mmu_update(struct mmu_req *reqs, unsigned n)
{
	long rc = hypercall2(HYV_HYPERCALL_MMU_UPDATE, (uint64_t)reqs, n);
	if (rc != (long)n) {
		uart_puts("testbed: MMU_UPDATE batch: first request ptr=");
		put_hex(reqs[0].ptr);
		uart_puts(" val=");
		put_hex(reqs[0].val);
		if (n > 1) {
			uart_puts(", last ptr=");
			put_hex(reqs[n - 1].ptr);
			uart_puts(" val=");
			put_hex(reqs[n - 1].val);
		}
		uart_putc('\n');
		pv_fail(HYV_HYPERCALL_MMU_UPDATE, NULL, rc, 2, (uint64_t)reqs, n, 0,
			HYV_GUEST_EXIT_CODE_PANIC);
	}
}

PV_HOT_TEXT static bool pv_flush(void)
{
	if (!nbatch)
		return false;
	unsigned n = nbatch;
	nbatch = 0;
	mmu_update(batch, n);
	return true;
}

PV_HOT_TEXT static void pv_set_pte(uint64_t *ptep, uint64_t val)
{
	uint64_t ptr = (uint64_t)ptep; /* tables are identity-mapped: gpa = va */
	if (!in_pool(ptr))
		panic("mmu pv: set_pte on an entry outside the page-table pool");
	if (lazy) {
		batch[nbatch].ptr = ptr;
		batch[nbatch].val = val;
		if (++nbatch == HYV_HYPERCALL_MMU_UPDATE_MAX)
			pv_flush();
		return;
	}
	one_req.ptr = ptr;
	one_req.val = val;
	mmu_update(&one_req, 1);
}

PV_HOT_TEXT static void pv_flush_page(uint64_t va)
{
	invlpg(va);
}

static unsigned pool_index(uint64_t pa)
{
	if (!in_pool(pa) || (pa & (PAGE_SIZE - 1)))
		panic("mmu pv: not a page of the page-table pool");
	return (unsigned)((pa - HYV_PT_POOL_BASE) / PAGE_SIZE);
}

static void adopt_table(uint64_t pa, int level)
{
	if (!in_pool(pa) || boot_count == BOOT_TABLES_MAX)
		panic("mmu pv: the VMM's boot tables are not what the PV ABI says");
	unsigned i = pool_index(pa);
	pool_state[i] = (uint8_t)level;
	boot_tables[boot_count++] = pa;
	if (level == 1)
		return;
	const uint64_t *t = (const uint64_t *)pa; /* the pool is mapped read-only: readable */
	for (unsigned e = 0; e < 512; e++) {
		uint64_t v = t[e];
		if ((v & 1) && !(level == 2 && (v & 0x80)))
			adopt_table(v & 0x000ffffffffff000ull, level - 1);
	}
}

/* Marks the pool pages of the tables the VMM started us on (CR3's tree) as in use. */
static void adopt_boot_tables(void)
{
	boot_adopted = true;
	uint64_t l4 = read_cr3() & 0x000ffffffffff000ull;
	adopt_table(l4, 4);
	pool_state[pool_index(l4)] |= POOL_PINNED;
}

/* Gives the boot tables back: unpin the L4 (no longer in CR3), then release top-down. */
static void release_boot_tables(void)
{
	mmuext(HYV_MMU_EXT_UNPIN_L4, boot_tables[0], 0, "UNPIN_L4");
	for (unsigned k = 0; k < boot_count; k++) {
		mmuext(HYV_MMU_EXT_RELEASE_TABLE, boot_tables[k], 0, "RELEASE_TABLE");
		pool_state[pool_index(boot_tables[k])] = 0;
	}
	boot_count = 0;
}

/* Pins the L4 the first time it is loaded; NEW_BASEPTR loads it into CR3. */
static void pv_switch_as(uint64_t pml4)
{
	unsigned i = pool_index(pml4);
	pv_flush();
	if ((pool_state[i] & 0x7f) != 4)
		panic("mmu pv: switch to a page that is not a declared L4");
	if (!(pool_state[i] & POOL_PINNED)) {
		mmuext(HYV_MMU_EXT_PIN_L4, pml4, 0, "PIN_L4");
		pool_state[i] |= POOL_PINNED;
	}
	mmuext(HYV_MMU_EXT_NEW_BASEPTR, pml4, 0, "NEW_BASEPTR");
	if (boot_count && pml4 != boot_tables[0])
		release_boot_tables();
}

/* Never-used pool pages first, then released ones. On kvm_pvm the host's shadow page tables do
 * not see the VMM's writes to the pool (it writes through its own mapping, not a trapped guest
 * write), so a released table re-declared for another purpose can still be shadowed with its old
 * contents: fresh pages avoid that for the first POOL_PAGES tables (about a hundred processes). */
static uint64_t pv_alloc_table(int level)
{
	if (!boot_adopted)
		adopt_boot_tables();
	while (pool_next < POOL_PAGES && pool_state[pool_next])
		pool_next++; /* the boot tables, while adopted */
	unsigned i = pool_next;
	if (i < POOL_PAGES) {
		pool_next++;
	} else {
		if (!pool_reusing) {
			uart_puts("testbed: mmu pv: every page-table pool page has been used; reusing released ones\n");
			pool_reusing = true;
		}
		for (i = 0; i < POOL_PAGES && pool_state[i]; i++)
			;
		if (i == POOL_PAGES)
			panic("mmu pv: the page-table pool is full");
	}
	uint64_t pa = HYV_PT_POOL_BASE + (uint64_t)i * PAGE_SIZE;
	mmuext(HYV_MMU_EXT_DECLARE_TABLE, pa, (uint64_t)level, "DECLARE_TABLE"); /* zeroes it */
	pool_state[i] = (uint8_t)level;
	mm_stats.pool_used++;
	return pa;
}

/* The entry that referenced the table was cleared by the caller (maybe still queued). */
static void pv_free_table(uint64_t pa, int level)
{
	unsigned i = pool_index(pa);
	if ((pool_state[i] & 0x7f) != (unsigned)level)
		panic("mmu pv: freeing a pool page that is not a table of that level");
	pv_flush();
	if (pool_state[i] & POOL_PINNED) {
		mmuext(HYV_MMU_EXT_UNPIN_L4, pa, 0, "UNPIN_L4");
		pool_state[i] &= (uint8_t)~POOL_PINNED;
	}
	mmuext(HYV_MMU_EXT_RELEASE_TABLE, pa, 0, "RELEASE_TABLE");
	pool_state[i] = 0;
	mm_stats.pool_used--;
}

static void pv_lazy_begin(void)
{
	lazy = true;
}

static void pv_lazy_end(void)
{
	pv_flush();
	lazy = false;
}

PV_HOT_RODATA const struct mmu_ops mmu_pv = {
	.name = "pv(direct)",
	.direct_paging = true,
	.set_pte = pv_set_pte,
	.flush_page = pv_flush_page,
	.switch_as = pv_switch_as,
	.alloc_table = pv_alloc_table,
	.free_table = pv_free_table,
	.lazy_begin = pv_lazy_begin,
	.flush = pv_flush,
	.lazy_end = pv_lazy_end,
};
