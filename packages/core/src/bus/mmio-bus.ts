/**
 * The MMIO bus: non-overlapping guest-physical ranges, found by binary search.
 * @module
 */
import { WiringError } from '../errors.js';
import type { MmioDevice } from './device.js';

/** A device range on the MMIO bus. */
export interface MmioRange {
  readonly name: string;
  readonly base: number;
  readonly length: number;
  readonly device: MmioDevice;
}

/** Routes MMIO accesses to devices. */
export class MmioBus {
  private readonly sorted: MmioRange[] = [];

  /** Registered ranges sorted by base address. */
  get ranges(): readonly MmioRange[] {
    return this.sorted;
  }

  /** Gives `[base, base+length)` to `device`. Throws {@link WiringError} on overlap or a bad range. */
  register(name: string, base: number, length: number, device: MmioDevice): void {
    if (!Number.isSafeInteger(base) || !Number.isSafeInteger(length) || base < 0 || length < 1) {
      throw new WiringError(`mmio device ${name}: bad range base=${base} length=${length}`);
    }
    for (const r of this.sorted) {
      if (base < r.base + r.length && r.base < base + length) {
        throw new WiringError(
          `mmio device ${name} [${hex(base)}, ${hex(base + length)}) overlaps ${r.name} [${hex(r.base)}, ${hex(r.base + r.length)})`,
        );
      }
    }
    this.sorted.push({ name, base, length, device });
    this.sorted.sort((a, b) => a.base - b.base);
  }

  /** The range containing `gpa`, or undefined. */
  find(gpa: number): MmioRange | undefined {
    const s = this.sorted;
    let lo = 0;
    let hi = s.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const r = s[mid]!;
      if (gpa < r.base) hi = mid - 1;
      else if (gpa >= r.base + r.length) lo = mid + 1;
      else return r;
    }
    return undefined;
  }

  /** Reads from `gpa`; -1 if no device owns it. */
  read(gpa: number, size: number): number {
    const r = this.find(gpa);
    if (!r) return -1;
    const v = r.device.read(gpa - r.base, size);
    // A negative value is a signed 32-bit result (JS bitwise ops), not "unowned".
    return v < 0 ? v >>> 0 : v;
  }

  /** Writes to `gpa`; false if no device owns it. */
  write(gpa: number, size: number, value: number): boolean {
    const r = this.find(gpa);
    if (!r) return false;
    r.device.write(gpa - r.base, size, value);
    return true;
  }
}

function hex(n: number): string {
  return '0x' + n.toString(16);
}
