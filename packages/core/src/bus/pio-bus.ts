/**
 * The port-I/O bus: 65 536 ports, each owned by at most one device. Lookup is one typed-array
 * read, so routing a port exit costs no search and no allocation.
 * @module
 */
import { WiringError } from '../errors.js';
import type { Disposable } from '../lifecycle/disposable.js';
import type { PioDevice } from './device.js';

/** A device range on the PIO bus. */
export interface PioRange {
  readonly name: string;
  readonly base: number;
  readonly length: number;
  readonly device: PioDevice;
}

/** Routes port accesses to devices. */
export class PioBus {
  /** Port → 1 + index into `ranges` (0 = nobody). */
  private readonly owner = new Uint16Array(0x10000);
  private readonly rangeList: PioRange[] = [];
  /** Per entry of `rangeList`: false once unregistered (the tag is never reused). */
  private readonly live: boolean[] = [];

  /** Registered ranges in registration order (unregistered ones left out). */
  get ranges(): readonly PioRange[] {
    return this.rangeList.filter((_, i) => this.live[i]);
  }

  /**
   * Gives ports `[base, base+length)` to `device`. Throws {@link WiringError} on overlap with
   * another device or on ports outside 0..0xffff. Disposing the result frees the ports again
   * (what a PCI I/O BAR that the guest moves or disables needs); most devices never do.
   */
  register(name: string, base: number, length: number, device: PioDevice): Disposable {
    if (!Number.isInteger(base) || !Number.isInteger(length) || base < 0 || length < 1 || base + length > 0x10000) {
      throw new WiringError(`pio device ${name}: ports ${base}+${length} are outside 0x0..0xffff`, 'PioBus.register', { name, base, length });
    }
    for (let p = base; p < base + length; p++) {
      const o = this.owner[p]!;
      if (o !== 0) {
        const other = this.rangeList[o - 1]!;
        throw new WiringError(
          `pio device ${name} [${hex(base)}, ${hex(base + length)}) overlaps ${other.name} [${hex(other.base)}, ${hex(other.base + other.length)})`,
          'PioBus.register', { name, base, length, owner: other.name },
        );
      }
    }
    if (this.rangeList.length >= 0xffff) throw new WiringError('pio bus is full', 'PioBus.register', { name });
    this.rangeList.push({ name, base, length, device });
    this.live.push(true);
    const tag = this.rangeList.length;
    this.owner.fill(tag, base, base + length);
    return {
      dispose: () => {
        if (!this.live[tag - 1]) return;
        this.live[tag - 1] = false;
        this.owner.fill(0, base, base + length);
      },
    };
  }

  /** The range that owns `port`, or undefined. */
  find(port: number): PioRange | undefined {
    const o = this.owner[port & 0xffff]!;
    return o === 0 ? undefined : this.rangeList[o - 1];
  }

  /** Reads `size` bytes from `port`; an unowned port reads as all ones, like a floating ISA bus. Returns -1 if unowned. */
  read(port: number, size: number): number {
    const o = this.owner[port & 0xffff]!;
    if (o === 0) return -1;
    const r = this.rangeList[o - 1]!;
    // Unsigned, so a device value with bit 31 set (JS bitwise results are signed) is not taken for -1.
    return r.device.read(port - r.base, size) >>> 0;
  }

  /** Writes to `port`; returns false if no device owns it (the write is dropped). */
  write(port: number, size: number, value: number): boolean {
    const o = this.owner[port & 0xffff]!;
    if (o === 0) return false;
    const r = this.rangeList[o - 1]!;
    r.device.write(port - r.base, size, value);
    return true;
  }
}

function hex(n: number): string {
  return '0x' + n.toString(16);
}
