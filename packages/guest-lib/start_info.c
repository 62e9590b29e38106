/* start_info.c: reads the PVH start info. The VMM's identity map covers the first 4 GiB only,
 * so pointers above that are treated as absent rather than followed into a page fault (which,
 * with no IDT, would be a triple fault). */
#include "start_info.h"

#define IDENTITY_MAPPED_LIMIT (4ull << 30)

static bool mapped(uint64_t paddr, uint64_t len)
{
	return paddr != 0 && paddr < IDENTITY_MAPPED_LIMIT && len <= IDENTITY_MAPPED_LIMIT - paddr;
}

bool start_info_parse(const struct hvm_start_info *si, struct boot_info *out)
{
	out->ram_bytes = 0;
	out->ram_regions = 0;
	out->cmdline_len = 0;
	out->cmdline[0] = '\0';

	if (!mapped((uintptr_t)si, sizeof(*si)) || si->magic != HYV_START_INFO_MAGIC)
		return false;

	/* Copy the command line, bounded: the VMM reserves CMDLINE_MAX bytes including the NUL. */
	if (mapped(si->cmdline_paddr, HYV_BOOT_LAYOUT_CMDLINE_MAX)) {
		const char *src = (const char *)(uintptr_t)si->cmdline_paddr;
		size_t n = 0;
		while (n < HYV_BOOT_LAYOUT_CMDLINE_MAX - 1 && src[n]) {
			out->cmdline[n] = src[n];
			n++;
		}
		out->cmdline[n] = '\0';
		out->cmdline_len = n;
	}

	/* The memory map only exists from version 1 of the structure on. */
	if (si->version >= 1 && si->memmap_entries != 0 &&
	    mapped(si->memmap_paddr, (uint64_t)si->memmap_entries * sizeof(struct hvm_memmap_table_entry))) {
		const struct hvm_memmap_table_entry *e =
			(const struct hvm_memmap_table_entry *)(uintptr_t)si->memmap_paddr;
		for (uint32_t i = 0; i < si->memmap_entries; i++) {
			if (e[i].type != HYV_START_INFO_MEMMAP_TYPE_RAM)
				continue;
			out->ram_bytes += e[i].size;
			if (out->ram_regions < MAX_RAM_REGIONS) {
				out->ram[out->ram_regions].base = e[i].addr;
				out->ram[out->ram_regions].size = e[i].size;
				out->ram_regions++;
			}
		}
	}
	return true;
}
