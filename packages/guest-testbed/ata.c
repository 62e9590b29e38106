/* ata.c: native block I/O: the primary ATA channel, master drive, PIO with LBA28 and polling
 * (nIEN set: no IRQ 14). Data moves through the 32-bit data port with `rep outsl`/`rep insl`,
 * one sector per DRQ block. Every register access is a VM exit under HVM. */
#include "kernel.h"

#include "io.h"

#define ATA_DATA (HYV_PORTS_ATA_PRIMARY + 0)
#define ATA_ERROR (HYV_PORTS_ATA_PRIMARY + 1)
#define ATA_COUNT (HYV_PORTS_ATA_PRIMARY + 2)
#define ATA_LBA0 (HYV_PORTS_ATA_PRIMARY + 3)
#define ATA_LBA1 (HYV_PORTS_ATA_PRIMARY + 4)
#define ATA_LBA2 (HYV_PORTS_ATA_PRIMARY + 5)
#define ATA_DEVICE (HYV_PORTS_ATA_PRIMARY + 6)
#define ATA_STATUS (HYV_PORTS_ATA_PRIMARY + 7)  /* read: status (clears the interrupt) */
#define ATA_COMMAND (HYV_PORTS_ATA_PRIMARY + 7) /* write */
#define ATA_ALTSTATUS HYV_PORTS_ATA_CONTROL     /* read: status without side effects */
#define ATA_DEVCTL HYV_PORTS_ATA_CONTROL        /* write */

#define ST_ERR 0x01
#define ST_DRQ 0x08
#define ST_DF 0x20
#define ST_BSY 0x80
#define DEVCTL_NIEN 0x02
#define DEV_LBA_MASTER 0xe0
#define CMD_READ_SECTORS 0x20
#define CMD_WRITE_SECTORS 0x30
#define CMD_FLUSH_CACHE 0xe7
#define CMD_IDENTIFY 0xec
#define SECTOR_DWORDS (HYV_STORAGE_SECTOR_SIZE / 4)
#define MAX_PER_COMMAND 256u  /* a count register of 0 means 256 */
#define TIMEOUT_MS 5000u

static const char *error;
static uint64_t capacity;

static bool fail(const char *why)
{
	error = why;
	return false;
}

/* Waits until BSY clears (and DRQ sets, if want_drq); false on ERR/DF or timeout. */
static bool wait_ready(bool want_drq)
{
	uint64_t deadline = rdtsc() + time_ops->tsc_khz * TIMEOUT_MS;
	for (;;) {
		uint8_t s = inb(ATA_ALTSTATUS);
		if (!(s & ST_BSY)) {
			if (s & (ST_ERR | ST_DF))
				return fail((s & ST_DF) ? "device fault" : "ERR set in status");
			if (!want_drq || (s & ST_DRQ))
				return true;
		}
		if (rdtsc() > deadline)
			return fail("timeout waiting for BSY/DRQ");
	}
}

static void select_lba(uint32_t lba, uint32_t count)
{
	outb(ATA_DEVICE, (uint8_t)(DEV_LBA_MASTER | ((lba >> 24) & 0x0f)));
	outb(ATA_COUNT, (uint8_t)(count == MAX_PER_COMMAND ? 0 : count));
	outb(ATA_LBA0, (uint8_t)lba);
	outb(ATA_LBA1, (uint8_t)(lba >> 8));
	outb(ATA_LBA2, (uint8_t)(lba >> 16));
}

static bool ata_init(uint64_t *sectors)
{
	static uint32_t id[SECTOR_DWORDS];

	error = NULL;

	outb(ATA_DEVCTL, DEVCTL_NIEN);
	outb(ATA_DEVICE, 0xa0); /* master */
	uint8_t s = inb(ATA_STATUS);
	if (s == 0xff || s == 0)
		return fail("no ATA device on the primary channel");
	outb(ATA_COUNT, 0);
	outb(ATA_LBA0, 0);
	outb(ATA_LBA1, 0);
	outb(ATA_LBA2, 0);
	outb(ATA_COMMAND, CMD_IDENTIFY);
	if (inb(ATA_ALTSTATUS) == 0)
		return fail("no ATA device on the primary channel");
	if (!wait_ready(true))
		return false;
	rep_insl(ATA_DATA, id, SECTOR_DWORDS);
	(void)inb(ATA_STATUS);
	capacity = id[30]; /* words 60-61: LBA28 sector count */
	if (capacity == 0)
		return fail("IDENTIFY reports no LBA28 sectors");
	*sectors = capacity;
	return true;
}

static bool check_range(uint32_t lba, uint32_t count)
{
	if (count == 0 || lba >= capacity || count > capacity - lba || lba + count > (1u << 28))
		return fail("sector range outside the disk");
	return true;
}

static bool ata_write(uint32_t lba, uint32_t count, const void *buf)
{
	const uint8_t *p = buf;
	if (!check_range(lba, count))
		return false;
	while (count) {
		uint32_t n = count < MAX_PER_COMMAND ? count : MAX_PER_COMMAND;
		if (!wait_ready(false))
			return false;
		select_lba(lba, n);
		outb(ATA_COMMAND, CMD_WRITE_SECTORS);
		for (uint32_t i = 0; i < n; i++) {
			if (!wait_ready(true))
				return false;
			rep_outsl(ATA_DATA, p, SECTOR_DWORDS);
			p += HYV_STORAGE_SECTOR_SIZE;
		}
		if (!wait_ready(false))
			return false;
		(void)inb(ATA_STATUS); /* clears the interrupt condition */
		lba += n;
		count -= n;
	}
	outb(ATA_COMMAND, CMD_FLUSH_CACHE);
	bool ok = wait_ready(false);
	(void)inb(ATA_STATUS);
	return ok;
}

static bool ata_read(uint32_t lba, uint32_t count, void *buf)
{
	uint8_t *p = buf;
	if (!check_range(lba, count))
		return false;
	while (count) {
		uint32_t n = count < MAX_PER_COMMAND ? count : MAX_PER_COMMAND;
		if (!wait_ready(false))
			return false;
		select_lba(lba, n);
		outb(ATA_COMMAND, CMD_READ_SECTORS);
		for (uint32_t i = 0; i < n; i++) {
			if (!wait_ready(true))
				return false;
			rep_insl(ATA_DATA, p, SECTOR_DWORDS);
			p += HYV_STORAGE_SECTOR_SIZE;
		}
		(void)inb(ATA_STATUS);
		lba += n;
		count -= n;
	}
	return true;
}

static const char *ata_last_error(void)
{
	return error;
}

const struct io_ops io_ata = {
	.name = "ata",
	.init = ata_init,
	.write = ata_write,
	.read = ata_read,
	.last_error = ata_last_error,
};
