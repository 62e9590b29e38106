/* workloads.c: the command line, the system calls, and the six workloads of the experiments.
 *   cpu, syscall, memory, io   ring-3 processes (user.c), timed between two SYS_MARK calls
 *   irq, time                  ring 0, timed directly
 * Each brackets its measured part with writes of 1 and 2 to the BENCH marker port (BENCH+1),
 * from ring 0, and prints one JSON line. */
#include "kernel.h"

#include "fmt.h"
#include "io.h"
#include "pv.h"
#include "uart.h"
#include "user.h"

#define BENCH_MARKER (HYV_PORTS_BENCH + 1)
#define MARK_START 1
#define MARK_END 2
#define TICK_HZ 1000u
#define STALLS 3u
#define STALL_MS 50u
#define IRQ_TIMEOUT_MS 1000u

struct result;
typedef void (*run_fn)(uint64_t n, struct result *r);

struct workload {
	const char *name;
	uint64_t default_iterations; /* ~0.5-3 s each on kvm_pvm */
	uint64_t max_iterations;
	run_fn run;
};

/* What a workload hands back for its JSON line. */
struct result {
	const char *check;  /* "ok", "failed", "skipped" */
	const char *reason; /* for skipped / failed, or NULL */
	uint64_t ns;
};

static void run_cpu(uint64_t n, struct result *r);
static void run_syscall(uint64_t n, struct result *r);
static void run_memory(uint64_t n, struct result *r);
static void run_irq(uint64_t n, struct result *r);
static void run_io(uint64_t n, struct result *r);
static void run_time(uint64_t n, struct result *r);

static const struct workload workloads[] = {
	{ "cpu", 100000, 100000000, run_cpu },       /* 4 KiB fill + CRC per op, ring 3: ~10 us */
	{ "syscall", 100000, 1000000000, run_syscall }, /* ~14 us per op on kvm_pvm (int3 gate) */
	{ "memory", 2000, 100000000, run_memory },   /* ~600 us per op on kvm_pvm */
	{ "irq", 10000, 100000000, run_irq },
	{ "io", 1024, 16384, run_io },               /* sectors written and read back */
	{ "time", 1000, 600000, run_time },          /* ticks at 1000 Hz */
};
#define NWORKLOADS (sizeof(workloads) / sizeof(workloads[0]))

/* ------------------------------------------------------------------ command line */

static char words[HYV_BOOT_LAYOUT_CMDLINE_MAX];
static bool selected[NWORKLOADS];
static uint64_t iterations; /* 0 = each workload's default */

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool bad(const char *what, const char *word)
{
	uart_puts("testbed: ");
	uart_puts(what);
	uart_puts(": ");
	uart_puts(word);
	uart_puts(" (usage: workload=cpu|syscall|memory|irq|io|time|all[,...] iterations=N)\n");
	return false;
}

/* Selects the comma-separated workload names in list. */
static bool select_workloads(char *list, const char *word)
{
	char *name = list;
	for (;;) {
		char *end = name;
		while (*end && *end != ',')
			end++;
		char sep = *end;
		*end = '\0';
		bool found = false;
		if (str_eq(name, "all")) {
			for (unsigned i = 0; i < NWORKLOADS; i++)
				selected[i] = true;
			found = true;
		}
		for (unsigned i = 0; i < NWORKLOADS && !found; i++) {
			if (str_eq(name, workloads[i].name)) {
				selected[i] = true;
				found = true;
			}
		}
		if (!found)
			return bad("unknown workload", word);
		if (!sep)
			return true;
		name = end + 1;
	}
}

bool workloads_parse(const char *cmdline)
{
	size_t len = str_len(cmdline);
	bool any = false;

	for (size_t i = 0; i < len; i++)
		words[i] = is_blank(cmdline[i]) ? '\0' : cmdline[i];
	words[len] = '\0';

	for (size_t i = 0; i < len;) {
		char *word = &words[i];
		const char *value;
		if (!*word) {
			i++;
			continue;
		}
		i += str_len(word) + 1;
		if ((value = str_after(word, "workload=")) != NULL) {
			static char list[HYV_BOOT_LAYOUT_CMDLINE_MAX];
			size_t n = str_len(value);
			for (size_t k = 0; k <= n; k++)
				list[k] = value[k];
			if (!select_workloads(list, word))
				return false;
			any = true;
		} else if ((value = str_after(word, "iterations=")) != NULL) {
			if (!parse_u64(value, &iterations) || iterations == 0)
				return bad("invalid number in argument", word);
		} else {
			return bad("unknown argument", word);
		}
	}
	if (!any) {
		for (unsigned i = 0; i < NWORKLOADS; i++)
			selected[i] = true;
	}
	for (unsigned i = 0; i < NWORKLOADS; i++) {
		if (selected[i] && iterations > workloads[i].max_iterations) {
			uart_puts("testbed: iterations=");
			put_u64(iterations);
			uart_puts(" is more than workload ");
			uart_puts(workloads[i].name);
			uart_puts(" allows (");
			put_u64(workloads[i].max_iterations);
			uart_puts(")\n");
			return false;
		}
	}
	return true;
}

/* ------------------------------------------------------------------ measurement */

static struct {
	uint64_t t0, t1;
	struct mm_stats mm0, mm1;
	uint64_t hc0, hc1; /* hypercalls made (PV facets only) */
} mark HOT_DATA;

HOT_TEXT static void bench_mark(uint64_t which)
{
	if (which == MARK_START) {
		mark.mm0 = mm_stats;
		if (pv_active)
			mark.hc0 = pv_calls_total();
		outb(BENCH_MARKER, MARK_START);
		mark.t0 = rdtsc();
	} else if (which == MARK_END) {
		mark.t1 = rdtsc();
		outb(BENCH_MARKER, MARK_END);
		mark.mm1 = mm_stats;
		if (pv_active)
			mark.hc1 = pv_calls_total();
	}
}

static uint64_t marked_ns(void)
{
	return mark.t1 > mark.t0 ? tsc_to_ns(mark.t1 - mark.t0) : 0;
}

/* JSON output, one line per workload, assembled in a buffer: a workload's process or announcement
 * may print while it runs, the line goes out in one piece afterwards. */
static char jbuf[1024];
static size_t jlen;

static void jputs(const char *s)
{
	while (*s && jlen < sizeof(jbuf) - 1)
		jbuf[jlen++] = *s++;
}

static void jput_u64(uint64_t v)
{
	char buf[FMT_U64_MAX];
	jputs(fmt_u64(buf, v, 10));
}

static void json_key(const char *key)
{
	jputs(",\"");
	jputs(key);
	jputs("\":");
}

static void json_u64(const char *key, uint64_t v)
{
	json_key(key);
	jput_u64(v);
}

static void json_i64(const char *key, int64_t v)
{
	json_key(key);
	if (v < 0) {
		jputs("-");
		jput_u64((uint64_t)-v);
	} else {
		jput_u64((uint64_t)v);
	}
}

static void json_str(const char *key, const char *s)
{
	json_key(key);
	jputs("\"");
	jputs(s);
	jputs("\"");
}

static void json_hex(const char *key, uint64_t v)
{
	char buf[FMT_U64_MAX];
	json_key(key);
	jputs("\"0x");
	jputs(fmt_u64(buf, v, 16));
	jputs("\"");
}

/* value / 1000 with three decimals */
static void json_milli(const char *key, uint64_t milli)
{
	char buf[FMT_U64_MAX];
	json_key(key);
	jput_u64(milli / 1000);
	jputs(".");
	fmt_u64(buf, 1000 + milli % 1000, 10);
	jputs(buf + 1);
}

/* ------------------------------------------------------------------ processes, system calls */

extern uint64_t user_main_va;
uint64_t user_main_va HOT_DATA = (uint64_t)&user_main; /* above 4 GiB: a 64-bit data word */
static struct kctx kctx HOT_DATA;

HOT_TEXT uint64_t syscall_dispatch(uint64_t nr, uint64_t a0, uint64_t a1, uint64_t a2)
{
	if (nr == SYS_NULL)
		return 0;
	switch (nr) {
	case SYS_WRITE:
		if (!user_range_ok(a0, a1))
			return (uint64_t)-1;
		uart_write((const char *)a0, a1);
		return a1;
	case SYS_MAP:
		return as_map();
	case SYS_UNMAP:
		return (uint64_t)(int64_t)as_unmap(a0);
	case SYS_EXIT:
		leave_user(&kctx, a0);
	case SYS_MARK:
		bench_mark(a0);
		return 0;
	case SYS_BLK_WRITE:
	case SYS_BLK_READ:
		if (a1 > UINT32_MAX / HYV_STORAGE_SECTOR_SIZE || a0 > UINT32_MAX ||
		    !user_range_ok(a2, a1 * HYV_STORAGE_SECTOR_SIZE))
			return (uint64_t)-1;
		if (nr == SYS_BLK_WRITE)
			return io_ops->write((uint32_t)a0, (uint32_t)a1, (const void *)a2) ? 0 : (uint64_t)-1;
		return io_ops->read((uint32_t)a0, (uint32_t)a1, (void *)a2) ? 0 : (uint64_t)-1;
	default:
		return (uint64_t)-1;
	}
}

/* Runs a ring-3 program in a fresh address space; returns its exit status. */
static uint64_t run_process(enum user_program prog, uint64_t n, int64_t *frames_leaked)
{
	/* Frames, and with direct paging the page-table pool pages too. */
	uint64_t before = mm_stats.frames_free - mm_stats.pool_used;
	mark.t0 = mark.t1 = 0;
	as_create();
	/* Entered like a call: RSP = 8 mod 16 at the first instruction. */
	uint64_t status = cpu_ops->enter_user(&kctx, user_main_va, user_stack_top() - 8, cpu_ops->gate, prog, n);
	as_destroy();
	*frames_leaked = (int64_t)(before - (mm_stats.frames_free - mm_stats.pool_used));
	return status;
}

static void check_status(uint64_t status, int64_t leaked, struct result *r)
{
	r->ns = marked_ns();
	if (status & USTATUS_FAILED) {
		r->check = "failed";
		r->reason = "self-check of the ring-3 program";
	} else if (leaked) {
		r->check = "failed";
		r->reason = "frames leaked";
	} else if (!r->ns) {
		r->check = "failed";
		r->reason = "no measurement marks";
	}
}

static void run_cpu(uint64_t n, struct result *r)
{
	int64_t leaked;
	uint64_t st = run_process(UPROG_CPU, n, &leaked);
	check_status(st, leaked, r);
	json_u64("bytes", n * 4096);
	json_hex("checksum", st & 0xffffffffu);
}

static void run_syscall(uint64_t n, struct result *r)
{
	int64_t leaked;
	uint64_t st = run_process(UPROG_SYSCALL, n, &leaked);
	check_status(st, leaked, r);
	json_str("gate", cpu_ops->gate == GATE_INT3 ? "int3" : "syscall");
}

static void run_memory(uint64_t n, struct result *r)
{
	int64_t leaked;
	uint64_t st = run_process(UPROG_MEMORY, n, &leaked);
	check_status(st, leaked, r);
	uint64_t faults = mark.mm1.faults - mark.mm0.faults;
	if (!(st & USTATUS_FAILED) && faults != n) {
		r->check = "failed";
		r->reason = "page faults != iterations";
	}
	json_u64("faults", faults);
	json_u64("pteWrites", mark.mm1.pte_writes - mark.mm0.pte_writes);
	json_u64("tlbFlushes", mark.mm1.flushes - mark.mm0.flushes);
	json_i64("framesLeaked", leaked);
	if (st & USTATUS_FAILED)
		json_u64("errors", st & 0xffffffffu);
}

static void run_io(uint64_t n, struct result *r)
{
	uint64_t sectors;
	if (!io_ops->init(&sectors)) {
		r->check = "skipped";
		r->reason = io_ops->last_error();
		return;
	}
	if (sectors && n > sectors) { /* 0: the facet cannot tell the disk's size (none does today) */
		r->check = "failed";
		r->reason = "the disk is smaller than iterations sectors";
		return;
	}
	int64_t leaked;
	uint64_t st = run_process(UPROG_IO, n, &leaked);
	check_status(st, leaked, r);
	if (st & USTATUS_FAILED)
		r->reason = io_ops->last_error() ? io_ops->last_error() : "CRC mismatch";
	uint64_t bytes = n * HYV_STORAGE_SECTOR_SIZE * 2; /* written + read */
	json_u64("sectors", n);
	json_u64("bytes", bytes);
	/* MB/s (10^6 bytes) = bytes * 1000 / ns, with three decimals */
	json_milli("MBps", r->ns ? bytes * 1000000u / r->ns : 0);
	json_hex("crc", st & 0xffffffffu);
	if (sectors)
		json_u64("diskSectors", sectors);
}

/* ------------------------------------------------------------------ ring-0 workloads */

static bool pic_ok;
static volatile uint64_t irq_count HOT_DATA, ticks HOT_DATA;
static volatile uint32_t irq_last HOT_DATA, irq_sum HOT_DATA;

HOT_TEXT static void irq_test_handler(unsigned irq)
{
	(void)irq;
	uint32_t v = inl(HYV_PORTS_IRQ_TEST); /* acknowledge: the device lowers its line */
	irq_last = v;
	irq_sum += v;
	irq_count++;
}

static void run_irq(uint64_t n, struct result *r)
{
	if (!host.hyvisor || !pic_ok) {
		r->check = "skipped";
		r->reason = !host.hyvisor ? "no IRQ_TEST device (not Hyvisor)" : "no interrupt controller";
		return;
	}
	uint32_t base = inl(HYV_PORTS_IRQ_TEST);
	if (base == 0xffffffffu) {
		r->check = "skipped";
		r->reason = "no IRQ_TEST device";
		return;
	}
	irq_count = 0;
	irq_sum = 0;
	irq_last = base;
	set_irq_handler(HYV_IRQ_IRQ_TEST, irq_test_handler);
	irq_ops->unmask(HYV_IRQ_IRQ_TEST);

	bool timeout = false;
	bench_mark(MARK_START);
	for (uint64_t i = 0; i < n && !timeout; i++) {
		uint64_t deadline = rdtsc() + time_ops->tsc_khz * IRQ_TIMEOUT_MS;
		outl(HYV_PORTS_IRQ_TEST, 1); /* raise */
		while (irq_count <= i) {
			irq_ops->wait();
			if (irq_count <= i && rdtsc() > deadline) {
				timeout = true;
				break;
			}
		}
	}
	bench_mark(MARK_END);
	irq_ops->mask(HYV_IRQ_IRQ_TEST);
	set_irq_handler(HYV_IRQ_IRQ_TEST, NULL);

	r->ns = marked_ns();
	if (timeout) {
		r->check = "failed";
		r->reason = "interrupt did not arrive within 1 s";
	} else if (irq_count != n || (irq_last - base != n && irq_sum != n)) {
		r->check = "failed";
		r->reason = "count read from IRQ_TEST does not match";
	}
	json_u64("interrupts", irq_count);
	json_u64("deviceCount", irq_last - base);
}

HOT_TEXT static void tick_handler(unsigned irq)
{
	(void)irq;
	ticks++;
}

static void run_time(uint64_t n, struct result *r)
{
	if (!pic_ok) {
		r->check = "skipped";
		r->reason = "no interrupt controller";
		return;
	}
	/* Stalls need Hyvisor's STALL device; elsewhere (QEMU) the ticks run undisturbed. */
	unsigned stalls = host.hyvisor ? STALLS : 0;
	uint64_t at[STALLS];
	for (unsigned s = 0; s < STALLS; s++)
		at[s] = n * (s + 1) / (STALLS + 1);

	uart_puts("testbed: time: ");
	put_u64(n);
	uart_puts(" ticks of ");
	uart_puts(time_ops->tick_name);
	uart_puts(" at 1000 Hz; ");
	if (stalls) {
		uart_puts("the VMM stalls the vCPU for 50 ms at ticks ");
		for (unsigned s = 0; s < stalls; s++) {
			put_u64(at[s]);
			uart_puts(s + 1 < stalls ? ", " : "\n");
		}
	} else {
		uart_puts("no stalls (no Hyvisor STALL device)\n");
	}

	/* The time facet installs the handler and unmasks its line (PIT: IRQ 0; pvclock: VIRQ_TIMER). */
	if (!time_ops->start_periodic(TICK_HZ, tick_handler)) {
		r->check = "failed";
		r->reason = "cannot program the timer";
		return;
	}
	ticks = 0;
	while (ticks == 0) /* start on a tick edge */
		irq_ops->wait();

	ticks = 0;
	unsigned s = 0;
	bench_mark(MARK_START);
	uint64_t clock0 = time_ops->ticks_are_time ? 0 : time_ops->now_ns();
	while (ticks < n) {
		if (s < stalls && ticks >= at[s]) {
			outl(HYV_PORTS_STALL, STALL_MS);
			s++;
			continue;
		}
		irq_ops->wait();
	}
	uint64_t clock1 = time_ops->ticks_are_time ? 0 : time_ops->now_ns();
	bench_mark(MARK_END);
	time_ops->stop();

	uint64_t got = ticks;
	uint64_t host_ns = marked_ns();
	const uint64_t period = 1000000000u / TICK_HZ;
	/* The guest's idea of the elapsed time: a tick-driven kernel (PIT) counts ticks; a PV kernel
	 * reads its clock (pvclock). Lost ticks: what the guest's own clock says it should have had
	 * (for the PIT: the TSC, as host time) minus the ticks handled. */
	uint64_t guest_ns = time_ops->ticks_are_time ? got * period : clock1 - clock0;
	uint64_t clock_ns = time_ops->ticks_are_time ? host_ns : clock1 - clock0;
	r->ns = host_ns;
	json_u64("hz", TICK_HZ);
	json_u64("ticks", got);
	json_u64("stalls", stalls);
	json_u64("stallMs", stalls * STALL_MS);
	json_u64("hostUs", host_ns / 1000);
	json_u64("guestUs", guest_ns / 1000);
	json_i64("driftUs", ((int64_t)guest_ns - (int64_t)host_ns) / 1000);
	json_i64("lostTicks", (int64_t)(clock_ns / period) - (int64_t)got);
}

/* ------------------------------------------------------------------ runner */

bool workloads_run(void)
{
	bool all_ok = true;

	pic_ok = irq_ops->init();
	for (unsigned i = 0; i < NWORKLOADS; i++) {
		if (!selected[i])
			continue;
		const struct workload *w = &workloads[i];
		uint64_t n = iterations ? iterations : w->default_iterations;
		struct result r = { .check = "ok", .reason = NULL, .ns = 0 };
		mark.hc0 = mark.hc1 = 0;

		uart_puts("testbed: running ");
		uart_puts(w->name);
		uart_puts(", ");
		put_u64(n);
		uart_puts(" iterations\n");

		static char extra[sizeof(jbuf)];
		jlen = 0;
		w->run(n, &r); /* its extra fields go to jbuf */
		size_t extra_len = jlen;
		for (size_t k = 0; k < extra_len; k++)
			extra[k] = jbuf[k];

		jlen = 0;
		jputs("{\"workload\":\"");
		jputs(w->name);
		jputs("\"");
		json_u64("iterations", n);
		json_u64("ns", r.ns);
		json_milli("nsPerOp", r.ns * 1000 / n);
		json_str("check", r.check);
		if (r.reason)
			json_str("reason", r.reason);
		for (size_t k = 0; k < extra_len && jlen < sizeof(jbuf) - 1; k++)
			jbuf[jlen++] = extra[k];
		if (pv_active && r.ns)
			json_u64("hypercalls", mark.hc1 - mark.hc0);
		jputs("}\n");
		uart_write(jbuf, jlen);
		if (str_eq(r.check, "failed"))
			all_ok = false;
	}
	return all_ok;
}
