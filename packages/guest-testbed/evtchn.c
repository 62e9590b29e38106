/* evtchn.c: the PV irq facet: event channels (docs/pv-abi.md, "Shared info page and event
 * channels"). Xen-style: every interrupt source is a port; the VMM sets the port's pending bit
 * and the selector bit in the shared-info page and injects one upcall vector; the handler takes
 * the pending, unmasked ports and runs their lines' handlers. No interrupt controller, no EOI.
 *
 * Lines (set_irq_handler numbering): 0-15 are device lines, bound with BIND_PIRQ; IRQ_LINE_TIMER
 * is VIRQ_TIMER (BIND_VIRQ); IRQ_LINE_BLK is the block ring's port (evtchn_attach). The kernel
 * runs ring 0 with IF clear except in wait(), which is the only place (besides ring 3) an upcall
 * can arrive: the VMM injects the vector only when the guest can take an interrupt, so
 * UPCALL_MASK stays 0 and IF is the local mask. Masking a port sets its bit
 * in the shared mask bitmap (no hypercall); unmasking is the UNMASK hypercall (it delivers an
 * event that became pending meanwhile). */
#include "pv.h"

#include "fmt.h"
#include "io.h"
#include "uart.h"

#define UPCALL_VECTOR 0x30 /* past the PIC's 0x20-0x2f, which stay as they are */
#define MAX_PORT 64        /* ports are allocated from 1 upwards; a handful are used */

extern char evtchn_upcall_stub[]; /* isr.S */

static uint8_t port_line[MAX_PORT] PV_HOT_DATA;  /* port -> line + 1 (0 = not ours) */
static uint16_t line_port[IRQ_LINES] PV_HOT_DATA; /* line -> port (0 = not bound) */
uint64_t evtchn_upcalls PV_HOT_DATA, evtchn_events PV_HOT_DATA;

/* ------------------------------------------------------------------ atomics (lock prefix: works
 * at ring 0 on kvm_pvm, as xchg does) */

static inline uint64_t xchg64(volatile uint64_t *p, uint64_t v)
{
	__asm__ volatile("xchgq %0, %1" : "+r"(v), "+m"(*p) : : "memory");
	return v;
}

static inline void lock_and64(volatile uint64_t *p, uint64_t v)
{
	__asm__ volatile("lock andq %1, %0" : "+m"(*p) : "r"(v) : "memory", "cc");
}

static inline void lock_or64(volatile uint64_t *p, uint64_t v)
{
	__asm__ volatile("lock orq %1, %0" : "+m"(*p) : "r"(v) : "memory", "cc");
}

/* Lowest set bit of a non-zero word: plain bsf (GCC's ctz may emit `rep bsf`, i.e. tzcnt). */
static inline unsigned lowest_bit(uint64_t v)
{
	uint64_t i;
	__asm__("bsfq %1, %0" : "=r"(i) : "rm"(v) : "cc");
	return (unsigned)i;
}

/* ------------------------------------------------------------------ upcall */

/* Called by evtchn_upcall_stub (isr.S) with IF clear. */
PV_HOT_TEXT void evtchn_upcall(void)
{
	struct shared_info *si = pv_si;
	evtchn_upcalls++;
	while (si->upcall_pending) {
		si->upcall_pending = 0;
		uint64_t sel = xchg64(&si->pending_sel, 0);
		while (sel) {
			unsigned w = lowest_bit(sel);
			sel &= sel - 1;
			uint64_t bits = si->evtchn_pending[w] & ~si->evtchn_mask[w];
			while (bits) {
				unsigned b = lowest_bit(bits);
				bits &= bits - 1;
				/* Only the VMM sets pending bits, so the bit seen set is still set: clear it
				 * (acknowledge) before handling, so an event raised meanwhile stays pending. */
				lock_and64(&si->evtchn_pending[w], ~(1ull << b));
				unsigned port = w * 64 + b;
				evtchn_events++;
				if (port < MAX_PORT && port_line[port])
					irq_call_handler(port_line[port] - 1u);
			}
		}
	}
}

/* ------------------------------------------------------------------ binding */

static void evtchn_fail(long rc, const char *what, uint64_t cmd, uint64_t arg, uint32_t code)
{
	pv_fail(HYV_HYPERCALL_EVENT_CHANNEL_OP, what, rc, 2, cmd, arg, 0, code);
}

static void attach(unsigned line, long port, const char *what)
{
	if (port <= 0 || port >= MAX_PORT) {
		uart_puts("testbed: event channel port ");
		put_u64((uint64_t)port);
		uart_puts(" for ");
		uart_puts(what);
		uart_puts(" is outside 1..63\n");
		debug_exit(HYV_GUEST_EXIT_CODE_PANIC);
	}
	line_port[line] = (uint16_t)port;
	port_line[port] = (uint8_t)(line + 1);
}

void evtchn_attach(unsigned line, uint32_t port)
{
	if (line < IRQ_LINES)
		attach(line, port, "a ring");
}

/* Binds the line's source (once: binding twice is -EBUSY). */
static uint32_t bind_line(unsigned line)
{
	if (line >= IRQ_LINES)
		panic("evtchn: line out of range");
	if (line_port[line])
		return line_port[line];
	uint64_t cmd, arg;
	if (line < 16) {
		cmd = HYV_EVTCHN_OP_BIND_PIRQ;
		arg = line;
	} else if (line == IRQ_LINE_TIMER) {
		cmd = HYV_EVTCHN_OP_BIND_VIRQ;
		arg = HYV_VIRQ_TIMER;
	} else {
		panic("evtchn: unmask of a line with no port (IRQ_LINE_BLK before BLK_SETUP)");
	}
	long rc = hypercall2(HYV_HYPERCALL_EVENT_CHANNEL_OP, cmd, arg);
	if (rc <= 0)
		evtchn_fail(rc, cmd == HYV_EVTCHN_OP_BIND_PIRQ ? "BIND_PIRQ" : "BIND_VIRQ", cmd, arg,
			    HYV_GUEST_EXIT_CODE_PANIC);
	attach(line, rc, cmd == HYV_EVTCHN_OP_BIND_PIRQ ? "BIND_PIRQ" : "BIND_VIRQ");
	return (uint32_t)rc;
}

/* ------------------------------------------------------------------ irq_ops */

static bool evtchn_init(void)
{
	pv_shared_info();
	set_interrupt_gate(UPCALL_VECTOR, (uint64_t)evtchn_upcall_stub);
	long rc = hypercall1(HYV_HYPERCALL_SET_CALLBACK, UPCALL_VECTOR);
	if (rc != 0)
		pv_fail(HYV_HYPERCALL_SET_CALLBACK, NULL, rc, 1, UPCALL_VECTOR, 0, 0, HYV_GUEST_EXIT_CODE_PANIC);
	/* The sources the workloads use, bound up front (masked until a workload unmasks them). */
	bind_line(HYV_IRQ_IRQ_TEST);
	bind_line(IRQ_LINE_TIMER);
	return true;
}

static void evtchn_unmask(unsigned line)
{
	uint32_t port = bind_line(line);
	long rc = hypercall2(HYV_HYPERCALL_EVENT_CHANNEL_OP, HYV_EVTCHN_OP_UNMASK, port);
	if (rc != 0)
		evtchn_fail(rc, "UNMASK", HYV_EVTCHN_OP_UNMASK, port, HYV_GUEST_EXIT_CODE_PANIC);
}

/* In shared memory: the VMM keeps the port's pending bit and does not raise the upcall. */
static void evtchn_mask(unsigned line)
{
	if (line >= IRQ_LINES || !line_port[line] || !pv_si)
		return;
	uint32_t port = line_port[line];
	lock_or64(&pv_si->evtchn_mask[port / 64], 1ull << (port % 64));
}

PV_HOT_TEXT static void evtchn_eoi(unsigned line)
{
	(void)line; /* acknowledged by clearing the pending bit; nothing to tell anybody */
}

/* The PV idle loop, "enable interrupts and wait for one": IF is opened and the vCPU blocks in
 * SCHED_OP(BLOCK) until an event is pending; the VMM injects the upcall as the hypercall returns
 * (the interrupt window is open), so it runs before the `cli`. If an upcall is already pending,
 * SCHED_OP(YIELD) instead: an exit with IF set, after which the VMM injects it (as Linux's
 * xen_force_evtchn_callback). A window of a few instructions without an exit is not enough on
 * kvm_pvm, which does not leave the guest for an interrupt window inside emulated ring-0 code.
 * The `sti` sits in the STI shadow right before the doorbell (hypercall1_sti): an event that
 * arrives after the check stays pending, so the BLOCK returns at once instead of sleeping after
 * an upcall already consumed it. The callers re-check their condition. */
PV_HOT_TEXT static void evtchn_wait(void)
{
	uint64_t cmd = pv_si->upcall_pending ? HYV_SCHED_OP_YIELD : HYV_SCHED_OP_BLOCK;
	long rc = hypercall1_sti(HYV_HYPERCALL_SCHED_OP, cmd);
	cli();
	if (rc != 0)
		pv_fail(HYV_HYPERCALL_SCHED_OP, cmd == HYV_SCHED_OP_BLOCK ? "BLOCK" : "YIELD", rc, 1, cmd, 0, 0,
			HYV_GUEST_EXIT_CODE_PANIC);
}

PV_HOT_RODATA const struct irq_ops irq_evtchn = {
	.name = "evtchn",
	.init = evtchn_init,
	.unmask = evtchn_unmask,
	.mask = evtchn_mask,
	.eoi = evtchn_eoi,
	.wait = evtchn_wait,
};
