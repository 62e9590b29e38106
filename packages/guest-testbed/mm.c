/* mm.c: physical frames, the kernel's page tables and process address spaces.
 *
 * Frames: a bump allocator over the memory map's RAM regions above the image (and below 4 GiB,
 * the identity-mapped range), plus a free list threaded through freed frames.
 * Kernel half: PML4 slot 0 identity-maps the first 4 GiB with 2 MiB pages, supervisor-only
 * (direct paging: only the RAM regions, read-write, and the page-table pool, read-only; 4 KiB
 * pages where a region does not cover a whole 2 MiB page).
 * Process: its own PML4 whose slot 0 points at the kernel's PDPT (shared kernel half); slot 1
 * holds the user half: the image (read-only, shared frames), the heap area (SYS_MAP pages,
 * backed on the first touch by the page-fault handler), the stack.
 * Every page table comes from mmu_ops->alloc_table and every page-table store goes through
 * mmu_ops->set_pte, so a PV MMU (tables in the read-only pool, hypercalls) can take over; tables
 * are read directly. */
#include "kernel.h"

#include "fmt.h"
#include "io.h"
#include "start_info.h"
#include "uart.h"

#define PTE_P 0x1ull
#define PTE_W 0x2ull
#define PTE_U 0x4ull
#define PTE_PS 0x80ull
#define PTE_ADDR 0x000ffffffffff000ull
#define PF_PRESENT 0x1u
#define PF_USER 0x4u

#define IDENTITY_LIMIT (4ull << 30)
#define USER_PML4_SLOT 1

#define LARGE_PAGE (2ull << 20)

static uint64_t kpml4 HOT_DATA; /* the kernel's PML4 (phys) */

extern char __image_end[], __user_phys[];
extern char __user_start[], __user_end[];
/* 64-bit data words: the small code model cannot put these (above 4 GiB) in an immediate. */
uint64_t user_image_va HOT_DATA = (uint64_t)__user_start;
uint64_t user_image_end_va HOT_DATA = (uint64_t)__user_end;

struct mm_stats mm_stats HOT_DATA;

/* ------------------------------------------------------------------ frames */

static struct {
	uint64_t next, end;
} regions[MAX_RAM_REGIONS] HOT_DATA;
static unsigned nregions HOT_DATA, cur_region HOT_DATA;
static uint64_t free_list HOT_DATA; /* physical address of the first free frame, 0 = empty */

HOT_TEXT static uint64_t frame_alloc(void)
{
	uint64_t f = free_list;
	if (f) {
		free_list = *(uint64_t *)f;
	} else {
		while (cur_region < nregions && regions[cur_region].next >= regions[cur_region].end)
			cur_region++;
		if (cur_region == nregions)
			panic("out of physical memory");
		f = regions[cur_region].next;
		regions[cur_region].next += PAGE_SIZE;
	}
	mm_stats.frames_free--;
	return f;
}

HOT_TEXT void frame_free(uint64_t f)
{
	*(uint64_t *)f = free_list;
	free_list = f;
	mm_stats.frames_free++;
}

HOT_TEXT uint64_t frame_alloc_zeroed(void)
{
	uint64_t f = frame_alloc();
	/* One `rep stosq`: a single instruction for kvm_pvm's ring-0 emulation to run. */
	void *d = (void *)f;
	uint64_t n = PAGE_SIZE / 8;
	__asm__ volatile("rep stosq" : "+D"(d), "+c"(n) : "a"(0ull) : "memory");
	return f;
}

/* ------------------------------------------------------------------ native MMU */

HOT_TEXT static void native_set_pte(uint64_t *ptep, uint64_t val)
{
	*(volatile uint64_t *)ptep = val;
}

HOT_TEXT static void native_flush_page(uint64_t va)
{
	invlpg(va);
}

HOT_TEXT static void native_switch_as(uint64_t pml4)
{
	write_cr3(pml4);
}

HOT_TEXT static uint64_t native_alloc_table(int level)
{
	(void)level;
	return frame_alloc_zeroed();
}

static void native_free_table(uint64_t phys, int level)
{
	(void)level;
	frame_free(phys);
}

HOT_TEXT static void native_nop(void)
{
}

HOT_TEXT static bool native_flush(void)
{
	return false;
}

HOT_RODATA const struct mmu_ops mmu_native = {
	.name = "native",
	.direct_paging = false,
	.set_pte = native_set_pte,
	.flush_page = native_flush_page,
	.switch_as = native_switch_as,
	.alloc_table = native_alloc_table,
	.free_table = native_free_table,
	.lazy_begin = native_nop,
	.flush = native_flush,
	.lazy_end = native_nop,
};

HOT_TEXT static void set_pte(uint64_t *ptep, uint64_t val)
{
	mm_stats.pte_writes++;
	mmu_ops->set_pte(ptep, val);
}

/* ------------------------------------------------------------------ kernel half */

/* What the kernel half maps, identity: natively the first 4 GiB; with direct paging the RAM
 * regions (the validator refuses leaves outside RAM) and the page-table pool read-only (so the
 * kernel can read its tables, never write them). */
static struct {
	uint64_t base, end, flags;
} kranges[MAX_RAM_REGIONS + 1];
static unsigned nkranges;

static void add_krange(uint64_t base, uint64_t end, uint64_t flags)
{
	base = (base + PAGE_SIZE - 1) & PAGE_MASK;
	end &= PAGE_MASK;
	if (end > IDENTITY_LIMIT)
		end = IDENTITY_LIMIT;
	if (base >= end || nkranges == sizeof(kranges) / sizeof(kranges[0]))
		return;
	kranges[nkranges].base = base;
	kranges[nkranges].end = end;
	kranges[nkranges].flags = flags;
	nkranges++;
}

/* Flags if one range covers [b, b + len) whole; 0 if none does (*partial: one overlaps it). */
static uint64_t krange_flags(uint64_t b, uint64_t len, bool *partial)
{
	*partial = false;
	for (unsigned i = 0; i < nkranges; i++) {
		if (kranges[i].base <= b && b + len <= kranges[i].end)
			return kranges[i].flags;
		if (kranges[i].base < b + len && b < kranges[i].end)
			*partial = true;
	}
	return 0;
}

static void build_kernel_map(const struct boot_info *boot)
{
	if (mmu_ops->direct_paging) {
		for (unsigned i = 0; i < boot->ram_regions; i++)
			add_krange(boot->ram[i].base, boot->ram[i].base + boot->ram[i].size, PTE_P | PTE_W);
		add_krange(HYV_PT_POOL_BASE, (uint64_t)HYV_PT_POOL_BASE + HYV_PT_POOL_SIZE, PTE_P);
	} else {
		add_krange(0, IDENTITY_LIMIT, PTE_P | PTE_W);
	}

	/* The tables are only written (through set_pte), never read back here: with a lazy PV MMU
	 * the stores are batched into as few MMU_UPDATE calls as fit. */
	uint64_t l4 = mmu_ops->alloc_table(4);
	uint64_t l3 = mmu_ops->alloc_table(3);
	mmu_ops->lazy_begin();
	for (uint64_t gib = 0; gib < IDENTITY_LIMIT >> 30; gib++) {
		uint64_t l2 = 0;
		for (uint64_t j = 0; j < 512; j++) {
			uint64_t b = (gib << 30) + (j << 21);
			bool partial;
			uint64_t flags = krange_flags(b, LARGE_PAGE, &partial);
			if (!flags && !partial)
				continue;
			if (!l2) {
				l2 = mmu_ops->alloc_table(2);
				set_pte(&((uint64_t *)l3)[gib], l2 | PTE_P | PTE_W);
			}
			if (flags) {
				set_pte(&((uint64_t *)l2)[j], b | flags | PTE_PS);
				continue;
			}
			uint64_t l1 = mmu_ops->alloc_table(1);
			set_pte(&((uint64_t *)l2)[j], l1 | PTE_P | PTE_W);
			for (uint64_t k = 0; k < 512; k++) {
				uint64_t pb = b + (k << 12);
				uint64_t pf = krange_flags(pb, PAGE_SIZE, &partial);
				if (pf)
					set_pte(&((uint64_t *)l1)[k], pb | pf);
			}
		}
	}
	set_pte(&((uint64_t *)l4)[0], l3 | PTE_P | PTE_W);
	mmu_ops->lazy_end();
	kpml4 = l4;
	mmu_ops->switch_as(kpml4);
}

void mm_init(const struct boot_info *boot)
{
	uint64_t image_end = ((uint64_t)__image_end + PAGE_SIZE - 1) & PAGE_MASK;

	for (unsigned i = 0; i < boot->ram_regions && nregions < MAX_RAM_REGIONS; i++) {
		uint64_t b = (boot->ram[i].base + PAGE_SIZE - 1) & PAGE_MASK;
		uint64_t e = (boot->ram[i].base + boot->ram[i].size) & PAGE_MASK;
		if (b < image_end)
			b = image_end;
		if (e > IDENTITY_LIMIT)
			e = IDENTITY_LIMIT;
		if (b >= e)
			continue;
		regions[nregions].next = b;
		regions[nregions].end = e;
		mm_stats.frames_free += (e - b) / PAGE_SIZE;
		nregions++;
	}
	if (!mm_stats.frames_free)
		panic("no RAM above the kernel image in the memory map");

	build_kernel_map(boot);
}

/* ------------------------------------------------------------------ process address space */

static struct {
	bool live;
	uint64_t pml4;
	uint64_t heap_next;                    /* next-fit hint, page index */
	uint8_t reserved[USER_HEAP_PAGES / 8]; /* heap pages handed out by SYS_MAP */
} as HOT_DATA;

HOT_TEXT uint64_t user_heap_va(void)
{
	return user_image_va + USER_HEAP_OFF;
}

HOT_TEXT uint64_t user_stack_top(void)
{
	return user_image_va + USER_STACK_OFF;
}

/* Finds the PTE for va in the current process, creating the intermediate tables if asked. A
 * missing entry may be a store still queued in lazy mode: flush, then look again. */
HOT_TEXT static uint64_t *walk(uint64_t va, bool create)
{
	uint64_t *table = (uint64_t *)as.pml4;
	for (int level = 4; level > 1; level--) {
		unsigned idx = (unsigned)(va >> (12 + 9 * (level - 1))) & 511;
		uint64_t e = table[idx];
		if (!(e & PTE_P) && mmu_ops->flush())
			e = table[idx];
		if (!(e & PTE_P)) {
			if (!create)
				return NULL;
			e = mmu_ops->alloc_table(level - 1) | PTE_P | PTE_W | PTE_U;
			set_pte(&table[idx], e);
		}
		table = (uint64_t *)(e & PTE_ADDR);
	}
	return &table[(va >> 12) & 511];
}

/* Frames of the ring-3 image are shared by every process and never freed. */
HOT_TEXT static bool image_frame(uint64_t pa)
{
	return pa >= (uint64_t)__user_phys && pa < (uint64_t)__image_end;
}

HOT_TEXT static void map_page(uint64_t va, uint64_t pa, uint64_t flags)
{
	set_pte(walk(va, true), pa | flags | PTE_P | PTE_U);
}

void as_create(void)
{
	if (as.live)
		panic("as_create: a process is already running");
	as.pml4 = mmu_ops->alloc_table(4);
	as.live = true;
	as.heap_next = 0;
	for (unsigned i = 0; i < sizeof(as.reserved); i++)
		as.reserved[i] = 0;

	mmu_ops->lazy_begin();
	set_pte(&((uint64_t *)as.pml4)[0], ((uint64_t *)kpml4)[0]); /* the shared kernel half */
	uint64_t phys = (uint64_t)__user_phys;
	for (uint64_t va = user_image_va; va < user_image_end_va; va += PAGE_SIZE, phys += PAGE_SIZE)
		map_page(va, phys, 0); /* read-only */
	for (unsigned i = 1; i <= USER_STACK_PAGES; i++)
		map_page(user_stack_top() - i * PAGE_SIZE, frame_alloc_zeroed(), PTE_W);
	mmu_ops->lazy_end();
	mmu_ops->switch_as(as.pml4);
}

/* Frees a table of the user half and everything below it: leaf frames (not the image's), the
 * tables bottom-up, each unhooked from its parent (*entry) before it is freed, as direct paging
 * releases only unreferenced tables. */
static void free_table(uint64_t *entry, uint64_t table, int level)
{
	uint64_t *t = (uint64_t *)table;
	for (unsigned i = 0; i < 512; i++) {
		uint64_t e = t[i];
		if (!(e & PTE_P))
			continue;
		if (level > 1)
			free_table(&t[i], e & PTE_ADDR, level - 1);
		else if (!image_frame(e & PTE_ADDR))
			frame_free(e & PTE_ADDR);
	}
	set_pte(entry, 0);
	mmu_ops->free_table(table, level);
}

void as_destroy(void)
{
	uint64_t *pml4 = (uint64_t *)as.pml4;
	mmu_ops->switch_as(kpml4);
	mmu_ops->lazy_begin();
	for (unsigned i = USER_PML4_SLOT; i < 256; i++) {
		if (pml4[i] & PTE_P)
			free_table(&pml4[i], pml4[i] & PTE_ADDR, 3);
	}
	mmu_ops->lazy_end();
	mmu_ops->free_table(as.pml4, 4);
	as.live = false;
}

bool mm_virt_to_phys(uint64_t va, uint64_t *pa)
{
	if (va < IDENTITY_LIMIT) { /* the kernel's identity map */
		*pa = va;
		return true;
	}
	if (!as.live)
		return false;
	uint64_t *pte = walk(va, false);
	if (!pte || !(*pte & PTE_P))
		return false;
	*pa = (*pte & PTE_ADDR) | (va & (PAGE_SIZE - 1));
	return true;
}

HOT_TEXT static bool reserved(uint64_t page)
{
	return as.reserved[page >> 3] & (1u << (page & 7));
}

HOT_TEXT uint64_t as_map(void)
{
	for (uint64_t n = 0; n < USER_HEAP_PAGES; n++) {
		uint64_t p = (as.heap_next + n) % USER_HEAP_PAGES;
		if (!reserved(p)) {
			as.reserved[p >> 3] |= (uint8_t)(1u << (p & 7));
			as.heap_next = p + 1;
			return user_heap_va() + p * PAGE_SIZE;
		}
	}
	return 0;
}

HOT_TEXT static bool heap_page(uint64_t va, uint64_t *page)
{
	if (va < user_heap_va() || va >= user_heap_va() + USER_HEAP_PAGES * PAGE_SIZE)
		return false;
	*page = (va - user_heap_va()) / PAGE_SIZE;
	return true;
}

HOT_TEXT int as_unmap(uint64_t va)
{
	uint64_t p;
	if ((va & (PAGE_SIZE - 1)) || !heap_page(va, &p) || !reserved(p))
		return -1;
	as.reserved[p >> 3] &= (uint8_t)~(1u << (p & 7));
	uint64_t *pte = walk(va, false);
	if (pte && (*pte & PTE_P)) {
		uint64_t f = *pte & PTE_ADDR;
		set_pte(pte, 0);
		mm_stats.flushes++;
		mmu_ops->flush_page(va);
		frame_free(f);
	}
	return 0;
}

HOT_TEXT bool user_range_ok(uint64_t va, uint64_t len)
{
	uint64_t lo = user_image_va, hi = user_stack_top();
	return as.live && va >= lo && va <= hi && len <= hi - va;
}

/* A not-present fault on a reserved heap page (from ring 3, or from the kernel touching a user
 * buffer) gets a zeroed frame; everything else is the caller's panic. */
HOT_TEXT bool mm_handle_fault(uint64_t cr2, uint64_t error)
{
	uint64_t p;
	if (!as.live || (error & PF_PRESENT) || !heap_page(cr2, &p) || !reserved(p))
		return false;
	map_page(cr2 & PAGE_MASK, frame_alloc_zeroed(), PTE_W);
	mm_stats.faults++;
	return true;
}
