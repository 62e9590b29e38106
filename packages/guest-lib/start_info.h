/* start_info.h: the PVH boot information (Xen's `struct hvm_start_info`, version 1) that the VMM
 * passes in RBX/RSI. The field offsets are checked against the generated ABI header. */
#ifndef GUEST_START_INFO_H
#define GUEST_START_INFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hyvisor_abi.h"

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;   /* version >= 1 */
	uint32_t memmap_entries; /* version >= 1 */
	uint32_t reserved;
};

struct hvm_memmap_table_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};

_Static_assert(sizeof(struct hvm_start_info) == HYV_START_INFO_SIZE, "start info size");
_Static_assert(offsetof(struct hvm_start_info, magic) == HYV_START_INFO_OFF_MAGIC, "magic");
_Static_assert(offsetof(struct hvm_start_info, version) == HYV_START_INFO_OFF_VERSION, "version");
_Static_assert(offsetof(struct hvm_start_info, flags) == HYV_START_INFO_OFF_FLAGS, "flags");
_Static_assert(offsetof(struct hvm_start_info, nr_modules) == HYV_START_INFO_OFF_NR_MODULES, "nr_modules");
_Static_assert(offsetof(struct hvm_start_info, modlist_paddr) == HYV_START_INFO_OFF_MODLIST_PADDR, "modlist");
_Static_assert(offsetof(struct hvm_start_info, cmdline_paddr) == HYV_START_INFO_OFF_CMDLINE_PADDR, "cmdline");
_Static_assert(offsetof(struct hvm_start_info, rsdp_paddr) == HYV_START_INFO_OFF_RSDP_PADDR, "rsdp");
_Static_assert(offsetof(struct hvm_start_info, memmap_paddr) == HYV_START_INFO_OFF_MEMMAP_PADDR, "memmap");
_Static_assert(offsetof(struct hvm_start_info, memmap_entries) == HYV_START_INFO_OFF_MEMMAP_ENTRIES, "entries");
_Static_assert(sizeof(struct hvm_memmap_table_entry) == HYV_START_INFO_MEMMAP_ENTRY_SIZE, "memmap entry");

#define MAX_RAM_REGIONS 16

/* What the guest needs from the start info, validated and copied out. */
struct boot_info {
	uint64_t ram_bytes; /* sum of the RAM entries of the memory map */
	unsigned ram_regions;
	struct {
		uint64_t base, size;
	} ram[MAX_RAM_REGIONS]; /* the RAM entries (the first MAX_RAM_REGIONS of them) */
	size_t cmdline_len;
	char cmdline[HYV_BOOT_LAYOUT_CMDLINE_MAX]; /* NUL-terminated copy */
};

/* Checks the magic and fills `out`; false if `si` is not a start info. */
bool start_info_parse(const struct hvm_start_info *si, struct boot_info *out);

#endif /* GUEST_START_INFO_H */
