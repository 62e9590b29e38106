/* cpu.c: descriptor tables, traps, interrupts and the two native system-call gates. */
#include "kernel.h"

#include "fmt.h"
#include "io.h"
#include "pv.h"
#include "uart.h"

#define MSR_EFER 0xc0000080u
#define MSR_STAR 0xc0000081u
#define MSR_LSTAR 0xc0000082u
#define MSR_FMASK 0xc0000084u
#define EFER_SCE 0x1u
#define RFLAGS_IF 0x200u
#define RFLAGS_DF 0x400u
#define RFLAGS_TF 0x100u
#define RFLAGS_AC 0x40000u

#define VEC_BP 3
#define VEC_NMI 2
#define VEC_DF 8
#define VEC_PF 14
#define VEC_IRQ_BASE 0x20  /* PIC lines 0-15 are remapped to 0x20-0x2f */

#define IST_DF 1
#define IST_NMI 2

struct tss {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
} __attribute__((packed));
_Static_assert(sizeof(struct tss) == 104, "tss size");

struct desc_ptr {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

struct idt_entry {
	uint16_t off_lo;
	uint16_t sel;
	uint8_t ist;
	uint8_t type_attr;
	uint16_t off_mid;
	uint32_t off_hi;
	uint32_t reserved;
} __attribute__((packed));

static uint64_t gdt[GDT_ENTRIES] HOT_DATA __attribute__((aligned(16)));
static struct tss tss HOT_DATA __attribute__((aligned(16)));
static struct idt_entry idt[256] __attribute__((aligned(16)));

/* Stacks: entries from ring 3 (RSP0, also the syscall-instruction stack), #DF, NMI. */
static uint8_t trap_stack[16384] __attribute__((aligned(16)));
static uint8_t df_stack[4096] __attribute__((aligned(16)));
static uint8_t nmi_stack[4096] __attribute__((aligned(16)));

/* Used by sysgate_syscall (isr.S). */
uint64_t syscall_kernel_rsp HOT_DATA, syscall_user_rsp HOT_DATA;

extern const uint64_t exc_stubs[32], irq_stubs[16];
extern char sysgate_int3[], sysgate_syscall[], sysgate_pv_int3[], sysgate_pv_syscall[];
void gdt_load(const struct desc_ptr *p);

static void (*irq_handlers[IRQ_LINES])(unsigned irq) HOT_DATA;

void debug_exit(uint32_t code)
{
	outl(HYV_PORTS_DEBUG_EXIT, code);
	halt_forever(); /* a VMM without the port ignores the write */
}

void panic(const char *msg)
{
	uart_puts("testbed: PANIC: ");
	uart_puts(msg);
	uart_putc('\n');
	debug_exit(HYV_GUEST_EXIT_CODE_PANIC);
}

static void set_gate(unsigned vec, uint64_t handler, unsigned dpl, unsigned ist)
{
	idt[vec] = (struct idt_entry){
		.off_lo = (uint16_t)handler,
		.sel = KERNEL_CS,
		.ist = (uint8_t)ist,
		.type_attr = (uint8_t)(0x8e | (dpl << 5)), /* present, 64-bit interrupt gate (IF cleared) */
		.off_mid = (uint16_t)(handler >> 16),
		.off_hi = (uint32_t)(handler >> 32),
	};
}

void cpu_init(void)
{
	uint64_t tss_base = (uint64_t)&tss;

	gdt[0] = 0;
	gdt[KERNEL_CS >> 3] = 0x00af9a000000ffffull; /* 64-bit code, DPL 0 */
	gdt[KERNEL_DS >> 3] = 0x00cf92000000ffffull; /* data, DPL 0 */
	gdt[USER_DS >> 3] = 0x00cff2000000ffffull;   /* data, DPL 3 */
	gdt[USER_CS >> 3] = 0x00affa000000ffffull;   /* 64-bit code, DPL 3 */
	gdt[TSS_SEL >> 3] = (sizeof(tss) - 1) | ((tss_base & 0xffffff) << 16) | (0x89ull << 40) |
			    ((tss_base >> 24 & 0xff) << 56);
	gdt[(TSS_SEL >> 3) + 1] = tss_base >> 32;

	/* Without RSP0 every exception from ring 3 would triple-fault. No I/O bitmap (iomap_base past
	 * the limit): ring 3 has no port access; devices are driven from ring 0. */
	tss.rsp[0] = (uint64_t)(trap_stack + sizeof(trap_stack));
	tss.ist[IST_DF - 1] = (uint64_t)(df_stack + sizeof(df_stack));
	tss.ist[IST_NMI - 1] = (uint64_t)(nmi_stack + sizeof(nmi_stack));
	tss.iomap_base = sizeof(tss);
	syscall_kernel_rsp = tss.rsp[0];

	struct desc_ptr gp = { sizeof(gdt) - 1, (uint64_t)gdt };
	gdt_load(&gp);
	__asm__ volatile("ltr %w0" : : "r"(TSS_SEL));

	for (unsigned v = 0; v < 32; v++)
		set_gate(v, exc_stubs[v], 0, v == VEC_DF ? IST_DF : v == VEC_NMI ? IST_NMI : 0);
	for (unsigned i = 0; i < 16; i++)
		set_gate(VEC_IRQ_BASE + i, irq_stubs[i], 0, 0);
	struct desc_ptr ip = { sizeof(idt) - 1, (uint64_t)idt };
	__asm__ volatile("lidt %0" : : "m"(ip));
}

void set_irq_handler(unsigned irq, void (*fn)(unsigned irq))
{
	if (irq >= IRQ_LINES)
		panic("set_irq_handler: no such line");
	irq_handlers[irq] = fn;
}

void set_interrupt_gate(unsigned vector, uint64_t handler)
{
	set_gate(vector & 255, handler, 0, 0);
}

/* Event channels: the line's handler; the acknowledgement was the pending bit. */
HOT_TEXT void irq_call_handler(unsigned line)
{
	void (*fn)(unsigned) = line < IRQ_LINES ? irq_handlers[line] : NULL;
	if (fn)
		fn(line);
}

/* ------------------------------------------------------------------ system-call gates */

static void load_kernel_stack(uint64_t rsp0)
{
	tss.rsp[0] = rsp0;
	syscall_kernel_rsp = rsp0;
}

/* Hardware KVM, the emulator, QEMU: syscall/sysretq. */
static void init_gate_syscall(void)
{
	wrmsr(MSR_STAR, ((uint64_t)KERNEL_DS << 48) | ((uint64_t)KERNEL_CS << 32));
	wrmsr(MSR_LSTAR, (uint64_t)sysgate_syscall);
	wrmsr(MSR_FMASK, RFLAGS_IF | RFLAGS_DF | RFLAGS_TF | RFLAGS_AC);
	wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SCE);
}

/* kvm_pvm: `syscall` from ring 3 arrives still at CPL 3 there, so system calls use `int3`
 * through a DPL-3 interrupt gate on vector 3 (the kernel itself never executes int3). */
static void init_gate_int3(void)
{
	set_gate(VEC_BP, (uint64_t)sysgate_int3, 3, 0);
}

HOT_RODATA const struct cpu_ops cpu_native_syscall = {
	.name = "native(syscall)",
	.gate = GATE_SYSCALL,
	.init_gate = init_gate_syscall,
	.load_kernel_stack = load_kernel_stack,
	.enter_user = enter_user,
};

HOT_RODATA const struct cpu_ops cpu_native_int3 = {
	.name = "native(int3-gate)",
	.gate = GATE_INT3,
	.init_gate = init_gate_int3,
	.load_kernel_stack = load_kernel_stack,
	.enter_user = enter_user,
};

/* PV: the system call bounces through the hypervisor as on x86-64 Xen PV: the entry stub makes
 * one SYSCALL_ENTRY hypercall before dispatching, and the way back to ring 3 is IRET(frame_gpa)
 * with the very {rip, cs, rflags, rsp, ss} frame the stub then iretqs with (isr.S). Entering a
 * process the first time goes through IRET too (pv_enter_user). The user→kernel trap itself is the
 * same as natively: int3 through the DPL-3 gate on kvm_pvm, syscall elsewhere (whose stub builds an
 * iretq frame instead of sysretq). */
static void init_gate_pv_syscall(void)
{
	wrmsr(MSR_STAR, ((uint64_t)KERNEL_DS << 48) | ((uint64_t)KERNEL_CS << 32));
	wrmsr(MSR_LSTAR, (uint64_t)sysgate_pv_syscall);
	wrmsr(MSR_FMASK, RFLAGS_IF | RFLAGS_DF | RFLAGS_TF | RFLAGS_AC);
	wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SCE);
}

static void init_gate_pv_int3(void)
{
	set_gate(VEC_BP, (uint64_t)sysgate_pv_int3, 3, 0);
}

HOT_RODATA const struct cpu_ops cpu_pv_syscall = {
	.name = "pv(bounce,syscall)",
	.gate = GATE_SYSCALL,
	.init_gate = init_gate_pv_syscall,
	.load_kernel_stack = load_kernel_stack,
	.enter_user = pv_enter_user,
};

HOT_RODATA const struct cpu_ops cpu_pv_int3 = {
	.name = "pv(bounce)",
	.gate = GATE_INT3,
	.init_gate = init_gate_pv_int3,
	.load_kernel_stack = load_kernel_stack,
	.enter_user = pv_enter_user,
};

/* The stubs' error path: a SYSCALL_ENTRY or IRET hypercall failed (frame: the iretq frame). */
void pv_gate_failed(uint64_t nr, long rc, const uint64_t *frame)
{
	uart_puts("testbed: system-call bounce: frame rip=");
	put_hex(frame[0]);
	uart_puts(" cs=");
	put_hex(frame[1]);
	uart_puts(" rflags=");
	put_hex(frame[2]);
	uart_puts(" rsp=");
	put_hex(frame[3]);
	uart_puts(" ss=");
	put_hex(frame[4]);
	uart_putc('\n');
	pv_fail((uint32_t)nr, NULL, rc, nr == HYV_HYPERCALL_IRET ? 1 : 0, (uint64_t)frame, 0, 0,
		HYV_GUEST_EXIT_CODE_PANIC);
}

/* ------------------------------------------------------------------ traps and interrupts */

static const char *const exc_names[32] = {
	"#DE divide error", "#DB debug", "NMI", "#BP breakpoint", "#OF overflow", "#BR bound",
	"#UD invalid opcode", "#NM no FPU", "#DF double fault", "coprocessor overrun",
	"#TS invalid TSS", "#NP segment not present", "#SS stack fault", "#GP general protection",
	"#PF page fault", "reserved", "#MF x87", "#AC alignment", "#MC machine check",
	"#XM SIMD", "#VE virtualization", "#CP control protection",
};

static void put_reg(const char *name, uint64_t v)
{
	uart_puts(name);
	put_hex(v);
}

HOT_TEXT void trap_handler(struct trap_frame *f)
{
	uint64_t cr2 = read_cr2();

	if (f->vector == VEC_PF && mm_handle_fault(cr2, f->error))
		return;

	uart_puts("testbed: PANIC: exception ");
	put_u64(f->vector);
	uart_puts(" (");
	uart_puts(f->vector < 32 && exc_names[f->vector] ? exc_names[f->vector] : "?");
	uart_puts(")");
	put_reg(" error=", f->error);
	put_reg(" rip=", f->rip);
	put_reg(" cs=", f->cs);
	put_reg(" rflags=", f->rflags);
	put_reg(" rsp=", f->rsp);
	put_reg(" cr2=", cr2);
	put_reg(" cr3=", read_cr3());
	uart_puts((f->cs & 3) ? " (ring 3)\n" : " (ring 0)\n");
	put_reg("  rax=", f->rax);
	put_reg(" rbx=", f->rbx);
	put_reg(" rcx=", f->rcx);
	put_reg(" rdx=", f->rdx);
	put_reg(" rsi=", f->rsi);
	put_reg(" rdi=", f->rdi);
	put_reg(" rbp=", f->rbp);
	uart_putc('\n');
	debug_exit(HYV_GUEST_EXIT_CODE_PANIC);
}

HOT_TEXT void irq_dispatch(uint64_t irq)
{
	void (*fn)(unsigned) = irq_handlers[irq & 15];
	if (fn)
		fn((unsigned)irq);
	irq_ops->eoi((unsigned)irq);
}
