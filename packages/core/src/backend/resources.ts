/**
 * Checks every backend makes the same way, written once: a resource used after disposal, and a
 * memory region that cannot be placed where it is asked for.
 * @module
 */
import { BackendError } from '../errors.js';
import type { GuestMemory } from '../memory/guest-memory.js';
import type { BackendInfo, RegionOptions } from './backend.js';

/** Backends map guest memory in whole pages of this size (KVM's granularity; the emulator follows it). */
export const REGION_ALIGNMENT = 4096;

/**
 * Throws {@link BackendError} `"<operation>: <what> is disposed"` if `resource` was disposed.
 * `what` names it for the message (`VM vm0`, `vCPU 1`). Cheap enough for every entry point but
 * the hot path, which tests `isDisposed` inline.
 */
export function assertLive(resource: { readonly isDisposed: boolean }, operation: string, what: string): void {
  if (resource.isDisposed) throw new BackendError(`${operation}: ${what} is disposed`, { operation });
}

/**
 * Checks a region `name` at `[gpa, gpa+size)` before a backend allocates it: a valid, free range
 * in `memory` ({@link GuestMemory.checkPlacement}, `WiringError`), whole pages of
 * {@link REGION_ALIGNMENT} and, for a read-only region, capability `readonly-memory`
 * ({@link BackendError}, naming `info.description`'s backend).
 */
export function checkRegion(memory: GuestMemory, info: BackendInfo, name: string, gpa: number, size: number, options: RegionOptions = {}): void {
  memory.checkPlacement(name, gpa, size);
  if (gpa % REGION_ALIGNMENT !== 0 || size % REGION_ALIGNMENT !== 0) {
    throw new BackendError(`memory region ${name}: backend ${info.name} maps whole 4 KiB pages; gpa 0x${gpa.toString(16)} and size 0x${size.toString(16)} must be multiples of 0x1000`, { operation: 'addRegion', values: { name, gpa, size } });
  }
  if (options.readonly === true && !info.capabilities.has('readonly-memory')) {
    throw new BackendError(`memory region ${name}: backend ${info.name} (${info.flavour}) lacks the readonly-memory capability`, { operation: 'addRegion', values: { name, readonly: true } });
  }
}
