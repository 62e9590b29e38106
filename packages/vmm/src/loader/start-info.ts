/**
 * The guest's boot-information page: the PVH `hvm_start_info` layout (Xen's, which QEMU and
 * Linux also use), with a memory map and a command line. The guest finds it through RBX.
 * @module
 */
import { BootLayout, StartInfo, WiringError, type GuestMemory } from '@hyvisor/core';

/** One memory-map entry. */
export interface MemmapEntry {
  readonly addr: number;
  readonly size: number;
  readonly type: number;
}

/** Writes start info, memory map and command line for a guest with `ramSize` bytes of RAM at 0. */
export function writeStartInfo(memory: GuestMemory, ramSize: number, cmdline: string): void {
  const bytes = new TextEncoder().encode(cmdline);
  if (bytes.length >= BootLayout.CMDLINE_MAX) {
    throw new WiringError(`command line is ${bytes.length} bytes; at most ${BootLayout.CMDLINE_MAX - 1} fit`);
  }
  memory.fill(BootLayout.CMDLINE, BootLayout.CMDLINE_MAX, 0);
  memory.write(BootLayout.CMDLINE, bytes);

  // Low RAM below the boot area is reported as RAM too: the guest may reuse it once booted.
  const map: MemmapEntry[] = [{ addr: 0, size: ramSize, type: StartInfo.MEMMAP_TYPE_RAM }];
  map.forEach((e, i) => {
    const at = BootLayout.MEMMAP + i * StartInfo.MEMMAP_ENTRY_SIZE;
    memory.setU64(at, BigInt(e.addr));
    memory.setU64(at + 8, BigInt(e.size));
    memory.setU32(at + 16, e.type);
    memory.setU32(at + 20, 0);
  });

  const s = BootLayout.START_INFO;
  memory.fill(s, StartInfo.SIZE, 0);
  memory.setU32(s + StartInfo.OFF_MAGIC, StartInfo.MAGIC);
  memory.setU32(s + StartInfo.OFF_VERSION, StartInfo.VERSION);
  memory.setU64(s + StartInfo.OFF_CMDLINE_PADDR, BigInt(BootLayout.CMDLINE));
  memory.setU64(s + StartInfo.OFF_MEMMAP_PADDR, BigInt(BootLayout.MEMMAP));
  memory.setU32(s + StartInfo.OFF_MEMMAP_ENTRIES, map.length);
}
