/* main.c: the boot flow of the testbed kernel (README.md):
 * start info -> command line -> GDT/TSS/IDT -> host detection and facet tables -> kernel page
 * tables -> system-call gate -> clock -> workloads -> debug exit. */
#include "kernel.h"

#include "fmt.h"
#include "io.h"
#include "start_info.h"
#include "uart.h"

static struct boot_info boot;

static void put_facet(const char *facet, const char *name)
{
	uart_putc(' ');
	uart_puts(facet);
	uart_putc('=');
	uart_puts(name);
}

void kmain(const struct hvm_start_info *si)
{
	uart_init();

	if (!start_info_parse(si, &boot)) {
		uart_puts("testbed: error: no PVH start info at ");
		put_hex((uintptr_t)si);
		uart_puts(" (expected magic ");
		put_hex(HYV_START_INFO_MAGIC);
		uart_puts(")\n");
		debug_exit(HYV_GUEST_EXIT_CODE_BAD_BOOT_INFO);
	}
	uart_puts("testbed: Hyvisor testbed kernel, RAM ");
	put_u64(boot.ram_bytes >> 20);
	uart_puts(" MiB, cmdline \"");
	uart_write(boot.cmdline, boot.cmdline_len);
	uart_puts("\"\n");

	/* Arguments first: a typo must not cost a whole benchmark run. */
	if (!workloads_parse(boot.cmdline))
		debug_exit(HYV_GUEST_EXIT_CODE_BAD_ARGS);

	cpu_init();
	host_detect();
	facets_select();
	mm_init(&boot);
	cpu_ops->init_gate();
	time_ops->init();

	uart_puts("testbed: host=");
	uart_puts(host_name());
	put_facet("cpu", cpu_ops->name);
	put_facet("mmu", mmu_ops->name);
	put_facet("irq", irq_ops->name);
	put_facet("time", time_ops->name);
	put_facet("io", io_ops->name);
	uart_puts(" tscKhz=");
	put_u64(time_ops->tsc_khz);
	uart_puts("(");
	uart_puts(time_ops->tsc_source);
	uart_puts(")");
	if (host.hyvisor) {
		uart_puts(" features=");
		put_hex(host.features);
		uart_puts(" abi=");
		put_u64(host.abi);
	}
	uart_putc('\n');

	bool ok = workloads_run();
	uart_puts(ok ? "testbed: done, all checks passed\n" : "testbed: done, a check FAILED\n");
	debug_exit(ok ? HYV_GUEST_EXIT_CODE_OK : HYV_GUEST_EXIT_CODE_CHECK_FAILED);
}
