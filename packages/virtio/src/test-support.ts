/**
 * A virtio-pci "driver" for tests: a machine of buses, RAM and a PCI host bridge, and the
 * bring-up sequence Linux's virtio_pci_modern driver performs (capabilities, BARs, MSI-X,
 * status, features, one queue), through configuration mechanism #1 and the BARs.
 * @module
 */
import { GuestMemory, MmioBus, PioBus, type ResourceMapper } from '@hyvisor/core';
import { RecordingIrqLine } from '@hyvisor/core/testing';
import { PciBus, PciConfigIo, PciHostBridge } from '@hyvisor/pci';
import { CommonCfg, VirtioFeature, VirtioPciCap, VirtioPciFunction, VirtioStatus, type VirtioDevice } from './pci/virtio-pci.js';

export const RAM = 1 << 20;
export const BAR4 = 0xfe000000;
export const BAR1 = 0xfebf0000;
export const DESC = 0x10000;
export const AVAIL = 0x11000;
export const USED = 0x12000;
export const BUF = 0x20000;

export function machine(makeDevice: (memory: GuestMemory) => VirtioDevice) {
  const memory = new GuestMemory();
  memory.addRegion({ name: 'ram', gpa: 0, size: RAM, buffer: new ArrayBuffer(RAM), readonly: false });
  const pio = new PioBus();
  const mmio = new MmioBus();
  const resources: ResourceMapper = { mapMmio: (...a) => mmio.register(...a), mapPio: (...a) => pio.register(...a) };
  const bus = new PciBus(resources);
  bus.attach(new PciHostBridge(), 0);
  pio.register('pci', 0xcf8, 8, new PciConfigIo(bus));
  const intx = new RecordingIrqLine();
  const msis: [number, number][] = [];
  const device = makeDevice(memory);
  const fn = new VirtioPciFunction('virtio-dev', device, {
    memory, accessible: (gpa, len) => Number.isSafeInteger(gpa) && gpa >= 0 && gpa + len <= RAM, intx, msi: { signalMsi: (a, d) => void msis.push([a, d]) },
  });
  const slot = bus.attach(fn);
  const cfgRead = (reg: number, size = 4) => { pio.write(0xcf8, 4, (0x80000000 | (slot << 11) | (reg & 0xfc)) >>> 0); return pio.read(0xcfc + (reg & 3), size); };
  const cfgWrite = (reg: number, value: number, size = 4) => { pio.write(0xcf8, 4, (0x80000000 | (slot << 11) | (reg & 0xfc)) >>> 0); pio.write(0xcfc + (reg & 3), size, value); };
  return { memory, pio, mmio, fn, device, intx, msis, cfgRead, cfgWrite };
}

/** Walks the capability list as a driver does: type → {bar, offset, length, at}. */
export function virtioCaps(cfgRead: (reg: number, size?: number) => number) {
  const caps = new Map<number, { bar: number; offset: number; length: number; at: number }>();
  let msix = 0;
  for (let at = cfgRead(0x34, 1); at !== 0; at = cfgRead(at + 1, 1)) {
    const id = cfgRead(at, 1);
    if (id === 0x11) msix = at;
    if (id === 0x09) caps.set(cfgRead(at + 3, 1), { bar: cfgRead(at + 4, 1), offset: cfgRead(at + 8), length: cfgRead(at + 12), at });
  }
  return { caps, msix };
}

/** Brings the device up to DRIVER_OK with one 8-entry queue on MSI-X vector 1; returns helpers. */
export function bringUp(m: ReturnType<typeof machine>, features = [1 << VirtioFeature.RING_EVENT_IDX, 1]) {
  const { mmio, cfgRead, cfgWrite } = m;
  const { caps, msix } = virtioCaps(cfgRead);
  cfgWrite(0x20, BAR4);
  cfgWrite(0x24, 0);
  cfgWrite(0x14, BAR1);
  cfgWrite(0x04, 0x6, 2); // memory space, bus master
  cfgWrite(msix + 2, 0x8000, 2); // MSI-X on
  for (const [v, data] of [[0, 0x40], [1, 0x41]] as const) {
    mmio.write(BAR1 + v * 16, 4, 0xfee00000);
    mmio.write(BAR1 + v * 16 + 8, 4, data);
    mmio.write(BAR1 + v * 16 + 12, 4, 0);
  }
  const common = BAR4 + caps.get(VirtioPciCap.COMMON_CFG)!.offset;
  const c = (o: number, size = 4) => mmio.read(common + o, size);
  const w = (o: number, v: number, size = 4) => mmio.write(common + o, size, v);
  w(CommonCfg.DEVICE_STATUS, 0, 1);
  w(CommonCfg.DEVICE_STATUS, VirtioStatus.ACKNOWLEDGE | VirtioStatus.DRIVER, 1);
  for (const sel of [0, 1]) {
    w(CommonCfg.DRIVER_FEATURE_SELECT, sel);
    w(CommonCfg.DRIVER_FEATURE, features[sel]!);
  }
  w(CommonCfg.DEVICE_STATUS, VirtioStatus.ACKNOWLEDGE | VirtioStatus.DRIVER | VirtioStatus.FEATURES_OK, 1);
  w(CommonCfg.CONFIG_MSIX_VECTOR, 0, 2);
  w(CommonCfg.QUEUE_SELECT, 0, 2);
  w(CommonCfg.QUEUE_SIZE, 8, 2);
  w(CommonCfg.QUEUE_MSIX_VECTOR, 1, 2);
  w(CommonCfg.QUEUE_DESC, DESC); w(CommonCfg.QUEUE_DESC + 4, 0);
  w(CommonCfg.QUEUE_DRIVER, AVAIL); w(CommonCfg.QUEUE_DRIVER + 4, 0);
  w(CommonCfg.QUEUE_DEVICE, USED); w(CommonCfg.QUEUE_DEVICE + 4, 0);
  w(CommonCfg.QUEUE_ENABLE, 1, 2);
  w(CommonCfg.DEVICE_STATUS, VirtioStatus.ACKNOWLEDGE | VirtioStatus.DRIVER | VirtioStatus.FEATURES_OK | VirtioStatus.DRIVER_OK, 1);
  const notifyCap = caps.get(VirtioPciCap.NOTIFY_CFG)!;
  const multiplier = cfgRead(notifyCap.at + 16);
  const notify = () => mmio.write(BAR4 + notifyCap.offset + c(CommonCfg.QUEUE_NOTIFY_OFF, 2) * multiplier, 2, 0);
  return { caps, msix, c, w, notify };
}

/** Offers one chain of device-writable buffers (`writable[i]` false: device-readable) at avail index `idx`. */
export function offer(memory: GuestMemory, idx: number, bufs: [number, number][], writable: boolean[] = bufs.map(() => true)) {
  bufs.forEach(([addr, len], i) => {
    const d = DESC + 16 * i;
    memory.setU32(d, addr); memory.setU32(d + 4, 0);
    memory.setU32(d + 8, len);
    memory.setU16(d + 12, (writable[i] ? 2 : 0) | (i + 1 < bufs.length ? 1 : 0));
    memory.setU16(d + 14, i + 1);
  });
  memory.setU16(AVAIL + 4 + 2 * (idx % 8), 0);
  memory.setU16(AVAIL + 2, idx + 1);
}

