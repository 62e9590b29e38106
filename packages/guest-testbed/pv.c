/* pv.c: what the PV facets share: hypercall accounting and error reports, the shared-info page. */
#include "pv.h"

#include "fmt.h"
#include "uart.h"

uint64_t pv_calls[PV_CALL_SLOTS] PV_HOT_DATA;
bool pv_active PV_HOT_DATA;

static struct shared_info shared_info_page; /* .bss: RAM, identity-mapped (gpa = va) */
struct shared_info *pv_si PV_HOT_DATA;

uint64_t pv_calls_total(void)
{
	uint64_t n = 0;
	for (unsigned i = 0; i < PV_CALL_SLOTS; i++)
		n += pv_calls[i];
	return n;
}

const char *pv_call_name(uint32_t nr)
{
	switch (nr) {
	case HYV_HYPERCALL_MMU_UPDATE: return "MMU_UPDATE";
	case HYV_HYPERCALL_MMUEXT_OP: return "MMUEXT_OP";
	case HYV_HYPERCALL_SET_TIMER_OP: return "SET_TIMER_OP";
	case HYV_HYPERCALL_EVENT_CHANNEL_OP: return "EVENT_CHANNEL_OP";
	case HYV_HYPERCALL_SCHED_OP: return "SCHED_OP";
	case HYV_HYPERCALL_SYSCALL_ENTRY: return "SYSCALL_ENTRY";
	case HYV_HYPERCALL_IRET: return "IRET";
	case HYV_HYPERCALL_REGISTER_SHARED_INFO: return "REGISTER_SHARED_INFO";
	case HYV_HYPERCALL_SET_CALLBACK: return "SET_CALLBACK";
	case HYV_HYPERCALL_BLK_SETUP: return "BLK_SETUP";
	case HYV_HYPERCALL_BLK_INFO: return "BLK_INFO";
	default: return "?";
	}
}

const char *pv_errno_name(long rc)
{
	switch (-rc) {
	case HYV_HYPERCALL_ERRNO_EPERM: return "EPERM";
	case HYV_HYPERCALL_ERRNO_EFAULT: return "EFAULT";
	case HYV_HYPERCALL_ERRNO_EBUSY: return "EBUSY";
	case HYV_HYPERCALL_ERRNO_EINVAL: return "EINVAL";
	case HYV_HYPERCALL_ERRNO_ENOSPC: return "ENOSPC";
	case HYV_HYPERCALL_ERRNO_ENOSYS: return "ENOSYS";
	default: return rc < 0 ? "?" : "unexpected result";
	}
}

static void put_signed(long v)
{
	if (v < 0) {
		uart_putc('-');
		put_u64((uint64_t)-v);
	} else {
		put_u64((uint64_t)v);
	}
}

void pv_fail(uint32_t nr, const char *what, long rc, unsigned nargs, uint64_t a0, uint64_t a1, uint64_t a2,
	     uint32_t exit_code)
{
	const uint64_t args[3] = { a0, a1, a2 };
	uart_puts("testbed: hypercall ");
	uart_puts(pv_call_name(nr));
	uart_puts("(");
	for (unsigned i = 0; i < nargs && i < 3; i++) {
		if (i)
			uart_puts(", ");
		put_hex(args[i]);
	}
	uart_puts(")");
	if (what) {
		uart_puts(" [");
		uart_puts(what);
		uart_puts("]");
	}
	uart_puts(" failed: ");
	put_signed(rc);
	uart_puts(" (");
	uart_puts(pv_errno_name(rc));
	uart_puts(")\n");
	debug_exit(exit_code);
}

/* Not page-table pool memory, page aligned, inside RAM: what REGISTER_SHARED_INFO wants. The VMM
 * zeroes it, sets every mask bit and fills the pvclock record. */
struct shared_info *pv_shared_info(void)
{
	if (!pv_si) {
		uint64_t gpa = (uint64_t)&shared_info_page;
		long rc = hypercall1(HYV_HYPERCALL_REGISTER_SHARED_INFO, gpa);
		if (rc != 0)
			pv_fail(HYV_HYPERCALL_REGISTER_SHARED_INFO, NULL, rc, 1, gpa, 0, 0, HYV_GUEST_EXIT_CODE_PANIC);
		pv_si = &shared_info_page;
	}
	return pv_si;
}
