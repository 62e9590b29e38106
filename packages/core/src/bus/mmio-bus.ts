/**
 * The MMIO bus: non-overlapping guest-physical ranges, found by binary search.
 * @module
 */
import { WiringError } from '../errors.js';
import type { Disposable } from '../lifecycle/disposable.js';
import type { MmioDevice } from './device.js';

/** A device range on the MMIO bus. */
export interface MmioRange {
  /** Registration order (0, 1, …): a dense index for per-range tables such as the telemetry probes' exit counts. */
  readonly index: number;
  readonly name: string;
  readonly base: number;
  readonly length: number;
  readonly device: MmioDevice;
}

/** Routes MMIO accesses to devices. */
export class MmioBus {
  private readonly sorted: MmioRange[] = [];
  private readonly byIndex: MmioRange[] = [];

  /** Registered ranges sorted by base address (unregistered ones left out). */
  get ranges(): readonly MmioRange[] {
    return this.sorted;
  }

  /**
   * Gives `[base, base+length)` to `device`. Throws {@link WiringError} on overlap or a bad range.
   * Disposing the result frees the range (a PCI BAR the guest moves or disables); its
   * {@link MmioRange.index} is never reused, so per-index telemetry stays unambiguous.
   */
  register(name: string, base: number, length: number, device: MmioDevice): Disposable {
    if (!Number.isSafeInteger(base) || !Number.isSafeInteger(length) || base < 0 || length < 1) {
      throw new WiringError(`mmio device ${name}: bad range base=${base} length=${length}`, 'MmioBus.register', { name, base, length });
    }
    for (const r of this.sorted) {
      if (base < r.base + r.length && r.base < base + length) {
        throw new WiringError(
          `mmio device ${name} [${hex(base)}, ${hex(base + length)}) overlaps ${r.name} [${hex(r.base)}, ${hex(r.base + r.length)})`,
          'MmioBus.register', { name, base, length, owner: r.name },
        );
      }
    }
    const range: MmioRange = { index: this.byIndex.length, name, base, length, device };
    this.byIndex.push(range);
    this.sorted.push(range);
    this.sorted.sort((a, b) => a.base - b.base);
    return {
      dispose: () => {
        const i = this.sorted.indexOf(range);
        if (i >= 0) this.sorted.splice(i, 1);
      },
    };
  }

  /** The range registered `index`-th ({@link MmioRange.index}), or undefined; unregistered ranges stay here. */
  range(index: number): MmioRange | undefined {
    return this.byIndex[index];
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
    return r ? this.readIn(r, gpa, size) : -1;
  }

  /** Writes to `gpa`; false if no device owns it. */
  write(gpa: number, size: number, value: number): boolean {
    const r = this.find(gpa);
    if (!r) return false;
    this.writeIn(r, gpa, size, value);
    return true;
  }

  /** Reads `gpa` from the range {@link find} returned for it (no second lookup). Never negative. */
  readIn(r: MmioRange, gpa: number, size: number): number {
    const v = r.device.read(gpa - r.base, size);
    // A negative value is a signed 32-bit result (JS bitwise ops), not "unowned".
    return v < 0 ? v >>> 0 : v;
  }

  /** Writes `gpa` in the range {@link find} returned for it (no second lookup). */
  writeIn(r: MmioRange, gpa: number, size: number, value: number): void {
    r.device.write(gpa - r.base, size, value);
  }
}

function hex(n: number): string {
  return '0x' + n.toString(16);
}
