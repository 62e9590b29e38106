/**
 * `@hyvisor/vmm`: builds and runs a Hyvisor machine: x86-64 boot state, the ELF loader and boot
 * information, the run loop, composition from config, and the built-in `minimal` strategy.
 *
 * The entry exports what composing a VMM or writing a plugin needs: `Machine` and its devices,
 * composition from config (`createMachineFromConfig`, the plans), boards by hand (`attachBoard`,
 * `attachDevices`), the ELF and bzImage/Linux loaders, `tinyElf` for hand-assembled guests, and the `minimal` strategy. Boot-protocol
 * layouts (zero page, setup header offsets), CPUID building and start-info writing stay internal:
 * `Machine.loadKernel` uses them.
 * The runtime names are pinned in `docs/public-surface.json` (a test fails on any change).
 * @packageDocumentation
 */
export * from './loader/elf.js';
export type { MemmapEntry } from './loader/start-info.js';
export { isBzImage, parseBzImage, type BzImage } from './loader/bzimage.js';
export { E820, loadLinux, type E820Entry, type LinuxBoot, type LinuxBootInput } from './loader/linux.js';
// (./machine/cpuid.js: internal only)
export { tinyElf } from './loader/tiny-elf.js';
export * from './machine/machine.js';
export type { LinuxImages } from './machine/kernel.js';
export * from './strategy/minimal.js';
export * from './compose.js';
export * from './devices/attach.js';
export {
  PartialRestoreError, machineFacts, readSnapshot,
  type LoadedSnapshot, type RestoreOptions, type SnapshotFacts, type SnapshotInfo,
} from './snapshot/snapshot.js';
export { SNAPSHOT_FORMAT, SNAPSHOT_VERSION } from './snapshot/format.js';
