/**
 * What a PCI function is to the bus: a configuration space and, per BAR, the device that decodes
 * it. A device model implements this (or extends {@link PciFunctionBase}); the bus places the
 * BARs where the guest assigns them.
 * @module
 */
import type { MmioDevice, PioDevice } from '@hyvisor/core';
import { PciConfigSpace, type PciIdentity } from './config-space.js';

/** One function on the bus. */
export interface PciFunction {
  /** Instance name, for the bus ranges its BARs get (`virtio-blk` → `virtio-blk.bar0`). */
  readonly name: string;
  readonly config: PciConfigSpace;
  /** The device that decodes BAR `index` (offsets relative to the BAR's base); undefined: none. */
  barDevice(index: number): MmioDevice | PioDevice | undefined;
  /** Called after the guest wrote the configuration space (the bus has already remapped BARs). */
  configWritten?(offset: number, size: number): void;
}

/** A function with its configuration space built from an identity; BAR devices set with {@link setBarDevice}. */
export class PciFunctionBase implements PciFunction {
  readonly config: PciConfigSpace;
  private readonly barDevices: (MmioDevice | PioDevice | undefined)[] = [];

  constructor(readonly name: string, identity: PciIdentity) {
    this.config = new PciConfigSpace(identity);
  }

  barDevice(index: number): MmioDevice | PioDevice | undefined {
    return this.barDevices[index];
  }

  /** Defines BAR `index` and the device behind it. */
  protected setBar(index: number, spec: Parameters<PciConfigSpace['defineBar']>[1], device: MmioDevice | PioDevice): void {
    this.config.defineBar(index, spec);
    this.barDevices[index] = device;
  }
}
