/**
 * PCI bus 0 behind a type-1 host bridge: configuration mechanism #1 on ports 0xcf8 (address) and
 * 0xcfc–0xcff (data), 32 device slots, and the BAR placement that follows the guest's writes:
 * a BAR decodes only while its command-register enable bit is set and its address is a valid
 * one; moving or disabling it frees the old range. A BAR the guest places on top of another
 * device stays unmapped and is counted: the guest's mistake, never the VMM's failure.
 * @module
 */
import { Pci, WiringError, type Disposable, type MmioDevice, type PioDevice, type ResourceMapper } from '@hyvisor/core';
import { BAR_COUNT, PciCommand, PciConfig } from './config-space.js';
import type { PciFunction } from './function.js';

/** Devices per bus. */
export const PCI_SLOTS = 32;
/** First port of configuration mechanism #1: the address register. */
export const PCI_CONFIG_ADDRESS_PORT = Pci.CONFIG_ADDRESS;
/** The data window's first port. */
export const PCI_CONFIG_DATA_PORT = Pci.CONFIG_DATA;
/** Highest guest-physical address a 64-bit BAR may decode below (a 48-bit physical address space). */
export const PCI_MAX_ADDRESS = 2 ** 48;

/** Where one BAR decodes now. */
interface Placement {
  readonly base: number;
  readonly registration: Disposable;
}

/** One attached function and its current BAR placements. */
interface Slot {
  readonly fn: PciFunction;
  readonly placed: (Placement | undefined)[];
}

/** Counts the guest's BAR mistakes (a BAR over another device's range). */
export interface PciBusStats {
  barConflicts: number;
}

/** PCI bus 0. */
export class PciBus {
  private readonly slots: (Slot | undefined)[] = new Array(PCI_SLOTS).fill(undefined);
  readonly stats: PciBusStats = { barConflicts: 0 };

  constructor(private readonly resources: ResourceMapper) {}

  /** Plugs `fn` into `slot` (default: the first free one) as function 0; returns the slot. */
  attach(fn: PciFunction, slot?: number): number {
    const at = slot ?? this.slots.findIndex((s) => s === undefined);
    if (at < 0) throw new WiringError(`PCI device ${fn.name}: bus 0 has no free slot (${PCI_SLOTS} in use)`);
    if (!Number.isInteger(at) || at >= PCI_SLOTS) throw new WiringError(`PCI device ${fn.name}: slot ${at} is outside 0..${PCI_SLOTS - 1}`);
    const other = this.slots[at];
    if (other !== undefined) throw new WiringError(`PCI device ${fn.name}: slot ${at} is taken by ${other.fn.name}`);
    this.slots[at] = { fn, placed: new Array(BAR_COUNT).fill(undefined) };
    return at;
  }

  /** The function in `slot`, if any. */
  function(slot: number): PciFunction | undefined {
    return this.slots[slot]?.fn;
  }

  /** A configuration read; absent functions read all ones (the master abort a probe expects). */
  configRead(bus: number, device: number, fn: number, offset: number, size: number): number {
    const s = bus === 0 && fn === 0 ? this.slots[device] : undefined;
    if (s === undefined) return size === 4 ? 0xffffffff : (1 << (8 * size)) - 1;
    return s.fn.config.read(offset, size);
  }

  /** A configuration write; to an absent function it is dropped. */
  configWrite(bus: number, device: number, fn: number, offset: number, size: number, value: number): void {
    const s = bus === 0 && fn === 0 ? this.slots[device] : undefined;
    if (s === undefined) return;
    s.fn.config.write(offset, size, value);
    // Only the command register and the BARs move decoding.
    if (offset < PciConfig.COMMAND + 2 && offset + size > PciConfig.COMMAND
      || offset < PciConfig.BAR0 + 4 * BAR_COUNT && offset + size > PciConfig.BAR0) this.place(s);
    s.fn.configWritten?.(offset, size);
  }

  /** Frees every BAR placement (the machine is going away). */
  dispose(): void {
    for (const s of this.slots) {
      if (s === undefined) continue;
      for (let i = 0; i < BAR_COUNT; i++) this.unplace(s, i);
    }
  }

  /** Brings each BAR's placement in line with the configuration space. */
  private place(s: Slot): void {
    const cfg = s.fn.config;
    const command = cfg.command;
    for (let i = 0; i < BAR_COUNT; i++) {
      const spec = cfg.bar(i);
      const device = s.fn.barDevice(i);
      if (spec === undefined || device === undefined) continue;
      const enabled = (command & (spec.kind === 'io' ? PciCommand.IO_SPACE : PciCommand.MEMORY_SPACE)) !== 0;
      const base = cfg.barAddress(i);
      const want = enabled && base !== undefined && validBase(spec.kind, base, spec.size) ? base : undefined;
      const now = s.placed[i];
      if (now?.base === want) continue;
      this.unplace(s, i);
      if (want === undefined) continue;
      try {
        const name = `${s.fn.name}.bar${i}`;
        const registration = spec.kind === 'io'
          ? this.resources.mapPio(name, want, spec.size, device as PioDevice)
          : this.resources.mapMmio(name, want, spec.size, device as MmioDevice);
        s.placed[i] = { base: want, registration };
      } catch (err) {
        if (!(err instanceof WiringError)) throw err;
        this.stats.barConflicts++;
      }
    }
  }

  private unplace(s: Slot, i: number): void {
    s.placed[i]?.registration.dispose();
    s.placed[i] = undefined;
  }
}

/** A BAR address that decodes: non-zero, and the whole range below the space's end (not the sizing pattern). */
function validBase(kind: 'io' | 'mem32' | 'mem64', base: number, size: number): boolean {
  if (base === 0) return false;
  const end = kind === 'io' ? 0x10000 : kind === 'mem32' ? 2 ** 32 - 1 : PCI_MAX_ADDRESS;
  return base + size <= end;
}

/**
 * Configuration mechanism #1 as a port device on [0xcf8, 0xd00): a dword write to 0xcf8 latches
 * the address (enable bit 31, bus 23:16, device 15:11, function 10:8, register 7:2); the data
 * ports reach that register, any width, at the byte offset of the port. Narrower accesses to
 * 0xcf8–0xcfb are not the address register (they were mechanism #2's and the reset register's
 * on old chipsets): they read all ones and are dropped, which is what Linux's probe expects.
 */
export class PciConfigIo implements PioDevice {
  private address = 0;

  constructor(private readonly bus: PciBus) {}

  read(offset: number, size: number): number {
    if (offset < 4) return offset === 0 && size === 4 ? this.address >>> 0 : size === 4 ? 0xffffffff : (1 << (8 * size)) - 1;
    const a = this.address;
    if ((a & 0x80000000) === 0) return size === 4 ? 0xffffffff : (1 << (8 * size)) - 1;
    const reg = (a & 0xfc) + (offset - 4);
    return this.bus.configRead((a >>> 16) & 0xff, (a >>> 11) & 0x1f, (a >>> 8) & 0x7, reg, Math.min(size, 4 - (offset - 4)));
  }

  write(offset: number, size: number, value: number): void {
    if (offset < 4) {
      if (offset === 0 && size === 4) this.address = (value & 0x80fffffc) >>> 0;
      return;
    }
    const a = this.address;
    if ((a & 0x80000000) === 0) return;
    const reg = (a & 0xfc) + (offset - 4);
    this.bus.configWrite((a >>> 16) & 0xff, (a >>> 11) & 0x1f, (a >>> 8) & 0x7, reg, Math.min(size, 4 - (offset - 4)), value);
  }
}
