/* kernel.h: what the testbed kernel's parts share: the host it detected, the facet tables (the
 * pv_ops of this kernel), the memory manager, traps and system calls. */
#ifndef GUEST_KERNEL_H
#define GUEST_KERNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hyvisor_abi.h"
#include "segments.h"

/* On kvm_pvm ring-0 code is emulated: ~0.33 us per instruction plus ~6 us for every distinct page
 * (code or data) an entry from ring 3 touches (measured: a syscall touching 4 more data pages
 * costs 24 us more). The paths a workload takes per operation (system-call gate, dispatch,
 * map/unmap, page fault, interrupt + EOI) keep their code in .text.hot and their data in
 * .data.hot, placed first in their output sections by testbed.ld. */
#define HOT_TEXT __attribute__((section(".text.hot")))
#define HOT_DATA __attribute__((section(".data.hot")))
#define HOT_RODATA __attribute__((section(".data.hot.ro")))
/* The PV facets' per-operation paths: right after the native ones (testbed.ld), so the native
 * paths keep their single pages. */
#define PV_HOT_TEXT __attribute__((section(".text.hot.pv")))
#define PV_HOT_DATA __attribute__((section(".data.hot.pv")))
#define PV_HOT_RODATA __attribute__((section(".data.hot.pv.ro")))

#define PAGE_SIZE 4096ull
#define PAGE_MASK (~(PAGE_SIZE - 1))

/* ---------------------------------------------------------------- host detection (facets.c) */

struct host {
	bool hyvisor;        /* CPUID 0x40000000 carries "HyvisorVMM" */
	uint32_t features;   /* FeatureBits (leaf 0x40000001 eax) */
	uint32_t hint;       /* HostHint (leaf 0x40000001 ebx) */
	uint32_t abi;        /* ABI version (leaf 0x40000001 ecx) */
	uint32_t leaf_tsc_khz; /* leaf 0x40000002 eax, 0 if absent or unknown */
};
extern struct host host;

/* ---------------------------------------------------------------- facet tables
 * One table per facet, filled once at boot (facets_select) like Linux's pv_ops: the native
 * implementation, or the PV one when the facet's FeatureBits bit is set (pv.c, evtchn.c,
 * pvclock.c, mmu_pv.c, blk_pv.c). The tables combine freely per facet. */

/* Interrupt lines, as the irq facet and set_irq_handler number them: 0-15 are the ISA lines
 * (PIC inputs; with event channels, PIRQs), the others exist only with event channels. */
#define IRQ_LINE_TIMER 16   /* VIRQ_TIMER: the PV one-shot timer (time facet pvclock) */
#define IRQ_LINE_BLK 17     /* the PV block ring's completion port (io facet pv-blk) */
#define IRQ_LINES 18

/* How system calls enter the kernel, and how the kernel enters ring 3. */
enum syscall_gate { GATE_SYSCALL = 0, GATE_INT3 = 1 };

struct kctx; /* saved kernel context while a process runs */

struct cpu_ops {
	const char *name;
	enum syscall_gate gate;            /* which instruction ring-3 code uses */
	void (*init_gate)(void);           /* install the system-call entry (MSRs or IDT gate) */
	void (*load_kernel_stack)(uint64_t rsp0); /* stack for entries from ring 3 (TSS.RSP0) */
	/* Runs ring-3 code at rip/rsp with three arguments until it calls exit; returns the status. */
	uint64_t (*enter_user)(struct kctx *ctx, uint64_t rip, uint64_t rsp, uint64_t a0, uint64_t a1, uint64_t a2);
};

/* Page tables. Every store into a page-table entry goes through set_pte, every page table is
 * allocated and freed here, every TLB flush and address-space switch goes through here: what a
 * PV MMU (tables in a read-only pool, validated and batched updates) needs to intercept. Tables
 * are read directly (the PV pool is mapped read-only); they are only written through set_pte.
 * Between lazy_begin and lazy_end set_pte may be deferred (Linux's lazy MMU mode): a table entry
 * written there reads back its old value until flush (which returns true if it applied any). */
struct mmu_ops {
	const char *name;
	bool direct_paging;                            /* map only RAM (+ the pool read-only) */
	void (*set_pte)(uint64_t *ptep, uint64_t val); /* any level */
	void (*flush_page)(uint64_t va);               /* one TLB entry (invlpg) */
	void (*switch_as)(uint64_t pml4_phys);         /* load an address space (CR3) */
	uint64_t (*alloc_table)(int level);            /* a zeroed page table of this level (phys) */
	void (*free_table)(uint64_t phys, int level);  /* unreferenced (entries pointing to it cleared) */
	void (*lazy_begin)(void);
	bool (*flush)(void);
	void (*lazy_end)(void);
};

/* Interrupt delivery: the controller (PIC today; event channels for PV). Lines are ISA IRQs. */
struct irq_ops {
	const char *name;
	bool (*init)(void);            /* program the controller, all lines masked; false if absent */
	void (*unmask)(unsigned irq);
	void (*mask)(unsigned irq);
	void (*eoi)(unsigned irq);     /* end of interrupt, after the handler ran */
	void (*wait)(void);            /* enable interrupts, wait for one, disable again */
};

/* Time: a clock (ns since boot) and a tick source. */
struct time_ops {
	const char *name;
	const char *tick_name;                  /* what ticks, for the time workload's announcement */
	bool ticks_are_time;                    /* the guest's time is ticks x period (PIT), else now_ns */
	uint64_t tsc_khz;                       /* the TSC's rate (rdtsc, tsc_to_ns) */
	const char *tsc_source;                 /* "cpuid", "pit", "pvclock" or "assumed" */
	void (*init)(void);                     /* calibrate, find tsc_khz */
	uint64_t (*now_ns)(void);
	/* Calls tick(line) hz times a second (installs the handler, unmasks the line); false if the
	 * tick source cannot be programmed. */
	bool (*start_periodic)(unsigned hz, void (*tick)(unsigned line));
	void (*stop)(void);                     /* masks the line, removes the handler */
};

/* Block I/O on the first disk. Buffers are kernel-accessible virtual addresses (user pages of
 * the running process included). */
struct io_ops {
	const char *name;
	bool (*init)(uint64_t *sectors);   /* probe; false (with a reason) if no disk; 0 = size unknown */
	bool (*write)(uint32_t lba, uint32_t count, const void *buf);
	bool (*read)(uint32_t lba, uint32_t count, void *buf);
	const char *(*last_error)(void);   /* why the last call failed, NULL if none did */
};

extern const struct cpu_ops *cpu_ops;
extern const struct mmu_ops *mmu_ops;
extern const struct irq_ops *irq_ops;
extern struct time_ops *time_ops;
extern const struct io_ops *io_ops;

void host_detect(void);
void facets_select(void);
const char *host_name(void);

/* Native implementations (pic.c, pit.c, ata.c, cpu.c, mm.c). */
extern const struct cpu_ops cpu_native_syscall, cpu_native_int3;
extern const struct mmu_ops mmu_native;
extern const struct irq_ops irq_pic;
extern struct time_ops time_pit;
extern const struct io_ops io_ata;
/* Native block I/O over virtio-blk on PCI (blk_virtio.c), chosen when bus 0 has one. */
extern const struct io_ops io_virtio;
bool virtio_blk_present(void);

/* PV implementations (cpu.c + isr.S, mmu_pv.c, evtchn.c, pvclock.c, blk_pv.c). */
extern const struct cpu_ops cpu_pv_int3, cpu_pv_syscall;
extern const struct mmu_ops mmu_pv;
extern const struct irq_ops irq_evtchn;
extern struct time_ops time_pvclock;
extern const struct io_ops io_pvblk;

/* ---------------------------------------------------------------- CPU (cpu.c) */

struct trap_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss;
};

struct kctx {
	uint64_t rbx, rbp, r12, r13, r14, r15, rsp;
};
_Static_assert(__builtin_offsetof(struct kctx, rsp) == KCTX_RSP, "kctx layout");

void cpu_init(void);  /* GDT, TSS, IDT with the exception and IRQ stubs */
void set_irq_handler(unsigned irq, void (*fn)(unsigned irq)); /* line < IRQ_LINES */
void irq_call_handler(unsigned line);                         /* runs the line's handler, no EOI */
void set_interrupt_gate(unsigned vector, uint64_t handler);  /* DPL 0 interrupt gate */
__attribute__((noreturn)) void panic(const char *msg);
__attribute__((noreturn)) void debug_exit(uint32_t code);

/* Assembly (isr.S). */
uint64_t enter_user(struct kctx *ctx, uint64_t rip, uint64_t rsp, uint64_t a0, uint64_t a1, uint64_t a2);
uint64_t pv_enter_user(struct kctx *ctx, uint64_t rip, uint64_t rsp, uint64_t a0, uint64_t a1, uint64_t a2);
__attribute__((noreturn)) void leave_user(struct kctx *ctx, uint64_t status);

/* ---------------------------------------------------------------- system calls */
enum {
	SYS_NULL = 0,   /* () -> 0 */
	SYS_WRITE = 1,  /* (buf, len) -> len: to the console */
	SYS_MAP = 2,    /* () -> va of a fresh page in the heap area, backed lazily; 0 if full */
	SYS_UNMAP = 3,  /* (va) -> 0, or -1 if va was not mapped */
	SYS_EXIT = 4,   /* (status): back to the kernel */
	SYS_MARK = 5,   /* (1 | 2): start / end of the measured loop (BENCH marker, timestamps) */
	SYS_BLK_WRITE = 6, /* (lba, count, buf) -> 0 or -1 */
	SYS_BLK_READ = 7,  /* (lba, count, buf) -> 0 or -1 */
};

/* ---------------------------------------------------------------- memory (mm.c) */

/* The user half: PML4 slot 1 (512 GiB..1 TiB); slot 0 is the kernel's identity map. */
extern uint64_t user_image_va, user_image_end_va; /* .user, linked there */
#define USER_HEAP_OFF   0x40000000ull   /* heap area (SYS_MAP) = image + 1 GiB */
#define USER_HEAP_PAGES 16384u          /* 64 MiB of address space */
#define USER_STACK_OFF  0x80000000ull   /* stack top = image + 2 GiB */
#define USER_STACK_PAGES 4u

struct mm_stats {
	uint64_t frames_free;  /* frames the allocator can still hand out */
	uint64_t pool_used;    /* PV: page-table pool pages declared as tables */
	uint64_t faults;       /* demand faults served */
	uint64_t pte_writes;   /* set_pte calls */
	uint64_t flushes;      /* flush_page calls */
};
extern struct mm_stats mm_stats;

struct boot_info;
/* Frame allocator over the RAM regions above the image; kernel page tables; CR3 switch. */
void mm_init(const struct boot_info *boot);
uint64_t user_heap_va(void);
uint64_t user_stack_top(void);
/* Creates a process address space (kernel half shared, image and stack mapped) and switches to
 * it; as_destroy switches back to the kernel's and frees everything. */
void as_create(void);
void as_destroy(void);
uint64_t as_map(void);                 /* SYS_MAP */
int as_unmap(uint64_t va);             /* SYS_UNMAP */
bool user_range_ok(uint64_t va, uint64_t len);
bool mm_handle_fault(uint64_t cr2, uint64_t error);
/* Guest-physical address of a kernel (identity-mapped) or current-process address; false if
 * it is not mapped. For the PV rings' descriptors. */
bool mm_virt_to_phys(uint64_t va, uint64_t *pa);
/* Frames for the native page tables (mmu_native). */
uint64_t frame_alloc_zeroed(void);
void frame_free(uint64_t f);


/* ---------------------------------------------------------------- workloads (workloads.c) */
bool workloads_parse(const char *cmdline);  /* prints the reason and returns false if bad */
bool workloads_run(void);                   /* true if every check passed */
uint64_t syscall_dispatch(uint64_t nr, uint64_t a0, uint64_t a1, uint64_t a2);

/* TSC ticks to ns at time_ops->tsc_khz (no 128-bit division: no libgcc). */
uint64_t tsc_to_ns(uint64_t ticks);

#endif /* GUEST_KERNEL_H */
