/* pvclock.c: the PV time facet: the clock is the pvclock record in the shared-info page (read
 * exactly as Linux's pvclock_clocksource_read: a seqlock on version, rdtsc, scale by mul/shift),
 * the tick is the one-shot timer SET_TIMER_OP, delivered as VIRQ_TIMER (line IRQ_LINE_TIMER, so it
 * needs the evtchn irq facet). Ticks follow absolute deadlines, next = previous deadline + period:
 * a late event (a stalled VMM) counts every period that ended meanwhile and re-arms at the next
 * deadline of the same schedule, so no tick is lost and the guest's time never drifts. */
#include "pv.h"

#include "fmt.h"
#include "io.h"
#include "uart.h"

static struct {
	uint64_t next;   /* deadline of the next tick, pvclock ns */
	uint64_t period; /* ns */
	void (*tick)(unsigned line);
	uint64_t late;   /* events that found more than one period ended (catch-up) */
} timer PV_HOT_DATA;

/* (delta << shift or >> -shift) * mul >> 32, with a 64x64->128 multiply (mul_u64_u32_shr). */
static inline uint64_t scale_delta(uint64_t delta, uint32_t mul, int8_t shift)
{
	if (shift < 0)
		delta >>= -shift;
	else
		delta <<= shift;
	return (uint64_t)(((unsigned __int128)delta * mul) >> 32);
}

PV_HOT_TEXT static uint64_t pvclock_now_ns(void)
{
	volatile struct pvclock_time_info *t = &pv_si->time;
	uint32_t version;
	uint64_t ns;
	do {
		version = t->version;
		__asm__ volatile("" : : : "memory"); /* x86 keeps loads in order; the compiler must too */
		uint64_t tsc = rdtsc();
		ns = t->system_time + scale_delta(tsc - t->tsc_timestamp, t->tsc_to_system_mul, t->tsc_shift);
		__asm__ volatile("" : : : "memory");
	} while ((version & 1) || version != t->version);
	return ns;
}

static void set_timer(uint64_t deadline)
{
	long rc = hypercall1(HYV_HYPERCALL_SET_TIMER_OP, deadline);
	if (rc != 0)
		pv_fail(HYV_HYPERCALL_SET_TIMER_OP, NULL, rc, 1, deadline, 0, 0, HYV_GUEST_EXIT_CODE_CHECK_FAILED);
}

static void pvclock_init(void)
{
	struct shared_info *si = pv_shared_info();
	if (host.leaf_tsc_khz) {
		time_pvclock.tsc_khz = host.leaf_tsc_khz;
		time_pvclock.tsc_source = "cpuid";
		return;
	}
	/* As Linux's pvclock_tsc_khz: 10^6 * 2^32 / mul, then undo the shift. */
	uint32_t mul = si->time.tsc_to_system_mul;
	int8_t shift = si->time.tsc_shift;
	if (!mul)
		panic("pvclock: the VMM left tsc_to_system_mul at 0");
	uint64_t khz = (1000000ull << 32) / mul;
	if (shift < 0)
		khz <<= -shift;
	else
		khz >>= shift;
	time_pvclock.tsc_khz = khz ? khz : 1;
	time_pvclock.tsc_source = "pvclock";
}

/* VIRQ_TIMER: count every deadline that has passed (more than one after a stall), re-arm at the
 * next one. */
PV_HOT_TEXT static void pvclock_timer_event(unsigned line)
{
	uint64_t now = pvclock_now_ns();
	unsigned n = 0;
	while (timer.next <= now) {
		timer.next += timer.period;
		n++;
		timer.tick(line);
	}
	if (n > 1)
		timer.late++;
	set_timer(timer.next); /* also after an early (spurious) event: same deadline again */
}

static bool pvclock_start_periodic(unsigned hz, void (*tick)(unsigned line))
{
	if (irq_ops != &irq_evtchn) {
		uart_puts("testbed: pvclock: the one-shot timer arrives as VIRQ_TIMER, which needs event channels\n");
		return false;
	}
	if (hz == 0 || hz > 1000000000u)
		return false;
	timer.period = 1000000000ull / hz;
	timer.tick = tick;
	timer.late = 0;
	set_irq_handler(IRQ_LINE_TIMER, pvclock_timer_event);
	irq_ops->unmask(IRQ_LINE_TIMER);
	timer.next = pvclock_now_ns() + timer.period;
	set_timer(timer.next);
	return true;
}

static void pvclock_stop(void)
{
	set_timer(0); /* cancels */
	irq_ops->mask(IRQ_LINE_TIMER);
	set_irq_handler(IRQ_LINE_TIMER, NULL);
}

struct time_ops time_pvclock PV_HOT_DATA = {
	.name = "pvclock",
	.tick_name = "the pvclock one-shot timer (absolute deadlines)",
	.ticks_are_time = false,
	.tsc_khz = 1000000u,
	.tsc_source = "assumed",
	.init = pvclock_init,
	.now_ns = pvclock_now_ns,
	.start_periodic = pvclock_start_periodic,
	.stop = pvclock_stop,
};
