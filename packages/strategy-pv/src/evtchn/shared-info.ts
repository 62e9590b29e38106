/**
 * The shared-info page (`SharedInfo`): upcall flags, the pending selector, the pvclock record and
 * the event-channel pending and mask bitmaps, in a page of guest RAM the guest names with
 * `REGISTER_SHARED_INFO`. Bit `p` of a bitmap is bit `p & 7` of byte `p >> 3` (little-endian
 * words, as the guest's 64-bit bit operations see them). The VMM touches it only while the vCPU is
 * out of the guest.
 * @module
 */
import { HypercallError, SharedInfo, type GuestMemory } from '@hyvisor/core';
import { PAGE_SIZE, inRam, overlapsPool } from '../guest-ram.js';

/**
 * Validates `gpa` as a shared-info page: -EINVAL if not page aligned, -EFAULT if not a page of
 * guest RAM (the pool is not RAM); 0 if fine.
 */
export function checkSharedInfoGpa(ramSize: number, gpa: number): number {
  if (!Number.isSafeInteger(gpa) || gpa % PAGE_SIZE !== 0) return HypercallError.EINVAL;
  if (!inRam(ramSize, gpa, PAGE_SIZE) || overlapsPool(gpa, PAGE_SIZE)) return HypercallError.EFAULT;
  return 0;
}

/** A registered shared-info page: a view of guest memory, no copy. */
export class SharedInfoPage {
  /** The page's bytes (a view into guest RAM). */
  readonly bytes: Uint8Array;

  private constructor(readonly gpa: number, bytes: Uint8Array) {
    this.bytes = bytes;
  }

  /**
   * Maps the page at `gpa` (validated by {@link checkSharedInfoGpa}), zeroes it and sets every
   * mask bit. Undefined if the memory is not there.
   */
  static register(memory: GuestMemory, gpa: number): SharedInfoPage | undefined {
    const bytes = memory.slice(gpa, PAGE_SIZE);
    if (bytes === undefined) return undefined;
    bytes.fill(0);
    bytes.fill(0xff, SharedInfo.EVTCHN_MASK, SharedInfo.EVTCHN_MASK + SharedInfo.NR_EVENT_CHANNELS / 8);
    return new SharedInfoPage(gpa, bytes);
  }

  /** The page at `gpa` as it is (a restored snapshot: the guest's bitmaps stay); undefined outside RAM. */
  static attach(memory: GuestMemory, gpa: number): SharedInfoPage | undefined {
    const bytes = memory.slice(gpa, PAGE_SIZE);
    return bytes === undefined ? undefined : new SharedInfoPage(gpa, bytes);
  }

  isPending(port: number): boolean {
    return (this.bytes[SharedInfo.EVTCHN_PENDING + (port >> 3)]! & (1 << (port & 7))) !== 0;
  }

  setPending(port: number): void {
    this.bytes[SharedInfo.EVTCHN_PENDING + (port >> 3)]! |= 1 << (port & 7);
  }

  clearPending(port: number): void {
    this.bytes[SharedInfo.EVTCHN_PENDING + (port >> 3)]! &= ~(1 << (port & 7));
  }

  isMasked(port: number): boolean {
    return (this.bytes[SharedInfo.EVTCHN_MASK + (port >> 3)]! & (1 << (port & 7))) !== 0;
  }

  setMasked(port: number, masked: boolean): void {
    const i = SharedInfo.EVTCHN_MASK + (port >> 3);
    if (masked) this.bytes[i]! |= 1 << (port & 7);
    else this.bytes[i]! &= ~(1 << (port & 7));
  }

  /** Sets bit `word` of `PENDING_SEL` (word = port / 64). */
  selectWord(word: number): void {
    this.bytes[SharedInfo.PENDING_SEL + (word >> 3)]! |= 1 << (word & 7);
  }

  get upcallPending(): boolean {
    return this.bytes[SharedInfo.UPCALL_PENDING] !== 0;
  }

  set upcallPending(on: boolean) {
    this.bytes[SharedInfo.UPCALL_PENDING] = on ? 1 : 0;
  }

  get upcallMasked(): boolean {
    return this.bytes[SharedInfo.UPCALL_MASK] !== 0;
  }
}
