/**
 * A PCI function's 256-byte configuration space (PCI Local Bus Specification 3.0, chapter 6):
 * the type-0 header, base address registers and the capability list. Every byte has a write
 * mask and a write-one-to-clear mask, so read-only fields, BAR sizing (the guest writes all ones
 * and reads back the size mask) and status bits behave as the specification says without
 * per-register code. Everything written here comes from the guest: nothing in it can throw.
 * @module
 */

/** Offsets in the type-0 configuration header. */
export const PciConfig = {
  VENDOR_ID: 0x00,
  DEVICE_ID: 0x02,
  COMMAND: 0x04,
  STATUS: 0x06,
  REVISION_ID: 0x08,
  /** Programming interface, sub-class, base class: three bytes from 0x09. */
  CLASS_CODE: 0x09,
  CACHE_LINE_SIZE: 0x0c,
  LATENCY_TIMER: 0x0d,
  HEADER_TYPE: 0x0e,
  BAR0: 0x10,
  SUBSYSTEM_VENDOR_ID: 0x2c,
  SUBSYSTEM_ID: 0x2e,
  CAPABILITIES_POINTER: 0x34,
  INTERRUPT_LINE: 0x3c,
  INTERRUPT_PIN: 0x3d,
  /** Size of the conventional configuration space. */
  SIZE: 0x100,
  /** First byte after the header: where capabilities go. */
  HEADER_END: 0x40,
} as const;

/** Command register bits. */
export const PciCommand = {
  IO_SPACE: 1 << 0,
  MEMORY_SPACE: 1 << 1,
  BUS_MASTER: 1 << 2,
  INTX_DISABLE: 1 << 10,
} as const;

/** Status register bits. */
export const PciStatus = {
  INTERRUPT: 1 << 3,
  CAPABILITIES_LIST: 1 << 4,
} as const;

/** Number of base address registers in a type-0 header. */
export const BAR_COUNT = 6;

/** What one base address register decodes. */
export interface PciBarSpec {
  /** `io`: port space; `mem32`/`mem64`: memory space below 4 GiB / anywhere (takes two BAR slots). */
  readonly kind: 'io' | 'mem32' | 'mem64';
  /** Bytes decoded: a power of two, at least 4 for `io` and 16 for memory. */
  readonly size: number;
  /** Memory BARs: reads have no side effects (bit 3). */
  readonly prefetchable?: boolean;
}

/** Identity of a function: what enumeration reads first. */
export interface PciIdentity {
  readonly vendorId: number;
  readonly deviceId: number;
  /** Base class, sub-class and programming interface as one 24-bit number (0x060000: host bridge). */
  readonly classCode: number;
  readonly revision?: number;
  readonly subsystemVendorId?: number;
  readonly subsystemId?: number;
  /** INTx pin: 0 none, 1–4 INTA#–INTD#. */
  readonly interruptPin?: number;
}

const STATUS_W1C = 0xf900; // parity, signalled/received aborts, SERR, parity error: write one to clear
const COMMAND_WRITABLE = PciCommand.IO_SPACE | PciCommand.MEMORY_SPACE | PciCommand.BUS_MASTER | PciCommand.INTX_DISABLE;

/** The configuration space of one function. */
export class PciConfigSpace {
  private readonly bytes = new Uint8Array(PciConfig.SIZE);
  private readonly writable = new Uint8Array(PciConfig.SIZE);
  private readonly clearOnOne = new Uint8Array(PciConfig.SIZE);
  private readonly barSpecs: (PciBarSpec | undefined)[] = new Array(BAR_COUNT).fill(undefined);
  /** Offset of the last capability (its next pointer is where a new one is chained), 0: none yet. */
  private lastCapability = 0;
  /** First free byte for the next capability. */
  private capabilityEnd: number = PciConfig.HEADER_END;

  constructor(identity: PciIdentity) {
    this.set(PciConfig.VENDOR_ID, 2, identity.vendorId);
    this.set(PciConfig.DEVICE_ID, 2, identity.deviceId);
    this.set(PciConfig.REVISION_ID, 1, identity.revision ?? 0);
    this.set(PciConfig.CLASS_CODE, 3, identity.classCode);
    this.set(PciConfig.SUBSYSTEM_VENDOR_ID, 2, identity.subsystemVendorId ?? 0);
    this.set(PciConfig.SUBSYSTEM_ID, 2, identity.subsystemId ?? 0);
    this.set(PciConfig.INTERRUPT_PIN, 1, identity.interruptPin ?? 0);
    this.setWritable(PciConfig.COMMAND, 2, COMMAND_WRITABLE);
    this.setMask(this.clearOnOne, PciConfig.STATUS, 2, STATUS_W1C);
    this.setWritable(PciConfig.CACHE_LINE_SIZE, 1, 0xff);
    this.setWritable(PciConfig.LATENCY_TIMER, 1, 0xff);
    this.setWritable(PciConfig.INTERRUPT_LINE, 1, 0xff);
  }

  /** Reads `size` (1, 2 or 4) bytes at `offset`, little-endian; outside the space: all ones. */
  read(offset: number, size: number): number {
    if (offset < 0 || offset + size > PciConfig.SIZE) return size === 4 ? 0xffffffff : (1 << (8 * size)) - 1;
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = v * 256 + this.bytes[offset + i]!;
    return v;
  }

  /** The guest writes `size` bytes at `offset`: read-only bits keep their value, write-one-to-clear bits clear. */
  write(offset: number, size: number, value: number): void {
    if (offset < 0 || offset + size > PciConfig.SIZE) return;
    for (let i = 0; i < size; i++) {
      const at = offset + i;
      const b = (value >>> (8 * i)) & 0xff;
      const w = this.writable[at]!;
      const c = this.clearOnOne[at]!;
      this.bytes[at] = ((this.bytes[at]! & ~w) | (b & w)) & ~(b & c);
    }
  }

  /** Sets bytes as the device (not the guest): any bits, masks untouched. */
  set(offset: number, size: number, value: number): void {
    for (let i = 0; i < size; i++) this.bytes[offset + i] = Math.floor(value / 2 ** (8 * i)) & 0xff;
  }

  /** The command register. */
  get command(): number {
    return this.read(PciConfig.COMMAND, 2);
  }

  /** Sets or clears status bits as the device (e.g. the INTx status bit). */
  setStatus(bits: number, on: boolean): void {
    const v = this.read(PciConfig.STATUS, 2);
    this.set(PciConfig.STATUS, 2, on ? v | bits : v & ~bits);
  }

  /**
   * Declares BAR `index` (a 64-bit BAR also takes `index + 1`). The guest sizes it by writing
   * all ones and reading back `~(size - 1)` with the type bits, as on hardware; the address bits
   * it writes later are where the BAR decodes.
   */
  defineBar(index: number, spec: PciBarSpec): void {
    const min = spec.kind === 'io' ? 4 : 16;
    if (!Number.isInteger(index) || index < 0 || index >= BAR_COUNT || (spec.kind === 'mem64' && index === BAR_COUNT - 1)) {
      throw new RangeError(`BAR ${index}: no such BAR slot${spec.kind === 'mem64' ? ' for a 64-bit BAR (it needs two)' : ''}`);
    }
    if (!Number.isSafeInteger(spec.size) || spec.size < min || Math.log2(spec.size) % 1 !== 0) {
      throw new RangeError(`BAR ${index}: size ${spec.size} is not a power of two >= ${min}`);
    }
    if (spec.kind !== 'mem64' && spec.size > 2 ** 31) throw new RangeError(`BAR ${index}: a 32-bit BAR decodes at most 2 GiB`);
    if (this.barSpecs[index] !== undefined || (spec.kind === 'mem64' && this.barSpecs[index + 1] !== undefined)) {
      throw new RangeError(`BAR ${index}: already defined`);
    }
    const at = PciConfig.BAR0 + 4 * index;
    const typeBits = spec.kind === 'io' ? 0x1 : (spec.kind === 'mem64' ? 0x4 : 0) | (spec.prefetchable ? 0x8 : 0);
    this.set(at, 4, typeBits);
    const lowMask = spec.size >= 2 ** 32 ? 0 : ((2 ** 32 - spec.size) & (spec.kind === 'io' ? 0xfffffffc : 0xfffffff0)) >>> 0;
    this.setWritable(at, 4, lowMask);
    this.barSpecs[index] = spec;
    if (spec.kind === 'mem64') {
      const highMask = spec.size > 2 ** 32 ? (2 ** 32 - spec.size / 2 ** 32) >>> 0 : 0xffffffff;
      this.setWritable(at + 4, 4, highMask);
      this.barSpecs[index + 1] = spec;
    }
  }

  /** The spec of BAR `index` if it is the first slot of a defined BAR. */
  bar(index: number): PciBarSpec | undefined {
    const s = this.barSpecs[index];
    if (s === undefined || (index > 0 && s.kind === 'mem64' && this.barSpecs[index - 1] === s)) return undefined;
    return s;
  }

  /** The address BAR `index` holds now (type bits removed); undefined for no BAR or one above 2^53. */
  barAddress(index: number): number | undefined {
    const s = this.bar(index);
    if (s === undefined) return undefined;
    const at = PciConfig.BAR0 + 4 * index;
    const low = this.read(at, 4);
    if (s.kind === 'io') return (low & 0xfffffffc) >>> 0;
    const base = (low & 0xfffffff0) >>> 0;
    if (s.kind === 'mem32') return base;
    const high = this.read(at + 4, 4);
    const addr = high * 2 ** 32 + base;
    return Number.isSafeInteger(addr) ? addr : undefined;
  }

  /**
   * Appends a capability of `length` bytes (id and next pointer included) to the list and returns
   * its offset; `writable` bytes (relative to the capability) give the guest-writable bits.
   */
  addCapability(id: number, length: number, writable: readonly { offset: number; size: number; mask: number }[] = []): number {
    const at = (this.capabilityEnd + 3) & ~3;
    if (length < 2 || at + length > PciConfig.SIZE) throw new RangeError(`capability 0x${id.toString(16)}: no room for ${length} bytes at 0x${at.toString(16)}`);
    this.set(at, 1, id);
    this.set(at + 1, 1, 0);
    if (this.lastCapability === 0) this.set(PciConfig.CAPABILITIES_POINTER, 1, at);
    else this.set(this.lastCapability + 1, 1, at);
    this.setStatus(PciStatus.CAPABILITIES_LIST, true);
    for (const w of writable) this.setWritable(at + w.offset, w.size, w.mask);
    this.lastCapability = at;
    this.capabilityEnd = at + length;
    return at;
  }

  private setWritable(offset: number, size: number, mask: number): void {
    this.setMask(this.writable, offset, size, mask);
  }

  private setMask(into: Uint8Array, offset: number, size: number, mask: number): void {
    for (let i = 0; i < size; i++) into[offset + i] = Math.floor(mask / 2 ** (8 * i)) & 0xff;
  }
}
