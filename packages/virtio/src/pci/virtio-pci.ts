/**
 * The virtio 1.x PCI transport (virtio 1.2, section 4.1), modern interface only: vendor-specific
 * capabilities point the driver at the common configuration, notification, ISR and
 * device-specific structures, all in one 64-bit memory BAR (4); MSI-X lives in BAR 1. The
 * transport owns feature negotiation, device status and reset, the queues' registers and
 * their {@link SplitQueue}s, and interrupts (MSI-X vectors, or INTx with the ISR register); a
 * {@link VirtioDevice} only serves its queues and its configuration space.
 *
 * Everything the driver writes is hostile: an impossible queue layout or a broken chain sets
 * DEVICE_NEEDS_RESET (and tells the driver through the configuration-change interrupt) instead
 * of throwing; a vector the table does not have reads back as NO_VECTOR.
 * @module
 */
import { Pci, VirtioPci, type GuestMemory, type IrqLine, type MmioDevice, type MsiTrigger } from '@hyvisor/core';
import { PciCommand, PciFunctionBase, Msix } from '@hyvisor/pci';
import { SplitQueue, type MemoryCheck } from '../queue/split-queue.js';

// The numbers are guest ABI facts, defined once in core (`VirtioPci`, also in the guests' C
// header); these are the transport's names for them.

/** PCI vendor ID of virtio devices. */
export const VIRTIO_PCI_VENDOR = VirtioPci.VENDOR;
/** Modern device IDs are 0x1040 + the virtio device type. */
export const VIRTIO_PCI_DEVICE_BASE = VirtioPci.DEVICE_BASE;

/** Device status bits. */
export const VirtioStatus = {
  ACKNOWLEDGE: VirtioPci.STATUS_ACKNOWLEDGE,
  DRIVER: VirtioPci.STATUS_DRIVER,
  DRIVER_OK: VirtioPci.STATUS_DRIVER_OK,
  FEATURES_OK: VirtioPci.STATUS_FEATURES_OK,
  DEVICE_NEEDS_RESET: VirtioPci.STATUS_DEVICE_NEEDS_RESET,
  FAILED: VirtioPci.STATUS_FAILED,
} as const;

/** Transport feature bits (bit numbers). */
export const VirtioFeature = {
  RING_INDIRECT_DESC: VirtioPci.F_RING_INDIRECT_DESC,
  RING_EVENT_IDX: VirtioPci.F_RING_EVENT_IDX,
  VERSION_1: VirtioPci.F_VERSION_1,
} as const;

/** `cfg_type` of the vendor-specific capabilities. */
export const VirtioPciCap = {
  COMMON_CFG: VirtioPci.CAP_COMMON,
  NOTIFY_CFG: VirtioPci.CAP_NOTIFY,
  ISR_CFG: VirtioPci.CAP_ISR,
  DEVICE_CFG: VirtioPci.CAP_DEVICE,
} as const;

/** Offsets in the common configuration structure. */
export const CommonCfg = {
  DEVICE_FEATURE_SELECT: VirtioPci.COMMON_DEVICE_FEATURE_SELECT,
  DEVICE_FEATURE: VirtioPci.COMMON_DEVICE_FEATURE,
  DRIVER_FEATURE_SELECT: VirtioPci.COMMON_DRIVER_FEATURE_SELECT,
  DRIVER_FEATURE: VirtioPci.COMMON_DRIVER_FEATURE,
  CONFIG_MSIX_VECTOR: VirtioPci.COMMON_CONFIG_MSIX_VECTOR,
  NUM_QUEUES: VirtioPci.COMMON_NUM_QUEUES,
  DEVICE_STATUS: VirtioPci.COMMON_DEVICE_STATUS,
  CONFIG_GENERATION: VirtioPci.COMMON_CONFIG_GENERATION,
  QUEUE_SELECT: VirtioPci.COMMON_QUEUE_SELECT,
  QUEUE_SIZE: VirtioPci.COMMON_QUEUE_SIZE,
  QUEUE_MSIX_VECTOR: VirtioPci.COMMON_QUEUE_MSIX_VECTOR,
  QUEUE_ENABLE: VirtioPci.COMMON_QUEUE_ENABLE,
  QUEUE_NOTIFY_OFF: VirtioPci.COMMON_QUEUE_NOTIFY_OFF,
  QUEUE_DESC: VirtioPci.COMMON_QUEUE_DESC,
  QUEUE_DRIVER: VirtioPci.COMMON_QUEUE_DRIVER,
  QUEUE_DEVICE: VirtioPci.COMMON_QUEUE_DEVICE,
  SIZE: VirtioPci.COMMON_SIZE,
} as const;

/** No MSI-X vector assigned. */
export const NO_VECTOR = VirtioPci.NO_VECTOR;
/** ISR bits: a queue interrupt, a configuration change. */
export const Isr = { QUEUE: 1, CONFIG: 2 } as const;

/** Where each structure sits in BAR 4, and the notify multiplier. */
export const VirtioBarLayout = {
  BAR: 4,
  COMMON: 0x0000,
  ISR: 0x1000,
  DEVICE: 0x2000,
  NOTIFY: 0x3000,
  /** Bytes between two queues' notify addresses. */
  NOTIFY_MULTIPLIER: 4,
  REGION: 0x1000,
  SIZE: 0x4000,
  MSIX_BAR: 1,
} as const;

/** A virtio device model behind the transport. */
export interface VirtioDevice {
  /** virtio device type (1 net, 2 block, 4 entropy, …). */
  readonly deviceType: number;
  /** PCI class code (base class, sub-class, programming interface). */
  readonly classCode: number;
  /** Device-specific feature bits 0–23 offered. */
  readonly features: number;
  /** Largest size of each queue (powers of two). */
  readonly queueSizes: readonly number[];
  /** Bytes of device-specific configuration. */
  readonly configSize: number;
  readConfig(offset: number, size: number): number;
  writeConfig(offset: number, size: number, value: number): void;
  /**
   * Serves what queue `index` has available (pop chains, push used entries); the transport
   * publishes and interrupts afterwards. Returns false if the queue broke ({@link SplitQueue.pop} gave -1).
   */
  serve(index: number, queue: SplitQueue): boolean;
  /** The driver reset the device. */
  reset(): void;
}

/** What the transport needs from the machine. */
export interface VirtioPciWiring {
  readonly memory: GuestMemory;
  /** Which guest-physical ranges the device may use for rings and buffers. */
  readonly accessible: MemoryCheck;
  /** INTx line (INTA#), used when MSI-X is off. */
  readonly intx: IrqLine;
  /** Where MSI-X messages go. */
  readonly msi: MsiTrigger;
}

/** Registers of one queue as the driver programs them. */
interface QueueRegs {
  size: number;
  vector: number;
  enabled: boolean;
  desc: number;
  driver: number;
  device: number;
  readonly queue: SplitQueue;
}

/** Counters of one transport. */
export interface VirtioPciStats {
  notifies: number;
  interrupts: number;
  needsReset: number;
}

/** A virtio device on PCI: configuration space, BAR 4 structures, MSI-X, queues. */
export class VirtioPciFunction extends PciFunctionBase {
  readonly msix: Msix;
  private readonly queues: QueueRegs[];
  private status = 0;
  private deviceFeatureSelect = 0;
  private driverFeatureSelect = 0;
  private readonly driverFeatures = [0, 0];
  private configVector: number = NO_VECTOR;
  private queueSelect = 0;
  private isr = 0;
  private generation = 0;
  readonly stats: VirtioPciStats = { notifies: 0, interrupts: 0, needsReset: 0 };

  constructor(name: string, readonly device: VirtioDevice, private readonly wiring: VirtioPciWiring) {
    super(name, {
      vendorId: VIRTIO_PCI_VENDOR, deviceId: VIRTIO_PCI_DEVICE_BASE + device.deviceType, classCode: device.classCode, revision: 1,
      subsystemVendorId: VIRTIO_PCI_VENDOR, subsystemId: 0x40, interruptPin: 1,
    });
    this.queues = device.queueSizes.map((max) => ({
      size: max, vector: NO_VECTOR, enabled: false, desc: 0, driver: 0, device: 0,
      queue: new SplitQueue(wiring.memory, wiring.accessible),
    }));
    this.msix = new Msix(this.config, device.queueSizes.length + 1, VirtioBarLayout.MSIX_BAR, wiring.msi);
    this.setBar(VirtioBarLayout.MSIX_BAR, { kind: 'mem32', size: this.msix.barSize }, this.msix);
    this.setBar(VirtioBarLayout.BAR, { kind: 'mem64', size: VirtioBarLayout.SIZE, prefetchable: true }, this.barDevice4());
    this.addVirtioCap(VirtioPciCap.COMMON_CFG, VirtioBarLayout.COMMON, CommonCfg.SIZE);
    this.addVirtioCap(VirtioPciCap.ISR_CFG, VirtioBarLayout.ISR, 1);
    if (device.configSize > 0) this.addVirtioCap(VirtioPciCap.DEVICE_CFG, VirtioBarLayout.DEVICE, device.configSize);
    const notify = this.addVirtioCap(VirtioPciCap.NOTIFY_CFG, VirtioBarLayout.NOTIFY, VirtioBarLayout.NOTIFY_MULTIPLIER * this.queues.length, 4);
    this.config.set(notify + 16, 4, VirtioBarLayout.NOTIFY_MULTIPLIER);
  }

  /** The device status byte. */
  get deviceStatus(): number {
    return this.status;
  }

  /** The driver's accepted features as [low, high] words. */
  get negotiated(): readonly number[] {
    return this.driverFeatures;
  }

  /** The device has something new on queue `index` outside a notify (e.g. a host-side event). */
  kick(index: number): void {
    this.process(index);
  }

  configWritten(): void {
    this.msix.configWritten();
  }

  /** Offered features, word `sel` (0: bits 0–31, 1: bits 32–63). */
  private offered(sel: number): number {
    if (sel === 0) return ((this.device.features & 0xffffff) | (1 << VirtioFeature.RING_INDIRECT_DESC) | (1 << VirtioFeature.RING_EVENT_IDX)) >>> 0;
    return sel === 1 ? 1 << (VirtioFeature.VERSION_1 - 32) : 0;
  }

  private addVirtioCap(type: number, offset: number, length: number, extra = 0): number {
    const at = this.config.addCapability(Pci.CAP_VENDOR, 16 + extra);
    this.config.set(at + 2, 1, 16 + extra);
    this.config.set(at + 3, 1, type);
    this.config.set(at + 4, 1, VirtioBarLayout.BAR);
    this.config.set(at + 8, 4, offset);
    this.config.set(at + 12, 4, length);
    return at;
  }

  private barDevice4(): MmioDevice {
    return {
      read: (offset, size) => {
        const region = offset & ~(VirtioBarLayout.REGION - 1);
        const o = offset - region;
        switch (region) {
          case VirtioBarLayout.COMMON: return this.readCommon(o, size);
          case VirtioBarLayout.ISR: return o === 0 ? this.readIsr() : 0;
          case VirtioBarLayout.DEVICE: return o + size <= this.device.configSize ? this.device.readConfig(o, size) : 0;
          default: return 0;
        }
      },
      write: (offset, size, value) => {
        const region = offset & ~(VirtioBarLayout.REGION - 1);
        const o = offset - region;
        switch (region) {
          case VirtioBarLayout.COMMON: this.writeCommon(o, size, value); break;
          case VirtioBarLayout.DEVICE: if (o + size <= this.device.configSize) this.device.writeConfig(o, size, value); break;
          case VirtioBarLayout.NOTIFY: {
            const q = o / VirtioBarLayout.NOTIFY_MULTIPLIER;
            this.stats.notifies++;
            if (Number.isInteger(q) && q < this.queues.length) this.process(q);
            break;
          }
        }
      },
    };
  }

  private readCommon(o: number, size: number): number {
    const q = this.queues[this.queueSelect];
    switch (o) {
      case CommonCfg.DEVICE_FEATURE_SELECT: return this.deviceFeatureSelect;
      case CommonCfg.DEVICE_FEATURE: return this.offered(this.deviceFeatureSelect);
      case CommonCfg.DRIVER_FEATURE_SELECT: return this.driverFeatureSelect;
      case CommonCfg.DRIVER_FEATURE: return this.driverFeatures[this.driverFeatureSelect] ?? 0;
      case CommonCfg.CONFIG_MSIX_VECTOR: return this.configVector;
      case CommonCfg.NUM_QUEUES: return this.queues.length;
      case CommonCfg.DEVICE_STATUS: return this.status;
      case CommonCfg.CONFIG_GENERATION: return this.generation;
      case CommonCfg.QUEUE_SELECT: return this.queueSelect;
      case CommonCfg.QUEUE_SIZE: return q?.size ?? 0;
      case CommonCfg.QUEUE_MSIX_VECTOR: return q?.vector ?? NO_VECTOR;
      case CommonCfg.QUEUE_ENABLE: return q?.enabled ? 1 : 0;
      case CommonCfg.QUEUE_NOTIFY_OFF: return q === undefined ? 0 : this.queueSelect;
      case CommonCfg.QUEUE_DESC: case CommonCfg.QUEUE_DESC + 4:
      case CommonCfg.QUEUE_DRIVER: case CommonCfg.QUEUE_DRIVER + 4:
      case CommonCfg.QUEUE_DEVICE: case CommonCfg.QUEUE_DEVICE + 4: {
        if (q === undefined || size !== 4) return 0;
        const field = o < CommonCfg.QUEUE_DRIVER ? q.desc : o < CommonCfg.QUEUE_DEVICE ? q.driver : q.device;
        return (o & 4) === 0 ? field % 2 ** 32 : Math.floor(field / 2 ** 32);
      }
      default: return 0;
    }
  }

  private writeCommon(o: number, size: number, value: number): void {
    const q = this.queues[this.queueSelect];
    switch (o) {
      case CommonCfg.DEVICE_FEATURE_SELECT: this.deviceFeatureSelect = value >>> 0; return;
      case CommonCfg.DRIVER_FEATURE_SELECT: this.driverFeatureSelect = value >>> 0; return;
      case CommonCfg.DRIVER_FEATURE:
        // Features are fixed once FEATURES_OK is set.
        if (this.driverFeatureSelect < 2 && (this.status & VirtioStatus.FEATURES_OK) === 0) this.driverFeatures[this.driverFeatureSelect] = value >>> 0;
        return;
      case CommonCfg.CONFIG_MSIX_VECTOR: this.configVector = this.vectorOrNone(value); return;
      case CommonCfg.DEVICE_STATUS: this.writeStatus(value & 0xff); return;
      case CommonCfg.QUEUE_SELECT: this.queueSelect = value & 0xffff; return;
    }
    if (q === undefined || q.enabled) return; // queue registers are read-only once enabled
    switch (o) {
      case CommonCfg.QUEUE_SIZE: {
        const v = value & 0xffff;
        const max = this.device.queueSizes[this.queueSelect]!;
        if (v >= 1 && v <= max && (v & (v - 1)) === 0) q.size = v;
        return;
      }
      case CommonCfg.QUEUE_MSIX_VECTOR: q.vector = this.vectorOrNone(value); return;
      case CommonCfg.QUEUE_ENABLE: if ((value & 1) !== 0) this.enableQueue(q); return;
      case CommonCfg.QUEUE_DESC: case CommonCfg.QUEUE_DESC + 4:
      case CommonCfg.QUEUE_DRIVER: case CommonCfg.QUEUE_DRIVER + 4:
      case CommonCfg.QUEUE_DEVICE: case CommonCfg.QUEUE_DEVICE + 4: {
        if (size !== 4) return;
        const key = o < CommonCfg.QUEUE_DRIVER ? 'desc' : o < CommonCfg.QUEUE_DEVICE ? 'driver' : 'device';
        const old = q[key];
        const lo = old % 2 ** 32;
        const hi = Math.floor(old / 2 ** 32);
        q[key] = (o & 4) === 0 ? hi * 2 ** 32 + (value >>> 0) : (value >>> 0) * 2 ** 32 + lo;
        return;
      }
    }
  }

  private vectorOrNone(value: number): number {
    const v = value & 0xffff;
    return v < this.msix.vectors ? v : NO_VECTOR;
  }

  private writeStatus(v: number): void {
    if (v === 0) {
      this.resetDevice();
      return;
    }
    if ((v & VirtioStatus.FEATURES_OK) !== 0 && (this.status & VirtioStatus.FEATURES_OK) === 0 && !this.featuresAcceptable()) {
      v &= ~VirtioStatus.FEATURES_OK; // the driver reads it back and gives up
    }
    this.status = v | (this.status & VirtioStatus.DEVICE_NEEDS_RESET);
  }

  /** The driver accepted only what was offered, and VERSION_1 (a legacy driver is not served). */
  private featuresAcceptable(): boolean {
    const [lo, hi] = this.driverFeatures as [number, number];
    return (lo & ~this.offered(0)) === 0 && (hi & ~this.offered(1)) === 0 && (hi & (1 << (VirtioFeature.VERSION_1 - 32))) !== 0;
  }

  private enableQueue(q: QueueRegs): void {
    q.queue.indirect = (this.driverFeatures[0]! & (1 << VirtioFeature.RING_INDIRECT_DESC)) !== 0;
    q.queue.eventIdx = (this.driverFeatures[0]! & (1 << VirtioFeature.RING_EVENT_IDX)) !== 0;
    if (q.queue.configure({ desc: q.desc, avail: q.driver, used: q.device, size: q.size }) !== undefined) {
      this.needsReset();
      return;
    }
    q.enabled = true;
  }

  private process(index: number): void {
    const q = this.queues[index]!;
    if (!q.enabled || (this.status & VirtioStatus.DRIVER_OK) === 0 || (this.status & VirtioStatus.DEVICE_NEEDS_RESET) !== 0) return;
    const ok = this.device.serve(index, q.queue);
    if (q.queue.publish()) this.interrupt(q.vector, Isr.QUEUE);
    if (!ok) this.needsReset();
  }

  private needsReset(): void {
    this.stats.needsReset++;
    this.status |= VirtioStatus.DEVICE_NEEDS_RESET;
    if ((this.status & VirtioStatus.DRIVER_OK) !== 0) {
      this.generation = (this.generation + 1) & 0xff;
      this.interrupt(this.configVector, Isr.CONFIG);
    }
  }

  private interrupt(vector: number, isrBit: number): void {
    this.stats.interrupts++;
    if (this.msix.enabled) {
      if (vector !== NO_VECTOR) this.msix.notify(vector);
      return;
    }
    this.isr |= isrBit;
    if ((this.config.command & PciCommand.INTX_DISABLE) === 0) this.wiring.intx.raise();
  }

  private readIsr(): number {
    const v = this.isr;
    this.isr = 0;
    this.wiring.intx.lower();
    return v;
  }

  private resetDevice(): void {
    this.status = 0;
    this.driverFeatures[0] = 0;
    this.driverFeatures[1] = 0;
    this.deviceFeatureSelect = 0;
    this.driverFeatureSelect = 0;
    this.configVector = NO_VECTOR;
    this.queueSelect = 0;
    this.isr = 0;
    this.wiring.intx.lower();
    this.queues.forEach((q, i) => {
      q.size = this.device.queueSizes[i]!;
      q.vector = NO_VECTOR;
      q.enabled = false;
      q.desc = q.driver = q.device = 0;
      q.queue.reset();
    });
    this.device.reset();
  }
}
