/* facets.c: reads Hyvisor's CPUID leaves and fills the facet tables (this kernel's pv_ops).
 * Without the Hyvisor signature (QEMU, bare metal) every facet is native. Under Hyvisor each
 * facet whose FeatureBits bit is set (leaf 0x40000001 eax) takes its PV table: PV_SYSCALL the
 * system-call bounce, PV_MMU direct paging, PV_EVTCHN event channels, PV_CLOCK pvclock and the
 * one-shot timer, PV_IO the PV block ring (pv sets all five, hybrid EVTCHN|CLOCK|IO). */
#include "kernel.h"

#include "fmt.h"
#include "io.h"
#include "pv.h"
#include "uart.h"

struct host host;

const struct cpu_ops *cpu_ops HOT_DATA;
const struct mmu_ops *mmu_ops HOT_DATA = &mmu_native;
const struct irq_ops *irq_ops HOT_DATA = &irq_pic;
struct time_ops *time_ops HOT_DATA = &time_pit;
const struct io_ops *io_ops HOT_DATA = &io_ata;

void host_detect(void)
{
	uint32_t max, a, b, c, d;

	cpuid(HYV_CPUID_LEAF_SIGNATURE, &max, &b, &c, &d);
	if (b != HYV_CPUID_SIGNATURE_EBX || c != HYV_CPUID_SIGNATURE_ECX || d != HYV_CPUID_SIGNATURE_EDX ||
	    max < HYV_CPUID_LEAF_FEATURES || max > HYV_CPUID_LEAF_SIGNATURE + 0xff)
		return;
	host.hyvisor = true;
	cpuid(HYV_CPUID_LEAF_FEATURES, &a, &b, &c, &d);
	host.features = a;
	host.hint = b;
	host.abi = c;
	if (max >= HYV_CPUID_LEAF_TIMING) {
		cpuid(HYV_CPUID_LEAF_TIMING, &a, &b, &c, &d);
		host.leaf_tsc_khz = a;
	}
}

const char *host_name(void)
{
	if (!host.hyvisor)
		return "other";
	switch (host.hint) {
	case HYV_HOST_HINT_HARDWARE:
		return "hardware";
	case HYV_HOST_HINT_KVM_PVM:
		return "kvm_pvm";
	case HYV_HOST_HINT_EMULATOR:
		return "emulator";
	default:
		return "unknown";
	}
}

void facets_select(void)
{
	/* kvm_pvm: `syscall` from ring 3 stays at CPL 3 there; use the int3 gate. */
	bool int3 = host.hyvisor && host.hint == HYV_HOST_HINT_KVM_PVM;
	uint32_t f = host.hyvisor ? host.features : 0;

	if (f && host.abi != HYV_CPUID_ABI_VERSION) {
		uart_puts("testbed: the host offers PV features ");
		put_hex(f);
		uart_puts(" with ABI version ");
		put_u64(host.abi);
		uart_puts(", this kernel speaks ");
		put_u64(HYV_CPUID_ABI_VERSION);
		uart_puts(": every facet stays native\n");
		f = 0;
	}
	cpu_ops = f & HYV_FEATURE_BITS_PV_SYSCALL ? (int3 ? &cpu_pv_int3 : &cpu_pv_syscall)
						   : (int3 ? &cpu_native_int3 : &cpu_native_syscall);
	mmu_ops = f & HYV_FEATURE_BITS_PV_MMU ? &mmu_pv : &mmu_native;
	irq_ops = f & HYV_FEATURE_BITS_PV_EVTCHN ? &irq_evtchn : &irq_pic;
	time_ops = f & HYV_FEATURE_BITS_PV_CLOCK ? &time_pvclock : &time_pit;
	io_ops = f & HYV_FEATURE_BITS_PV_IO ? &io_pvblk : virtio_blk_present() ? &io_virtio : &io_ata;
	pv_active = (f & (HYV_FEATURE_BITS_PV_SYSCALL | HYV_FEATURE_BITS_PV_MMU | HYV_FEATURE_BITS_PV_EVTCHN |
			  HYV_FEATURE_BITS_PV_CLOCK | HYV_FEATURE_BITS_PV_IO)) != 0;
}

uint64_t tsc_to_ns(uint64_t ticks)
{
	uint64_t khz = time_ops->tsc_khz;
	return ticks / khz * 1000000ull + ticks % khz * 1000000ull / khz;
}
