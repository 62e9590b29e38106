/**
 * The host bridge at 00:00.0 and the `pci-host` device that brings bus 0 to a machine. Linux's
 * type-1 probe accepts the mechanism only if bus 0 shows a host bridge (class 06.00) or a VGA
 * device, so the bridge is what makes the guest look for PCI at all.
 * @module
 */
import type { DeviceDefinition } from '@hyvisor/core';
import { PciBus, PciConfigIo, PCI_CONFIG_ADDRESS_PORT } from './bus.js';
import { PciFunctionBase } from './function.js';

/** Red Hat's PCI vendor ID, under which QEMU's generic bridges are listed. */
export const PCI_VENDOR_REDHAT = 0x1b36;
/** Class code of a host bridge. */
export const PCI_CLASS_HOST_BRIDGE = 0x060000;

/** Function 00:00.0: a host bridge with no BARs and no interrupt. */
export class PciHostBridge extends PciFunctionBase {
  constructor() {
    super('pci-host-bridge', { vendorId: PCI_VENDOR_REDHAT, deviceId: 0x0008, classCode: PCI_CLASS_HOST_BRIDGE });
  }
}

/**
 * Device `pci-host`: bus 0 with the host bridge in slot 0, reached through configuration
 * mechanism #1 on ports 0xcf8–0xcff. Its handle is the {@link PciBus}, where code plugs further
 * functions in.
 */
export const pciHostDevice: DeviceDefinition<Record<string, never>, PciBus> = {
  name: 'pci-host',
  description: 'PCI bus 0 behind a type-1 host bridge (configuration ports 0xcf8-0xcff); BARs are placed where the guest assigns them',
  defaultInstanceName: 'pci',
  ports: [{ base: PCI_CONFIG_ADDRESS_PORT, count: 8 }],
  create(ctx) {
    const bus = new PciBus(ctx.resources);
    bus.attach(new PciHostBridge(), 0);
    ctx.own(bus);
    return { pio: new PciConfigIo(bus), handle: bus };
  },
};
