/* pv.h: the PV ABI from the guest's side (docs/pv-abi.md): the hypercall doorbell, the shared-info
 * page, error reporting. Every constant comes from the generated hyvisor_abi.h. */
#ifndef GUEST_PV_H
#define GUEST_PV_H

#include <stdint.h>

#include "kernel.h"

/* Hypercalls made, by number (index 0: every number above the table). Counted by the wrapper
 * and by the system-call stubs in isr.S; the workloads report the total of their measured part. */
#define PV_CALL_SLOTS 16
extern uint64_t pv_calls[PV_CALL_SLOTS];
uint64_t pv_calls_total(void);
extern bool pv_active; /* some facet uses the PV interface */

/* The doorbell: `outl %eax, (%dx)` with DX = Ports.HYPERCALL, EAX = number, arguments in RDI,
 * RSI, R10, R8, R9; the VMM writes the result (a signed long, negative errno on failure) to RAX.
 * Ring 0 only. */
#define PV_DOORBELL(insns)                                                                          \
	__asm__ volatile(insns                                                                     \
			 : "+a"(rax)                                                               \
			 : "d"((uint16_t)HYV_PORTS_HYPERCALL), "D"(a0), "S"(a1), "r"(r10), "r"(r8), "r"(r9) \
			 : "memory")

static inline long hypercall5(uint32_t nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4)
{
	register uint64_t r10 __asm__("r10") = a2;
	register uint64_t r8 __asm__("r8") = a3;
	register uint64_t r9 __asm__("r9") = a4;
	uint64_t rax = nr;
	pv_calls[nr < PV_CALL_SLOTS ? nr : 0]++;
	PV_DOORBELL("outl %%eax, %%dx");
	return (long)rax;
}

/* A one-argument hypercall entered with interrupts enabled by the instruction just before the
 * doorbell: `sti; outl`. The STI interrupt shadow covers the `outl`, so no upcall can be taken
 * between them (IF is clear before), and an event that arrives after the caller looked at its
 * condition stays pending until the VMM sees the hypercall: SCHED_OP(BLOCK) then returns at once
 * and the upcall is injected as it returns. With the `sti` anywhere earlier, an upcall could run
 * in between, consume the event, and the BLOCK would sleep with nothing left to wake it (a lost
 * wake-up, seen as a hung PV io run under load). The caller re-disables interrupts. */
static inline long hypercall1_sti(uint32_t nr, uint64_t a0)
{
	register uint64_t r10 __asm__("r10") = 0;
	register uint64_t r8 __asm__("r8") = 0;
	register uint64_t r9 __asm__("r9") = 0;
	uint64_t a1 = 0;
	uint64_t rax = nr;
	pv_calls[nr < PV_CALL_SLOTS ? nr : 0]++;
	PV_DOORBELL("sti\n\toutl %%eax, %%dx");
	return (long)rax;
}

static inline long hypercall0(uint32_t nr)
{
	return hypercall5(nr, 0, 0, 0, 0, 0);
}

static inline long hypercall1(uint32_t nr, uint64_t a0)
{
	return hypercall5(nr, a0, 0, 0, 0, 0);
}

static inline long hypercall2(uint32_t nr, uint64_t a0, uint64_t a1)
{
	return hypercall5(nr, a0, a1, 0, 0, 0);
}

static inline long hypercall3(uint32_t nr, uint64_t a0, uint64_t a1, uint64_t a2)
{
	return hypercall5(nr, a0, a1, a2, 0, 0);
}

/* A hypercall failed: prints "testbed: hypercall NAME(args) failed: -E (ENAME)" and exits with
 * exit_code (GuestExitCode.PANIC for the kernel's own mechanisms, CHECK_FAILED for a workload's
 * device). nargs of args are printed. */
__attribute__((noreturn)) void pv_fail(uint32_t nr, const char *what, long rc, unsigned nargs,
				       uint64_t a0, uint64_t a1, uint64_t a2, uint32_t exit_code);
const char *pv_call_name(uint32_t nr);
const char *pv_errno_name(long rc);

/* The shared-info page (SharedInfo), registered with REGISTER_SHARED_INFO on first use by the
 * event-channel or the clock facet. */
struct pvclock_time_info {
	uint32_t version;
	uint32_t pad0;
	uint64_t tsc_timestamp;
	uint64_t system_time;
	uint32_t tsc_to_system_mul;
	int8_t tsc_shift;
	uint8_t flags;
	uint8_t pad[2];
};
_Static_assert(__builtin_offsetof(struct pvclock_time_info, version) == HYV_PV_CLOCK_VERSION, "pvclock version");
_Static_assert(__builtin_offsetof(struct pvclock_time_info, tsc_timestamp) == HYV_PV_CLOCK_TSC_TIMESTAMP, "pvclock tsc");
_Static_assert(__builtin_offsetof(struct pvclock_time_info, system_time) == HYV_PV_CLOCK_SYSTEM_TIME, "pvclock time");
_Static_assert(__builtin_offsetof(struct pvclock_time_info, tsc_to_system_mul) == HYV_PV_CLOCK_TSC_TO_SYSTEM_MUL, "pvclock mul");
_Static_assert(__builtin_offsetof(struct pvclock_time_info, tsc_shift) == HYV_PV_CLOCK_TSC_SHIFT, "pvclock shift");
_Static_assert(__builtin_offsetof(struct pvclock_time_info, flags) == HYV_PV_CLOCK_FLAGS, "pvclock flags");
_Static_assert(sizeof(struct pvclock_time_info) == HYV_PV_CLOCK_SIZE, "pvclock size");

#define EVTCHN_WORDS (HYV_SHARED_INFO_NR_EVENT_CHANNELS / 64)

struct shared_info {
	volatile uint8_t upcall_pending;
	volatile uint8_t upcall_mask;
	uint8_t pad0[6];
	volatile uint64_t pending_sel;
	uint8_t pad1[HYV_SHARED_INFO_TIME - 16];
	volatile struct pvclock_time_info time;
	uint8_t pad2[HYV_SHARED_INFO_EVTCHN_PENDING - HYV_SHARED_INFO_TIME - HYV_PV_CLOCK_SIZE];
	volatile uint64_t evtchn_pending[EVTCHN_WORDS];
	uint8_t pad3[HYV_SHARED_INFO_EVTCHN_MASK - HYV_SHARED_INFO_EVTCHN_PENDING - EVTCHN_WORDS * 8];
	volatile uint64_t evtchn_mask[EVTCHN_WORDS];
} __attribute__((aligned(4096)));
_Static_assert(__builtin_offsetof(struct shared_info, upcall_pending) == HYV_SHARED_INFO_UPCALL_PENDING, "si pending");
_Static_assert(__builtin_offsetof(struct shared_info, upcall_mask) == HYV_SHARED_INFO_UPCALL_MASK, "si mask");
_Static_assert(__builtin_offsetof(struct shared_info, pending_sel) == HYV_SHARED_INFO_PENDING_SEL, "si sel");
_Static_assert(__builtin_offsetof(struct shared_info, time) == HYV_SHARED_INFO_TIME, "si time");
_Static_assert(__builtin_offsetof(struct shared_info, evtchn_pending) == HYV_SHARED_INFO_EVTCHN_PENDING, "si evtchn pending");
_Static_assert(__builtin_offsetof(struct shared_info, evtchn_mask) == HYV_SHARED_INFO_EVTCHN_MASK, "si evtchn mask");
_Static_assert(sizeof(struct shared_info) == 4096, "shared info is one page");

/* The page, registered on the first call (a failure is a PANIC). */
struct shared_info *pv_shared_info(void);
extern struct shared_info *pv_si; /* NULL until registered */

/* Event channels (evtchn.c), for the other PV facets: gives `line` (IRQ_LINE_*) the port an
 * earlier hypercall returned (BLK_SETUP's completion port). */
void evtchn_attach(unsigned line, uint32_t port);

#endif /* GUEST_PV_H */
