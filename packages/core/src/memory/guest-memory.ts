/**
 * Guest-physical memory as the VMM sees it: a set of non-overlapping regions, each backed by an
 * ArrayBuffer (for KVM an mmap'ed external buffer, shared with the guest without copies).
 *
 * Addresses handed in by the guest are hostile. Every accessor checks bounds and reports a
 * miss as a value ({@link GuestMemory.BAD} or `undefined`/`false`), never as an exception, so the
 * caller can turn it into a guest-visible error and the VMM keeps running.
 * @module
 */
import { WiringError } from '../errors.js';

/** One contiguous range of guest-physical memory. */
export interface MemoryRegion {
  /** Name for messages and telemetry (`ram`, `pt-pool`, …). */
  readonly name: string;
  /** Guest-physical address of the first byte. */
  readonly gpa: number;
  /** Size in bytes. */
  readonly size: number;
  /** Host backing store; byte `i` is guest-physical `gpa + i`. */
  readonly buffer: ArrayBuffer;
  /** True if the guest may read but not write it (writes exit as MMIO). */
  readonly readonly: boolean;
}

interface RegionEntry {
  readonly region: MemoryRegion;
  readonly end: number;
  readonly bytes: Uint8Array;
  readonly view: DataView;
}

/** Largest guest-physical address we model: 2^52 keeps every address an exact JS number. */
export const MAX_GPA = 2 ** 52;

/** Guest-physical memory: regions plus bounds-checked little-endian accessors. */
export class GuestMemory {
  /** Returned by the number-typed readers when the range is not inside one region. */
  static readonly BAD = -1;

  private entries: RegionEntry[] = [];

  /** All regions, sorted by address. */
  get regions(): readonly MemoryRegion[] {
    return this.entries.map((e) => e.region);
  }

  /** Total bytes of all regions. */
  get totalSize(): number {
    let n = 0;
    for (const e of this.entries) n += e.region.size;
    return n;
  }

  /**
   * Checks that a region `name` at `[gpa, gpa+size)` could be added: a positive size, an address
   * range below {@link MAX_GPA}, no overlap with an existing region. Throws {@link WiringError}
   * otherwise. Backends call it before they allocate host memory for a region, so a mistake
   * costs no mapping.
   */
  checkPlacement(name: string, gpa: number, size: number): void {
    if (!Number.isSafeInteger(gpa) || gpa < 0 || !Number.isSafeInteger(size) || size <= 0 || gpa + size > MAX_GPA) {
      throw new WiringError(`memory region ${name}: bad range gpa=${gpa} size=${size}`);
    }
    for (const e of this.entries) {
      if (gpa < e.end && e.region.gpa < gpa + size) {
        throw new WiringError(
          `memory region ${name} [${hex(gpa)}, ${hex(gpa + size)}) overlaps ${e.region.name} [${hex(e.region.gpa)}, ${hex(e.end)})`,
        );
      }
    }
  }

  /**
   * Adds a region. Overlap with an existing region, a size that does not match the buffer, or an
   * address beyond {@link MAX_GPA} is a wiring mistake and throws {@link WiringError}.
   */
  addRegion(region: MemoryRegion): void {
    const { name, gpa, size } = region;
    this.checkPlacement(name, gpa, size);
    if (region.buffer.byteLength < size) {
      throw new WiringError(`memory region ${name}: buffer has ${region.buffer.byteLength} bytes, region needs ${size}`);
    }
    const entry: RegionEntry = {
      region,
      end: gpa + size,
      bytes: new Uint8Array(region.buffer, 0, size),
      view: new DataView(region.buffer, 0, size),
    };
    this.entries.push(entry);
    this.entries.sort((a, b) => a.region.gpa - b.region.gpa);
  }

  /** The region holding `[gpa, gpa+len)` entirely, or undefined. */
  regionOf(gpa: number, len = 1): MemoryRegion | undefined {
    return this.find(gpa, len)?.region;
  }

  /** True if `[gpa, gpa+len)` lies inside one region. */
  contains(gpa: number, len = 1): boolean {
    return this.find(gpa, len) !== undefined;
  }

  /**
   * A view of `[gpa, gpa+len)` without copying, or undefined if the range is not inside one
   * region. Writes through the view reach the guest.
   */
  slice(gpa: number, len: number): Uint8Array | undefined {
    const e = this.find(gpa, len);
    if (!e) return undefined;
    const off = gpa - e.region.gpa;
    return e.bytes.subarray(off, off + len);
  }

  /** Reads a byte, or {@link GuestMemory.BAD}. */
  u8(gpa: number): number {
    const e = this.find(gpa, 1);
    return e ? e.view.getUint8(gpa - e.region.gpa) : GuestMemory.BAD;
  }

  /** Reads a little-endian 16-bit value, or {@link GuestMemory.BAD}. */
  u16(gpa: number): number {
    const e = this.find(gpa, 2);
    return e ? e.view.getUint16(gpa - e.region.gpa, true) : GuestMemory.BAD;
  }

  /** Reads a little-endian 32-bit value, or {@link GuestMemory.BAD}. */
  u32(gpa: number): number {
    const e = this.find(gpa, 4);
    return e ? e.view.getUint32(gpa - e.region.gpa, true) : GuestMemory.BAD;
  }

  /** Reads a little-endian 64-bit value, or undefined. */
  u64(gpa: number): bigint | undefined {
    const e = this.find(gpa, 8);
    return e ? e.view.getBigUint64(gpa - e.region.gpa, true) : undefined;
  }

  /** Writes a byte; false if out of range. */
  setU8(gpa: number, value: number): boolean {
    const e = this.find(gpa, 1);
    if (!e) return false;
    e.view.setUint8(gpa - e.region.gpa, value);
    return true;
  }

  /** Writes a little-endian 16-bit value; false if out of range. */
  setU16(gpa: number, value: number): boolean {
    const e = this.find(gpa, 2);
    if (!e) return false;
    e.view.setUint16(gpa - e.region.gpa, value, true);
    return true;
  }

  /** Writes a little-endian 32-bit value; false if out of range. */
  setU32(gpa: number, value: number): boolean {
    const e = this.find(gpa, 4);
    if (!e) return false;
    e.view.setUint32(gpa - e.region.gpa, value >>> 0, true);
    return true;
  }

  /** Writes a little-endian 64-bit value; false if out of range. */
  setU64(gpa: number, value: bigint): boolean {
    const e = this.find(gpa, 8);
    if (!e) return false;
    e.view.setBigUint64(gpa - e.region.gpa, BigInt.asUintN(64, value), true);
    return true;
  }

  /** Copies `data` into guest memory at `gpa`; false (nothing written) if out of range. */
  write(gpa: number, data: Uint8Array): boolean {
    const dst = this.slice(gpa, data.length);
    if (!dst) return false;
    dst.set(data);
    return true;
  }

  /** Copies `len` bytes out of guest memory, or undefined if out of range. */
  read(gpa: number, len: number): Uint8Array | undefined {
    return this.slice(gpa, len)?.slice();
  }

  /** Fills `[gpa, gpa+len)` with `value`; false if out of range. */
  fill(gpa: number, len: number, value = 0): boolean {
    const dst = this.slice(gpa, len);
    if (!dst) return false;
    dst.fill(value);
    return true;
  }

  private find(gpa: number, len: number): RegionEntry | undefined {
    // Hostile input: NaN, negatives, fractions and huge lengths all miss.
    if (!(gpa >= 0) || !(len >= 0) || !Number.isInteger(gpa) || !Number.isInteger(len)) return undefined;
    const entries = this.entries;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      if (gpa >= e.region.gpa && gpa + len <= e.end) return e;
    }
    return undefined;
  }
}

function hex(n: number): string {
  return '0x' + n.toString(16);
}
