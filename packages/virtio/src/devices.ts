/**
 * virtio devices as registered device types: a `devices:` entry in a config plugs them into the
 * machine's PCI bus (the `pc` board's `pci-host`, instance `pci`).
 * @module
 */
import { CompositionError, DEVICES, type DeviceContext, type DeviceDefinition, type DeviceRegistry } from '@hyvisor/core';
import { PciBus, PciConfig } from '@hyvisor/pci';
import type { DependencyContainer } from 'tsyringe';
import { VirtioPciFunction, type VirtioDevice } from './pci/virtio-pci.js';
import { VirtioRng, hostEntropy, seededEntropy } from './rng/virtio-rng.js';

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

/** Every virtio device type. */
export const VIRTIO_DEVICES: readonly DeviceDefinition<any, any>[] = [virtioRngDevice];

/** Adds the virtio device types to `devices` (names already there are left alone). */
export function addVirtioDevices(devices: DeviceRegistry): void {
  for (const d of VIRTIO_DEVICES) devices.provide(d);
}

/** {@link addVirtioDevices} into `container`'s device registry. */
export function registerVirtioDevices(container: DependencyContainer): void {
  addVirtioDevices(container.resolve(DEVICES));
}
