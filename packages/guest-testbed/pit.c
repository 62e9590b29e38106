/* pit.c: native time: the TSC as the clock (rate from Hyvisor's CPUID leaf, else calibrated once
 * against PIT channel 2), PIT channel 0 as the periodic tick on IRQ 0. */
#include "kernel.h"

#include "fmt.h"
#include "io.h"
#include "uart.h"

#define PIT_HZ 1193182u              /* the 8254's input clock */
#define PIT_CH0 (HYV_PORTS_PIT + 0)
#define PIT_CH2 (HYV_PORTS_PIT + 2)
#define PIT_MODE (HYV_PORTS_PIT + 3)
#define PORTB_GATE2 0x01
#define PORTB_SPEAKER 0x02
#define PORTB_OUT2 0x20
#define CAL_MS 50u
#define ASSUMED_KHZ 1000000u         /* if nothing better is known: 1 GHz */

static void calibrate(void)
{
	uint32_t count = PIT_HZ / (1000u / CAL_MS); /* 50 ms */
	uint8_t b = inb(HYV_PORTS_PORT_B);

	/* Channel 2, gate on, speaker off, mode 0 (OUT2 goes high at terminal count). */
	outb(HYV_PORTS_PORT_B, (uint8_t)((b & ~PORTB_SPEAKER) & ~PORTB_GATE2));
	outb(PIT_MODE, 0xb0); /* channel 2, lobyte/hibyte, mode 0, binary */
	outb(PIT_CH2, (uint8_t)count);
	outb(PIT_CH2, (uint8_t)(count >> 8));
	outb(HYV_PORTS_PORT_B, (uint8_t)((b & ~PORTB_SPEAKER) | PORTB_GATE2));
	uint64_t t0 = rdtsc();
	uint64_t polls = 0;
	while (!(inb(HYV_PORTS_PORT_B) & PORTB_OUT2) && polls < 100000000u)
		polls++;
	uint64_t t1 = rdtsc();
	outb(HYV_PORTS_PORT_B, b);

	/* elapsed = count / PIT_HZ s; khz = ticks / elapsed / 1000 */
	uint64_t khz = (t1 - t0) * PIT_HZ / count / 1000u;
	if (polls == 0 || khz < 10000u) { /* no PIT (OUT2 already high) or nonsense */
		time_pit.tsc_khz = ASSUMED_KHZ;
		time_pit.tsc_source = "assumed";
	} else {
		time_pit.tsc_khz = khz;
		time_pit.tsc_source = "pit";
	}
}

static void pit_time_init(void)
{
	if (host.leaf_tsc_khz) {
		time_pit.tsc_khz = host.leaf_tsc_khz;
		time_pit.tsc_source = "cpuid";
	} else {
		calibrate();
	}
}

static uint64_t pit_now_ns(void)
{
	return tsc_to_ns(rdtsc());
}

static bool pit_start_periodic(unsigned hz, void (*tick)(unsigned line))
{
	uint32_t div = (PIT_HZ + hz / 2) / hz;
	set_irq_handler(HYV_IRQ_PIT, tick);
	if (div == 0 || div > 0xffff)
		return false;
	outb(PIT_MODE, 0x34); /* channel 0, lobyte/hibyte, mode 2 (rate generator) */
	outb(PIT_CH0, (uint8_t)div);
	outb(PIT_CH0, (uint8_t)(div >> 8));
	irq_ops->unmask(HYV_IRQ_PIT);
	return true;
}

static void pit_stop(void)
{
	irq_ops->mask(HYV_IRQ_PIT);
	outb(PIT_MODE, 0x30); /* channel 0, mode 0, no count loaded: stops after one terminal count */
	set_irq_handler(HYV_IRQ_PIT, NULL);
}

struct time_ops time_pit HOT_DATA = {
	.name = "pit",
	.tick_name = "the PIT",
	.ticks_are_time = true,
	.tsc_khz = ASSUMED_KHZ,
	.tsc_source = "assumed",
	.init = pit_time_init,
	.now_ns = pit_now_ns,
	.start_periodic = pit_start_periodic,
	.stop = pit_stop,
};
