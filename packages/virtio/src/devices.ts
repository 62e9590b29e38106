/**
 * virtio devices as registered device types: a `devices:` entry in a config plugs them into the
 * machine's PCI bus (the `pc` board's `pci-host`, instance `pci`).
 * @module
 */
import { CompositionError, DEVICES, type DeviceContext, type DeviceDefinition, type DeviceRegistry } from '@hyvisor/core';
import { FileBlockStore } from '@hyvisor/devices';
import { PciBus, PciConfig } from '@hyvisor/pci';
import type { DependencyContainer } from 'tsyringe';
import { VirtioPciFunction, type VirtioDevice } from './pci/virtio-pci.js';
import { VirtioRng, hostEntropy, seededEntropy } from './rng/virtio-rng.js';
import { VirtioBlk } from './blk/virtio-blk.js';

/** The ISA interrupt a virtio device's INTx pin drives unless the config says `irq:` (free on the pc board). */
export const VIRTIO_DEFAULT_IRQ = 11;

/** Options every virtio PCI device takes. */
const PCI_OPTIONS = {
  bus: { type: 'string', description: 'instance name of the PCI host device to plug into', default: 'pci' },
  slot: { type: 'integer', description: 'PCI slot (default: the first free one)', min: 1, max: 31 },
} as const;

/**
 * Wraps `device` in the virtio-pci transport and plugs it into the PCI bus named by `options.bus`;
 * its INTx pin drives the device's `irq` and the Interrupt Line register says which (what Linux
 * uses without firmware routing tables).
 */
export function plugVirtioPci(ctx: DeviceContext, device: VirtioDevice, options: { bus: string; slot?: number }): VirtioPciFunction {
  const bus = ctx.lookup(options.bus);
  if (!(bus instanceof PciBus)) {
    throw new CompositionError(
      `device '${ctx.name}' plugs into a PCI bus, and this machine has no PCI host named '${options.bus}' (use board: pc, or add a pci-host device before it)`,
      [], [], ctx.name,
    );
  }
  const fn = new VirtioPciFunction(ctx.name, device, { memory: ctx.dma.memory, accessible: ctx.dma.accessible, intx: ctx.irq, msi: ctx.msi });
  if (ctx.irqNumber !== undefined) fn.config.set(PciConfig.INTERRUPT_LINE, 1, ctx.irqNumber);
  bus.attach(fn, options.slot);
  return fn;
}

/** `virtio-rng`: the entropy device over PCI. */
export const virtioRngDevice: DeviceDefinition<{ bus: string; slot?: number; seed?: number }, VirtioPciFunction> = {
  name: 'virtio-rng',
  description: 'virtio entropy device on PCI (Linux: /dev/hwrng): host randomness, or a seeded generator for repeatable runs',
  ports: [],
  irq: VIRTIO_DEFAULT_IRQ,
  options: {
    ...PCI_OPTIONS,
    seed: { type: 'integer', description: 'seed of a deterministic byte stream (default: the host\'s random source)', min: 0, max: 0xffffffff },
  },
  create(ctx, o) {
    const rng = new VirtioRng(ctx.dma.memory, o.seed !== undefined ? seededEntropy(o.seed) : hostEntropy);
    const fn = plugVirtioPci(ctx, rng, o);
    return { pio: [], handle: fn };
  },
};

/** `virtio-blk`: a disk backed by a host file over PCI (Linux: /dev/vda). */
export const virtioBlkDevice: DeviceDefinition<{ bus: string; slot?: number; path: string; size?: number; readonly: boolean; serial?: string }, VirtioPciFunction> = {
  name: 'virtio-blk',
  description: 'virtio block device on PCI backed by a host file (Linux: /dev/vda); flush, read-only',
  ports: [],
  irq: VIRTIO_DEFAULT_IRQ,
  options: {
    ...PCI_OPTIONS,
    path: { type: 'path', description: 'the disk image (a relative path is from the config file)' },
    size: { type: 'size', description: 'create the image with this size if it does not exist (a multiple of 512)', min: 512 },
    readonly: { type: 'boolean', description: 'the guest may not write (offers VIRTIO_BLK_F_RO)', default: false },
    serial: { type: 'string', description: 'the ID GET_ID returns (at most 20 bytes; Linux: /sys/block/vda/serial)' },
  },
  create(ctx, o) {
    if (o.path === undefined) throw new CompositionError(`device '${ctx.name}' (virtio-blk) needs path: the disk image`, [], [], ctx.name);
    const store = FileBlockStore.open(o.path, { readOnly: o.readonly, ...(o.size !== undefined ? { createSizeBytes: o.size } : {}) });
    ctx.own(store);
    const blk = new VirtioBlk(ctx.dma.memory, store, { readOnly: o.readonly, ...(o.serial !== undefined ? { id: o.serial } : {}) });
    return { pio: [], handle: plugVirtioPci(ctx, blk, o) };
  },
};

/** Every virtio device type. */
export const VIRTIO_DEVICES: readonly DeviceDefinition<any, any>[] = [virtioRngDevice, virtioBlkDevice];

/** Adds the virtio device types to `devices` (names already there are left alone). */
export function addVirtioDevices(devices: DeviceRegistry): void {
  for (const d of VIRTIO_DEVICES) devices.provide(d);
}

/** {@link addVirtioDevices} into `container`'s device registry. */
export function registerVirtioDevices(container: DependencyContainer): void {
  addVirtioDevices(container.resolve(DEVICES));
}
