/* blk_virtio.c: native block I/O through a virtio-blk device on PCI (virtio 1.x, modern
 * interface): the probe walks bus 0 through configuration mechanism #1, places BAR 4 itself (no
 * firmware does it), finds the common/notify/device structures through the vendor capabilities,
 * negotiates VERSION_1 only and runs one split virtqueue. It polls: avail.flags asks for no
 * interrupt, and Hyvisor completes a request during the notify write's exit, so the used ring
 * is already up to date when the write returns (a bounded wait covers devices that are slower).
 * Every constant is the generated ABI header's (HYV_PCI_*, HYV_VIRTIO_PCI_*, HYV_VIRTQ_*). */
#include "kernel.h"

#include "io.h"

#define SECTOR HYV_STORAGE_SECTOR_SIZE
#define QSIZE 16u
#define MAX_DATA_DESCS (QSIZE - 2u)   /* header and status take two */
#define TIMEOUT_MS 5000u
/* Where the probe puts BAR 4: below the LAPIC/IOAPIC and inside the kernel's 4 GiB identity map. */
#define BAR4_BASE 0xfe000000u
#define VIRTIO_BAR 4u

struct vq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};
_Static_assert(sizeof(struct vq_desc) == HYV_VIRTQ_DESC_SIZE, "descriptor size");

static struct {
	struct vq_desc desc[QSIZE];
	struct {
		uint16_t flags, idx, ring[QSIZE], used_event;
	} avail __attribute__((aligned(64)));
	struct {
		uint16_t flags, idx;
		struct {
			uint32_t id, len;
		} ring[QSIZE];
		uint16_t avail_event;
	} used __attribute__((aligned(64)));
	struct {
		uint32_t type, reserved;
		uint64_t sector;
	} hdr __attribute__((aligned(16)));
	uint8_t status;
} q __attribute__((aligned(4096)));
_Static_assert(sizeof(q) <= 4096, "the queue fits a page");

static const char *error;
static uint64_t capacity;
static volatile uint8_t *common, *device_cfg, *notify;
static uint16_t avail_idx;
static bool ready;

static bool fail(const char *why)
{
	error = why;
	return false;
}

static uint32_t cfg_read(unsigned dev, unsigned reg)
{
	outl(HYV_PCI_CONFIG_ADDRESS, HYV_PCI_CONFIG_ENABLE | (dev << 11) | (reg & 0xfcu));
	return inl(HYV_PCI_CONFIG_DATA) >> (8 * (reg & 3u));
}

static void cfg_write(unsigned dev, unsigned reg, uint32_t value)
{
	outl(HYV_PCI_CONFIG_ADDRESS, HYV_PCI_CONFIG_ENABLE | (dev << 11) | (reg & 0xfcu));
	outl(HYV_PCI_CONFIG_DATA, value);
}

static void w8(volatile uint8_t *base, unsigned off, uint8_t v) { *(volatile uint8_t *)(base + off) = v; }
static void w16(volatile uint8_t *base, unsigned off, uint16_t v) { *(volatile uint16_t *)(base + off) = v; }
static void w32(volatile uint8_t *base, unsigned off, uint32_t v) { *(volatile uint32_t *)(base + off) = v; }
static uint8_t r8(volatile uint8_t *base, unsigned off) { return *(volatile uint8_t *)(base + off); }
static uint16_t r16(volatile uint8_t *base, unsigned off) { return *(volatile uint16_t *)(base + off); }
static uint32_t r32(volatile uint8_t *base, unsigned off) { return *(volatile uint32_t *)(base + off); }

static void w64(volatile uint8_t *base, unsigned off, uint64_t v)
{
	w32(base, off, (uint32_t)v);
	w32(base, off + 4, (uint32_t)(v >> 32));
}

/* The slot of the first virtio-blk function on bus 0, or 0 if none (slot 0 is the host bridge). */
static unsigned find_device(void)
{
	const uint32_t want = (uint32_t)(HYV_VIRTIO_PCI_DEVICE_BASE + HYV_VIRTIO_PCI_TYPE_BLOCK) << 16 | HYV_VIRTIO_PCI_VENDOR;
	for (unsigned dev = 1; dev < 32; dev++)
		if (cfg_read(dev, HYV_PCI_VENDOR_ID) == want)
			return dev;
	return 0;
}

/* Sizes BAR 4 (64-bit memory), places it at BAR4_BASE and turns memory decoding on. */
static bool place_bar(unsigned dev)
{
	unsigned reg = HYV_PCI_BAR0 + 4 * VIRTIO_BAR;
	uint32_t type = cfg_read(dev, reg);
	if ((type & 0x7u) != 0x4u)
		return fail("virtio BAR 4 is not a 64-bit memory BAR");
	cfg_write(dev, reg, 0xffffffffu);
	uint32_t size = ~(cfg_read(dev, reg) & ~0xfu) + 1u;
	if (size == 0 || (BAR4_BASE & (size - 1)) != 0 || size > 0x100000u)
		return fail("virtio BAR 4 has a size this probe cannot place");
	cfg_write(dev, reg, BAR4_BASE);
	cfg_write(dev, reg + 4, 0);
	cfg_write(dev, HYV_PCI_COMMAND, cfg_read(dev, HYV_PCI_COMMAND) | HYV_PCI_COMMAND_MEMORY);
	return true;
}

/* Finds the common, notify and device structures (all in BAR 4 with Hyvisor's transport). */
static bool find_structures(unsigned dev, uint32_t *notify_multiplier)
{
	common = device_cfg = notify = 0;
	for (unsigned at = cfg_read(dev, HYV_PCI_CAPABILITIES_POINTER) & 0xffu, n = 0; at && n < 48; at = (cfg_read(dev, at) >> 8) & 0xffu, n++) {
		if ((cfg_read(dev, at) & 0xffu) != HYV_PCI_CAP_VENDOR)
			continue;
		unsigned type = cfg_read(dev, at + HYV_VIRTIO_PCI_CAP_TYPE) & 0xffu;
		unsigned bar = cfg_read(dev, at + HYV_VIRTIO_PCI_CAP_BAR) & 0xffu;
		uint32_t offset = cfg_read(dev, at + HYV_VIRTIO_PCI_CAP_OFFSET);
		if (bar != VIRTIO_BAR || offset >= 0x100000u)
			continue;
		volatile uint8_t *p = (volatile uint8_t *)(uintptr_t)(BAR4_BASE + offset);
		if (type == HYV_VIRTIO_PCI_CAP_COMMON)
			common = p;
		else if (type == HYV_VIRTIO_PCI_CAP_DEVICE)
			device_cfg = p;
		else if (type == HYV_VIRTIO_PCI_CAP_NOTIFY) {
			notify = p;
			*notify_multiplier = cfg_read(dev, at + HYV_VIRTIO_PCI_CAP_NOTIFY_MULTIPLIER);
		}
	}
	return common && device_cfg && notify ? true : fail("virtio capabilities missing (common, notify or device)");
}

static bool virtio_init(uint64_t *sectors)
{
	uint32_t multiplier = 0;
	error = NULL;
	unsigned dev = find_device();
	if (!dev)
		return fail("no virtio-blk device on PCI bus 0");
	if (!place_bar(dev) || !find_structures(dev, &multiplier))
		return false;
	w8(common, HYV_VIRTIO_PCI_COMMON_DEVICE_STATUS, 0); /* reset */
	w8(common, HYV_VIRTIO_PCI_COMMON_DEVICE_STATUS, HYV_VIRTIO_PCI_STATUS_ACKNOWLEDGE | HYV_VIRTIO_PCI_STATUS_DRIVER);
	w32(common, HYV_VIRTIO_PCI_COMMON_DEVICE_FEATURE_SELECT, 1);
	if (!(r32(common, HYV_VIRTIO_PCI_COMMON_DEVICE_FEATURE) & (1u << (HYV_VIRTIO_PCI_F_VERSION_1 - 32))))
		return fail("the device does not offer VIRTIO_F_VERSION_1");
	w32(common, HYV_VIRTIO_PCI_COMMON_DRIVER_FEATURE_SELECT, 0);
	w32(common, HYV_VIRTIO_PCI_COMMON_DRIVER_FEATURE, 0);
	w32(common, HYV_VIRTIO_PCI_COMMON_DRIVER_FEATURE_SELECT, 1);
	w32(common, HYV_VIRTIO_PCI_COMMON_DRIVER_FEATURE, 1u << (HYV_VIRTIO_PCI_F_VERSION_1 - 32));
	uint8_t status = HYV_VIRTIO_PCI_STATUS_ACKNOWLEDGE | HYV_VIRTIO_PCI_STATUS_DRIVER | HYV_VIRTIO_PCI_STATUS_FEATURES_OK;
	w8(common, HYV_VIRTIO_PCI_COMMON_DEVICE_STATUS, status);
	if (!(r8(common, HYV_VIRTIO_PCI_COMMON_DEVICE_STATUS) & HYV_VIRTIO_PCI_STATUS_FEATURES_OK))
		return fail("the device refused our features (FEATURES_OK not kept)");
	w16(common, HYV_VIRTIO_PCI_COMMON_QUEUE_SELECT, 0);
	if (r16(common, HYV_VIRTIO_PCI_COMMON_QUEUE_SIZE) < QSIZE)
		return fail("virtio queue 0 is smaller than this driver's");
	w16(common, HYV_VIRTIO_PCI_COMMON_QUEUE_SIZE, QSIZE);
	w16(common, HYV_VIRTIO_PCI_COMMON_QUEUE_MSIX_VECTOR, HYV_VIRTIO_PCI_NO_VECTOR);
	q.avail.flags = HYV_VIRTQ_AVAIL_F_NO_INTERRUPT;
	w64(common, HYV_VIRTIO_PCI_COMMON_QUEUE_DESC, (uint64_t)(uintptr_t)q.desc);
	w64(common, HYV_VIRTIO_PCI_COMMON_QUEUE_DRIVER, (uint64_t)(uintptr_t)&q.avail);
	w64(common, HYV_VIRTIO_PCI_COMMON_QUEUE_DEVICE, (uint64_t)(uintptr_t)&q.used);
	w16(common, HYV_VIRTIO_PCI_COMMON_QUEUE_ENABLE, 1);
	notify += r16(common, HYV_VIRTIO_PCI_COMMON_QUEUE_NOTIFY_OFF) * multiplier;
	w8(common, HYV_VIRTIO_PCI_COMMON_DEVICE_STATUS, status | HYV_VIRTIO_PCI_STATUS_DRIVER_OK);
	if (r8(common, HYV_VIRTIO_PCI_COMMON_DEVICE_STATUS) & HYV_VIRTIO_PCI_STATUS_DEVICE_NEEDS_RESET)
		return fail("the device needs a reset after set-up (it refused the queue)");
	capacity = r32(device_cfg, HYV_VIRTIO_PCI_BLK_CFG_CAPACITY) | (uint64_t)r32(device_cfg, HYV_VIRTIO_PCI_BLK_CFG_CAPACITY + 4) << 32;
	if (capacity == 0)
		return fail("virtio-blk reports a disk of 0 sectors");
	avail_idx = 0;
	ready = true;
	*sectors = capacity;
	return true;
}

/* Publishes the chain at descriptor 0, notifies, waits for the used entry, checks the status. */
static bool submit(void)
{
	q.status = 0xff;
	q.avail.ring[avail_idx % QSIZE] = 0;
	__asm__ volatile("" : : : "memory");
	avail_idx++;
	*(volatile uint16_t *)&q.avail.idx = avail_idx;
	__asm__ volatile("" : : : "memory");
	w16(notify, 0, 0);
	uint64_t deadline = rdtsc() + time_ops->tsc_khz * TIMEOUT_MS;
	while (*(volatile uint16_t *)&q.used.idx != avail_idx)
		if (rdtsc() > deadline)
			return fail("timeout: the virtio-blk request was not completed within 5 s");
	__asm__ volatile("" : : : "memory");
	if (r8(common, HYV_VIRTIO_PCI_COMMON_DEVICE_STATUS) & HYV_VIRTIO_PCI_STATUS_DEVICE_NEEDS_RESET)
		return fail("the virtio-blk device needs a reset (it refused a request chain)");
	return *(volatile uint8_t *)&q.status == HYV_VIRTQ_BLK_S_OK ? true : fail("virtio-blk request failed (status not OK)");
}

/* One request: header, the buffer's pages (up to MAX_DATA_DESCS of them), status. */
static bool request(uint32_t type, uint64_t lba, uint64_t va, uint64_t bytes)
{
	uint16_t data_flags = type == HYV_VIRTQ_BLK_T_IN ? HYV_VIRTQ_DESC_F_WRITE : 0;
	q.hdr.type = type;
	q.hdr.reserved = 0;
	q.hdr.sector = lba;
	q.desc[0] = (struct vq_desc){ (uint64_t)(uintptr_t)&q.hdr, sizeof(q.hdr), HYV_VIRTQ_DESC_F_NEXT, 1 };
	unsigned d = 1;
	for (uint64_t done = 0; done < bytes; d++) {
		uint64_t pa;
		if (!mm_virt_to_phys(va + done, &pa))
			return fail("buffer not mapped");
		uint64_t piece = PAGE_SIZE - (pa & (PAGE_SIZE - 1));
		if (piece > bytes - done)
			piece = bytes - done;
		q.desc[d] = (struct vq_desc){ pa, (uint32_t)piece, (uint16_t)(HYV_VIRTQ_DESC_F_NEXT | data_flags), (uint16_t)(d + 1) };
		done += piece;
	}
	q.desc[d] = (struct vq_desc){ (uint64_t)(uintptr_t)&q.status, 1, HYV_VIRTQ_DESC_F_WRITE, 0 };
	return submit();
}

static bool rw(uint32_t type, uint32_t lba, uint32_t count, uint64_t va)
{
	error = NULL;
	if (!ready)
		return fail("virtio-blk not set up");
	if (!count || lba >= capacity || count > capacity - lba)
		return fail("sector range outside the disk");
	if (va & (SECTOR - 1))
		return fail("buffer not sector-aligned");
	/* At most MAX_DATA_DESCS - 1 pages per request, so an unaligned start still fits. */
	const uint64_t per_request = (uint64_t)(MAX_DATA_DESCS - 1) * PAGE_SIZE;
	for (uint64_t done = 0, bytes = (uint64_t)count * SECTOR; done < bytes;) {
		uint64_t n = bytes - done < per_request ? bytes - done : per_request;
		if (!request(type, lba + done / SECTOR, va + done, n))
			return false;
		done += n;
	}
	return true;
}

static bool virtio_write(uint32_t lba, uint32_t count, const void *buf)
{
	if (!rw(HYV_VIRTQ_BLK_T_OUT, lba, count, (uint64_t)buf))
		return false;
	q.hdr.type = HYV_VIRTQ_BLK_T_FLUSH;
	q.hdr.reserved = 0;
	q.hdr.sector = 0;
	q.desc[0] = (struct vq_desc){ (uint64_t)(uintptr_t)&q.hdr, sizeof(q.hdr), HYV_VIRTQ_DESC_F_NEXT, 1 };
	q.desc[1] = (struct vq_desc){ (uint64_t)(uintptr_t)&q.status, 1, HYV_VIRTQ_DESC_F_WRITE, 0 };
	return submit();
}

static bool virtio_read(uint32_t lba, uint32_t count, void *buf)
{
	return rw(HYV_VIRTQ_BLK_T_IN, lba, count, (uint64_t)buf);
}

static const char *virtio_last_error(void)
{
	return error;
}

/* True if bus 0 has a virtio-blk function (the probe the facet selection uses). */
bool virtio_blk_present(void)
{
	return find_device() != 0;
}

const struct io_ops io_virtio = {
	.name = "virtio-blk",
	.init = virtio_init,
	.write = virtio_write,
	.read = virtio_read,
	.last_error = virtio_last_error,
};
