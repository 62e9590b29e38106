/*
 * ref-vmm: the "minimal C KVM loop" that Hyvisor's exit-cost benchmark compares itself with.
 *
 *   ref-vmm GUEST.elf "CMDLINE" [MEM_MIB]
 *
 * Boots a 64-bit ELF guest straight into long mode with the same boot protocol as Hyvisor
 * (packages/core/src/abi/guest-abi.ts, arch/x86_64/long-mode.ts; every address comes from the
 * generated hyvisor_abi.h), then runs KVM_RUN in a loop that handles only what the guest-hello
 * benchmark touches: COM1 output, the benchmark port and its start/end markers, the debug-exit
 * port and HLT. It prints one JSON line on stdout:
 *
 *   {"exits":N,"seconds":S,"usPerExit":U}
 *
 * where N counts the writes to HYV_PORTS_BENCH and S is the time between the start marker
 * (value 1 to HYV_PORTS_BENCH+1) and the end marker (value 2). Guest output goes to stderr.
 * Exit status: the guest's debug-exit code (0 after HLT); 1 with a message on a VMM error.
 *
 * Deliberately no device model, no irqchip, no CPUID setup, no KVM_CAP_SYNC_REGS: the exit path
 * is KVM_RUN returning, one switch, and KVM_RUN again, the cheapest a userspace VMM can be.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hyvisor_abi.h"

/* 16550 registers the loop models (offsets from HYV_PORTS_COM1). */
#define UART_THR 0
#define UART_LCR 3
#define UART_LSR 5
#define UART_LCR_DLAB 0x80
#define UART_LSR_IDLE 0x60 /* THRE | TEMT: always ready to send, never anything received */

/* Values the guest writes to HYV_PORTS_BENCH + 1. */
#define BENCH_MARK_START 1
#define BENCH_MARK_END 2

/* PVH start info, Xen's struct hvm_start_info (version 1); layout checked against the header. */
struct hvm_start_info {
	uint32_t magic, version, flags, nr_modules;
	uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
	uint32_t memmap_entries, reserved;
};
struct hvm_memmap_table_entry {
	uint64_t addr, size;
	uint32_t type, reserved;
};
_Static_assert(sizeof(struct hvm_start_info) == HYV_START_INFO_SIZE, "start info size");
_Static_assert(offsetof(struct hvm_start_info, cmdline_paddr) == HYV_START_INFO_OFF_CMDLINE_PADDR, "cmdline");
_Static_assert(offsetof(struct hvm_start_info, memmap_paddr) == HYV_START_INFO_OFF_MEMMAP_PADDR, "memmap");
_Static_assert(offsetof(struct hvm_start_info, memmap_entries) == HYV_START_INFO_OFF_MEMMAP_ENTRIES, "entries");
_Static_assert(sizeof(struct hvm_memmap_table_entry) == HYV_START_INFO_MEMMAP_ENTRY_SIZE, "memmap entry");

/* Boot GDT (as in long-mode.ts, after Firecracker): null, 64-bit code, data, busy 64-bit TSS. */
#define SEL_CODE64 0x08
#define SEL_DATA 0x10
#define SEL_TSS 0x18
#define GDT_ENTRY(flags, base, limit)                                                           \
	((((uint64_t)(base) & 0xff000000u) << 32) | (((uint64_t)(flags) & 0xf0ffu) << 40) |     \
	 (((uint64_t)(limit) & 0x000f0000u) << 32) | (((uint64_t)(base) & 0x00ffffffu) << 16) | \
	 ((uint64_t)(limit) & 0x0000ffffu))
static const uint64_t gdt[] = {
	0,
	GDT_ENTRY(0xa09b, 0, 0xfffff), /* code: present, DPL 0, execute/read, L=1, G=1 */
	GDT_ENTRY(0xc093, 0, 0xfffff), /* data: present, DPL 0, read/write, D/B=1, G=1 */
	GDT_ENTRY(0x808b, 0, 0xfffff), /* TSS: present, busy 64-bit TSS */
};

#define CR0_PE 0x1ull
#define CR0_ET 0x10ull
#define CR0_NE 0x20ull
#define CR0_NW 0x20000000ull
#define CR0_CD 0x40000000ull
#define CR0_PG 0x80000000ull
#define CR4_PAE 0x20ull
#define EFER_LME 0x100ull
#define EFER_LMA 0x400ull
#define PTE_P 0x1ull
#define PTE_RW 0x2ull
#define PTE_PS 0x80ull /* 2 MiB page at level 2 */

static __attribute__((noreturn, format(printf, 1, 2))) void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("ref-vmm: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

#define CHECK(call) ((call) < 0 ? die("%s: %s", #call, strerror(errno)), 0 : 0)

static uint8_t *ram;
static uint64_t ram_size;

/* Loads the PT_LOAD segments at their physical addresses; returns the entry point. The ELF is
 * trusted to be a guest, but every range is checked against the file and the RAM. */
static uint64_t load_elf(const char *path)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		die("%s: %s", path, strerror(errno));
	size_t size = (size_t)st.st_size;
	if (size < sizeof(Elf64_Ehdr))
		die("%s: too small for an ELF header", path);
	const uint8_t *file = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (file == MAP_FAILED)
		die("mmap %s: %s", path, strerror(errno));
	close(fd);

	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)file;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_ident[EI_DATA] != ELFDATA2LSB || eh->e_machine != EM_X86_64 || eh->e_type != ET_EXEC)
		die("%s: not an x86-64 ELF64 executable", path);
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phoff > size ||
	    (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > size - eh->e_phoff)
		die("%s: bad program header table", path);

	const Elf64_Phdr *ph = (const Elf64_Phdr *)(file + eh->e_phoff);
	int loaded = 0;
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		const Elf64_Phdr *p = &ph[i];
		if (p->p_type != PT_LOAD)
			continue;
		if (p->p_filesz > p->p_memsz || p->p_offset > size || p->p_filesz > size - p->p_offset)
			die("%s: segment %u lies outside the file", path, i);
		if (p->p_paddr < HYV_BOOT_LAYOUT_KERNEL_MIN || p->p_paddr > ram_size ||
		    p->p_memsz > ram_size - p->p_paddr)
			die("%s: segment %u at 0x%" PRIx64 "+0x%" PRIx64 " is outside [1 MiB, RAM end)", path, i,
			    (uint64_t)p->p_paddr, (uint64_t)p->p_memsz);
		memcpy(ram + p->p_paddr, file + p->p_offset, p->p_filesz);
		memset(ram + p->p_paddr + p->p_filesz, 0, p->p_memsz - p->p_filesz);
		loaded++;
	}
	if (!loaded)
		die("%s: no PT_LOAD segment", path);
	if (eh->e_entry < HYV_BOOT_LAYOUT_KERNEL_MIN || eh->e_entry >= ram_size)
		die("%s: entry point 0x%" PRIx64 " is outside the guest's RAM", path, (uint64_t)eh->e_entry);
	uint64_t entry = eh->e_entry;
	munmap((void *)file, size);
	return entry;
}

/* Start info, memory map and command line, as packages/vmm/src/loader/start-info.ts writes them:
 * one RAM entry covering all of guest memory. */
static void write_start_info(const char *cmdline)
{
	size_t len = strlen(cmdline);
	if (len >= HYV_BOOT_LAYOUT_CMDLINE_MAX)
		die("command line is %zu bytes; at most %u fit", len, HYV_BOOT_LAYOUT_CMDLINE_MAX - 1);
	memcpy(ram + HYV_BOOT_LAYOUT_CMDLINE, cmdline, len + 1);

	struct hvm_memmap_table_entry *map = (void *)(ram + HYV_BOOT_LAYOUT_MEMMAP);
	map[0] = (struct hvm_memmap_table_entry){ .addr = 0, .size = ram_size, .type = HYV_START_INFO_MEMMAP_TYPE_RAM };

	struct hvm_start_info *si = (void *)(ram + HYV_BOOT_LAYOUT_START_INFO);
	*si = (struct hvm_start_info){
		.magic = HYV_START_INFO_MAGIC,
		.version = HYV_START_INFO_VERSION,
		.cmdline_paddr = HYV_BOOT_LAYOUT_CMDLINE,
		.memmap_paddr = HYV_BOOT_LAYOUT_MEMMAP,
		.memmap_entries = 1,
	};
}

/* GDT and identity page tables for the first 4 GiB with 2 MiB pages. */
static void write_boot_tables(void)
{
	memcpy(ram + HYV_BOOT_LAYOUT_GDT, gdt, sizeof(gdt));
	uint64_t *pml4 = (uint64_t *)(ram + HYV_BOOT_LAYOUT_PML4);
	uint64_t *pdpt = (uint64_t *)(ram + HYV_BOOT_LAYOUT_PDPT);
	memset(pml4, 0, 0x1000);
	memset(pdpt, 0, 0x1000);
	pml4[0] = HYV_BOOT_LAYOUT_PDPT | PTE_P | PTE_RW;
	for (uint64_t t = 0; t < HYV_BOOT_LAYOUT_PD_COUNT; t++) {
		uint64_t pd_addr = HYV_BOOT_LAYOUT_PD + t * 0x1000;
		uint64_t *pd = (uint64_t *)(ram + pd_addr);
		pdpt[t] = pd_addr | PTE_P | PTE_RW;
		for (uint64_t i = 0; i < 512; i++)
			pd[i] = (t << 30) | (i << 21) | PTE_P | PTE_RW | PTE_PS;
	}
}

/* The hidden part of a segment register as the CPU caches it for one of our GDT entries. */
static struct kvm_segment segment(uint16_t selector, uint64_t entry)
{
	unsigned flags = (unsigned)(entry >> 40) & 0xf0ff;
	return (struct kvm_segment){
		.base = 0,
		.limit = 0xffffffff, /* 0xfffff with G=1 */
		.selector = selector,
		.type = flags & 0xf,
		.s = (flags >> 4) & 1,
		.dpl = (flags >> 5) & 3,
		.present = (flags >> 7) & 1,
		.avl = (flags >> 12) & 1,
		.l = (flags >> 13) & 1,
		.db = (flags >> 14) & 1,
		.g = (flags >> 15) & 1,
	};
}

static void setup_vcpu(int vcpu, uint64_t entry)
{
	struct kvm_sregs sregs;
	CHECK(ioctl(vcpu, KVM_GET_SREGS, &sregs)); /* keep the reset state of the fields we do not set */
	sregs.cs = segment(SEL_CODE64, gdt[1]);
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = segment(SEL_DATA, gdt[2]);
	sregs.tr = segment(SEL_TSS, gdt[3]);
	sregs.gdt.base = HYV_BOOT_LAYOUT_GDT;
	sregs.gdt.limit = sizeof(gdt) - 1;
	sregs.idt.base = 0;
	sregs.idt.limit = 0;
	sregs.cr0 = (sregs.cr0 | CR0_PE | CR0_ET | CR0_NE | CR0_PG) & ~(CR0_CD | CR0_NW); /* caches on */
	sregs.cr3 = HYV_BOOT_LAYOUT_PML4;
	sregs.cr4 |= CR4_PAE;
	sregs.efer |= EFER_LME | EFER_LMA;
	CHECK(ioctl(vcpu, KVM_SET_SREGS, &sregs));

	struct kvm_regs regs = {
		.rip = entry,
		.rsp = HYV_BOOT_LAYOUT_BOOT_STACK_TOP,
		.rbx = HYV_BOOT_LAYOUT_START_INFO, /* PVH: start info in RBX; Hyvisor also passes it in RSI */
		.rsi = HYV_BOOT_LAYOUT_START_INFO,
		.rflags = 0x2, /* reserved bit 1; IF=0 */
	};
	CHECK(ioctl(vcpu, KVM_SET_REGS, &regs));
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Ends the run on an exit the loop cannot handle, with enough state to find the cause. */
static __attribute__((noreturn)) void internal_error(int vcpu, const struct kvm_run *run, const char *what,
						      const char *detail_name, uint64_t detail)
{
	struct kvm_regs regs;
	uint64_t rip = ioctl(vcpu, KVM_GET_REGS, &regs) == 0 ? regs.rip : 0;
	char extra[64] = "";
	if (detail_name)
		snprintf(extra, sizeof(extra), ", %s 0x%" PRIx64, detail_name, detail);
	die("%s (exit reason %u%s) at RIP 0x%" PRIx64, what, run->exit_reason, extra, rip);
}

int main(int argc, char **argv)
{
	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: %s GUEST.elf \"CMDLINE\" [MEM_MIB]\n", argv[0]);
		return 1;
	}
	unsigned long mem_mib = 64;
	if (argc == 4) {
		char *end;
		mem_mib = strtoul(argv[3], &end, 10);
		/* At least 2 MiB (boot area + a kernel at 1 MiB); at most the 4 GiB the page tables map. */
		if (*argv[3] == '\0' || *end != '\0' || mem_mib < 2 || mem_mib > 4096)
			die("MEM_MIB must be a number from 2 to 4096, not \"%s\"", argv[3]);
	}
	ram_size = (uint64_t)mem_mib << 20;

	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		die("/dev/kvm: %s", strerror(errno));
	if (ioctl(kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
		die("unexpected KVM API version");
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	CHECK(vm);

	/* Anonymous memory is already zero: only what we write below is non-zero. */
	ram = mmap(NULL, ram_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (ram == MAP_FAILED)
		die("mmap %lu MiB: %s", mem_mib, strerror(errno));
	struct kvm_userspace_memory_region region = {
		.slot = 0, .guest_phys_addr = 0, .memory_size = ram_size, .userspace_addr = (uintptr_t)ram,
	};
	CHECK(ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region));

	uint64_t entry = load_elf(argv[1]);
	write_start_info(argv[2]);
	write_boot_tables();

	int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	CHECK(vcpu);
	int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	CHECK(run_size);
	struct kvm_run *run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		die("mmap kvm_run: %s", strerror(errno));
	setup_vcpu(vcpu, entry);

	uint8_t lcr = 0;             /* UART line control: with DLAB set, offset 0 is the divisor */
	uint64_t exits = 0;          /* writes to HYV_PORTS_BENCH */
	double start = 0, seconds = 0; /* summed over start/end marker pairs */
	int guest_code = -1;

	while (guest_code < 0) {
		if (ioctl(vcpu, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			die("KVM_RUN: %s", strerror(errno));
		}
		switch (run->exit_reason) {
		case KVM_EXIT_IO: {
			uint8_t *data = (uint8_t *)run + run->io.data_offset;
			uint16_t port = run->io.port;
			/* The first byte (or the whole value, for the exit port) is all we need; `count` > 1
			 * only for rep ins/outs. */
			if (run->io.direction == KVM_EXIT_IO_OUT) {
				if (port == HYV_PORTS_BENCH) {
					exits += run->io.count;
				} else if (port == HYV_PORTS_BENCH + 1) {
					if (data[0] == BENCH_MARK_START)
						start = now();
					else if (data[0] == BENCH_MARK_END)
						seconds += now() - start;
				} else if (port == HYV_PORTS_COM1 + UART_THR && !(lcr & UART_LCR_DLAB)) {
					fwrite(data, run->io.size, run->io.count, stderr);
				} else if (port == HYV_PORTS_COM1 + UART_LCR) {
					lcr = data[0];
				} else if (port == HYV_PORTS_DEBUG_EXIT) {
					uint32_t v = 0;
					memcpy(&v, data, run->io.size < 4 ? run->io.size : 4);
					guest_code = (int)(v & 0xff); /* a process exit status has 8 bits */
					fprintf(stderr, "ref-vmm: guest wrote %" PRIu32 " to the debug-exit port\n", v);
				}
				/* Other writes (UART setup, unknown ports) are ignored. */
			} else {
				size_t n = (size_t)run->io.size * run->io.count;
				if (port == HYV_PORTS_COM1 + UART_LSR)
					memset(data, UART_LSR_IDLE, n);
				else if (port >= HYV_PORTS_COM1 && port < HYV_PORTS_COM1 + 8)
					memset(data, 0, n);
				else
					memset(data, 0xff, n); /* nothing there: the bus floats high */
			}
			break;
		}
		case KVM_EXIT_HLT:
			guest_code = 0;
			break;
		case KVM_EXIT_SHUTDOWN:
			internal_error(vcpu, run, "guest shut down (triple fault)", NULL, 0);
		case KVM_EXIT_FAIL_ENTRY:
			internal_error(vcpu, run, "VM entry failed", "hardware reason", run->fail_entry.hardware_entry_failure_reason);
		case KVM_EXIT_INTERNAL_ERROR:
			internal_error(vcpu, run, "KVM internal error", "suberror", run->internal.suberror);
		case KVM_EXIT_MMIO:
			internal_error(vcpu, run, "MMIO access outside RAM", "address", run->mmio.phys_addr);
		default:
			internal_error(vcpu, run, "unexpected exit", NULL, 0);
		}
	}

	/* JSON has no NaN: without a single counted exit there is no per-exit cost. */
	if (exits)
		printf("{\"exits\":%" PRIu64 ",\"seconds\":%.9f,\"usPerExit\":%.4f}\n", exits, seconds,
		       seconds * 1e6 / (double)exits);
	else
		printf("{\"exits\":0,\"seconds\":%.9f,\"usPerExit\":null}\n", seconds);
	return guest_code;
}
