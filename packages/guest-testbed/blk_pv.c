/* blk_pv.c: the PV io facet: the PV block ring (docs/pv-abi.md, "PV block ring"), a virtio split
 * virtqueue carrying virtio-blk requests. BLK_SETUP(desc, avail, used, QSIZE) once; then each
 * read or write fills the ring with a batch of requests (a chain each: 16-byte header, the data
 * buffers by guest-physical page, a 1-byte status), publishes them with one avail.idx store,
 * notifies ONCE (PV_BLK_NOTIFY; an ioeventfd where the backend has one, so the VMM sees it at the
 * next exit) and sleeps in SCHED_OP(BLOCK) (the irq facet's wait) until the completion event;
 * without event channels it sets NO_INTERRUPT and polls the used ring with SCHED_OP(YIELD).
 * Every status byte is checked. Writes end with a FLUSH request, as the ATA driver's FLUSH CACHE.
 * The disk's size comes from BLK_INFO (virtio-blk's config `capacity`), asked once at init; no
 * request goes past it. */
#include "pv.h"

#include "fmt.h"
#include "io.h"
#include "uart.h"

#define QSIZE 64u
#define MAX_REQS (QSIZE / 3u)
#define REQ_MAX_BYTES (64u * 1024u) /* data per request: 128 sectors */
#define SECTOR HYV_STORAGE_SECTOR_SIZE
#define TIMEOUT_MS 5000u

_Static_assert((QSIZE & (QSIZE - 1)) == 0 && QSIZE <= HYV_VIRTQ_MAX_QUEUE_SIZE, "queue size");

struct vq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};
_Static_assert(sizeof(struct vq_desc) == HYV_VIRTQ_DESC_SIZE, "descriptor size");

struct vq_avail {
	uint16_t flags, idx;
	uint16_t ring[QSIZE];
	uint16_t used_event;
};

struct vq_used_elem {
	uint32_t id, len;
};

struct vq_used {
	uint16_t flags, idx;
	struct vq_used_elem ring[QSIZE];
	uint16_t avail_event;
};

struct blk_hdr {
	uint32_t type, reserved;
	uint64_t sector;
};
_Static_assert(sizeof(struct blk_hdr) == HYV_VIRTQ_BLK_HEADER_SIZE, "request header size");

/* One page of .bss (RAM, identity-mapped: gpa = va, never the page-table pool). */
static struct {
	struct vq_desc desc[QSIZE];
	struct vq_avail avail __attribute__((aligned(64)));
	struct vq_used used __attribute__((aligned(64)));
	struct blk_hdr hdr[MAX_REQS] __attribute__((aligned(16)));
	uint8_t status[MAX_REQS];
} q __attribute__((aligned(4096)));
_Static_assert(sizeof(q) <= 4096, "the ring fits a page");

static bool ready;
static bool use_events;
static uint64_t capacity; /* sectors, from BLK_INFO */
static uint32_t port;
static uint16_t avail_idx, used_seen;
static const char *error;
static char error_buf[96];
uint64_t blk_events, blk_batches;

static bool fail(const char *why)
{
	error = why;
	return false;
}

static bool fail_status(uint8_t st, uint32_t type)
{
	const char *what = type == HYV_VIRTQ_BLK_T_IN ? "read" : type == HYV_VIRTQ_BLK_T_OUT ? "write" : "flush";
	const char *s = st == HYV_VIRTQ_BLK_S_IOERR ? "IOERR" : st == HYV_VIRTQ_BLK_S_UNSUPP ? "UNSUPP" : "not written";
	size_t n = 0;
	const char *parts[] = { "PV block ", what, " request status ", s };
	for (unsigned i = 0; i < 4; i++)
		for (const char *p = parts[i]; *p && n < sizeof(error_buf) - 1; p++)
			error_buf[n++] = *p;
	error_buf[n] = '\0';
	return fail(error_buf);
}

static void blk_event(unsigned line)
{
	(void)line;
	blk_events++; /* the waiter looks at the used ring */
}

static bool blk_init(uint64_t *sectors)
{
	error = NULL;
	if (ready) {
		*sectors = capacity;
		return true;
	}
	long cap = hypercall0(HYV_HYPERCALL_BLK_INFO);
	if (cap < 0)
		pv_fail(HYV_HYPERCALL_BLK_INFO, NULL, cap, 0, 0, 0, 0, HYV_GUEST_EXIT_CODE_CHECK_FAILED);
	capacity = (uint64_t)cap;
	*sectors = capacity;
	if (capacity == 0)
		return fail("BLK_INFO reports a disk of 0 sectors");
	use_events = irq_ops == &irq_evtchn;
	q.avail.flags = use_events ? 0 : HYV_VIRTQ_AVAIL_F_NO_INTERRUPT;
	long rc = hypercall5(HYV_HYPERCALL_BLK_SETUP, (uint64_t)q.desc, (uint64_t)&q.avail, (uint64_t)&q.used, QSIZE, 0);
	if (rc <= 0)
		pv_fail(HYV_HYPERCALL_BLK_SETUP, NULL, rc, 3, (uint64_t)q.desc, (uint64_t)&q.avail, (uint64_t)&q.used,
			HYV_GUEST_EXIT_CODE_CHECK_FAILED);
	port = (uint32_t)rc;
	if (use_events) {
		evtchn_attach(IRQ_LINE_BLK, port);
		set_irq_handler(IRQ_LINE_BLK, blk_event);
		irq_ops->unmask(IRQ_LINE_BLK);
	}
	avail_idx = used_seen = 0;
	ready = true;
	return true;
}

/* Publishes the nreq chains queued at avail.ring[avail_idx..], notifies once, waits until the
 * VMM has used them all, checks the ids and every status byte. */
static bool submit(unsigned nreq, const uint16_t *heads, uint32_t type)
{
	__asm__ volatile("" : : : "memory"); /* descriptors, then the index (x86 keeps store order) */
	avail_idx = (uint16_t)(avail_idx + nreq);
	*(volatile uint16_t *)&q.avail.idx = avail_idx;
	__asm__ volatile("" : : : "memory");
	outw(HYV_PORTS_PV_BLK_NOTIFY, 0); /* queue index 0 */
	blk_batches++;

	uint64_t deadline = rdtsc() + time_ops->tsc_khz * TIMEOUT_MS;
	while (*(volatile uint16_t *)&q.used.idx != avail_idx) {
		if (use_events) {
			irq_ops->wait();
		} else {
			long rc = hypercall1(HYV_HYPERCALL_SCHED_OP, HYV_SCHED_OP_YIELD);
			if (rc != 0)
				pv_fail(HYV_HYPERCALL_SCHED_OP, "YIELD", rc, 1, HYV_SCHED_OP_YIELD, 0, 0,
					HYV_GUEST_EXIT_CODE_CHECK_FAILED);
		}
		if (*(volatile uint16_t *)&q.used.idx != avail_idx && rdtsc() > deadline)
			return fail("timeout: the VMM did not complete the PV block requests within 5 s");
	}
	__asm__ volatile("" : : : "memory");

	bool seen[MAX_REQS] = { false };
	for (uint16_t i = used_seen; i != avail_idx; i++) {
		uint32_t id = q.used.ring[i % QSIZE].id;
		unsigned k = 0;
		while (k < nreq && (heads[k] != id || seen[k]))
			k++;
		if (k == nreq)
			return fail("the used ring names a chain that was not submitted");
		seen[k] = true;
	}
	used_seen = avail_idx;
	for (unsigned k = 0; k < nreq; k++) {
		if (q.status[k] != HYV_VIRTQ_BLK_S_OK)
			return fail_status(q.status[k], q.hdr[k].type);
	}
	(void)type;
	return true;
}

/* Header + status descriptors for request k at descriptor d; returns the head. */
static uint16_t start_request(unsigned k, unsigned d, uint32_t type, uint64_t sector)
{
	q.hdr[k].type = type;
	q.hdr[k].reserved = 0;
	q.hdr[k].sector = sector;
	q.status[k] = 0xff; /* the VMM overwrites it */
	q.desc[d].addr = (uint64_t)&q.hdr[k];
	q.desc[d].len = HYV_VIRTQ_BLK_HEADER_SIZE;
	q.desc[d].flags = HYV_VIRTQ_DESC_F_NEXT;
	q.desc[d].next = (uint16_t)(d + 1);
	return (uint16_t)d;
}

static void end_request(unsigned k, unsigned d)
{
	q.desc[d].addr = (uint64_t)&q.status[k];
	q.desc[d].len = 1;
	q.desc[d].flags = HYV_VIRTQ_DESC_F_WRITE;
	q.desc[d].next = 0;
}

/* Sectors [lba, lba + count) from/to the buffer at va (kernel or current-process address,
 * sector-aligned), in batches of up to MAX_REQS requests of up to REQ_MAX_BYTES. */
static bool blk_rw(uint32_t type, uint32_t lba, uint32_t count, uint64_t va)
{
	uint16_t data_flags = type == HYV_VIRTQ_BLK_T_IN ? HYV_VIRTQ_DESC_F_WRITE : 0;
	uint64_t bytes = (uint64_t)count * SECTOR, done = 0;

	error = NULL;
	if (!ready)
		return fail("PV block ring not set up");
	if (!count)
		return fail("no sectors");
	if (va & (SECTOR - 1))
		return fail("buffer not sector-aligned");
	if (lba >= capacity || count > capacity - lba)
		return fail("sector range outside the disk");
	while (done < bytes) {
		uint16_t heads[MAX_REQS];
		unsigned d = 0, nreq = 0;
		while (done < bytes && nreq < MAX_REQS && d + 3 <= QSIZE) {
			unsigned head = start_request(nreq, d, type, lba + done / SECTOR);
			d++;
			uint64_t req = 0;
			while (done < bytes && req < REQ_MAX_BYTES && d + 2 <= QSIZE) {
				uint64_t pa;
				if (!mm_virt_to_phys(va + done, &pa))
					return fail("buffer not mapped");
				uint64_t piece = PAGE_SIZE - (pa & (PAGE_SIZE - 1));
				if (piece > bytes - done)
					piece = bytes - done;
				if (piece > REQ_MAX_BYTES - req)
					piece = REQ_MAX_BYTES - req;
				struct vq_desc *prev = &q.desc[d - 1];
				if (d - 1 != head && prev->addr + prev->len == pa) {
					prev->len += (uint32_t)piece; /* physically contiguous: one descriptor */
				} else {
					q.desc[d].addr = pa;
					q.desc[d].len = (uint32_t)piece;
					q.desc[d].flags = (uint16_t)(HYV_VIRTQ_DESC_F_NEXT | data_flags);
					q.desc[d].next = (uint16_t)(d + 1);
					d++;
				}
				done += piece;
				req += piece;
			}
			end_request(nreq, d);
			d++;
			q.avail.ring[(uint16_t)(avail_idx + nreq) % QSIZE] = (uint16_t)head;
			heads[nreq++] = (uint16_t)head;
		}
		if (!submit(nreq, heads, type))
			return false;
	}
	return true;
}

static bool blk_flush(void)
{
	uint16_t head = start_request(0, 0, HYV_VIRTQ_BLK_T_FLUSH, 0);
	end_request(0, 1);
	q.avail.ring[avail_idx % QSIZE] = head;
	return submit(1, &head, HYV_VIRTQ_BLK_T_FLUSH);
}

static bool blk_write(uint32_t lba, uint32_t count, const void *buf)
{
	return blk_rw(HYV_VIRTQ_BLK_T_OUT, lba, count, (uint64_t)buf) && blk_flush();
}

static bool blk_read(uint32_t lba, uint32_t count, void *buf)
{
	return blk_rw(HYV_VIRTQ_BLK_T_IN, lba, count, (uint64_t)buf);
}

static const char *blk_last_error(void)
{
	return error;
}

const struct io_ops io_pvblk = {
	.name = "pv-blk",
	.init = blk_init,
	.write = blk_write,
	.read = blk_read,
	.last_error = blk_last_error,
};
