/* facets.c: reads Hyvisor's CPUID leaves and fills the facet tables (this kernel's pv_ops).
 * Without the Hyvisor signature (QEMU, bare metal) every facet is native. Today every facet is
 * native under Hyvisor too: the PV implementations (hypercall syscall bounce, direct paging,
 * event channels, pvclock, rings) arrive later as new tables chosen here by feature bit. */
#include "kernel.h"

#include "fmt.h"
#include "io.h"
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
	cpu_ops = host.hyvisor && host.hint == HYV_HOST_HINT_KVM_PVM ? &cpu_native_int3 : &cpu_native_syscall;
	mmu_ops = &mmu_native;
	irq_ops = &irq_pic;
	time_ops = &time_pit;
	io_ops = &io_ata;
}

uint64_t tsc_to_ns(uint64_t ticks)
{
	uint64_t khz = time_ops->tsc_khz;
	return ticks / khz * 1000000ull + ticks % khz * 1000000ull / khz;
}
