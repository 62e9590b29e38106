/**
 * The virtio-pci transport driven the way Linux's virtio_pci_modern driver drives it: through
 * configuration mechanism #1 and the BARs the "driver" assigns, with virtio-rng behind it.
 */
import test from 'ava';
import { GuestMemory, MmioBus, PioBus, type ResourceMapper } from '@hyvisor/core';
import { RecordingIrqLine } from '@hyvisor/core/testing';
import { PciBus, PciConfigIo, PciHostBridge } from '@hyvisor/pci';
import { CommonCfg, NO_VECTOR, VirtioFeature, VirtioPciCap, VirtioPciFunction, VirtioStatus } from './virtio-pci.js';
import { VirtioRng, seededEntropy } from '../rng/virtio-rng.js';

const RAM = 1 << 20;
const BAR4 = 0xfe000000;
const BAR1 = 0xfebf0000;
const DESC = 0x10000;
const AVAIL = 0x11000;
const USED = 0x12000;
const BUF = 0x20000;

function machine() {
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
  const rng = new VirtioRng(memory, seededEntropy(42));
  const fn = new VirtioPciFunction('virtio-rng', rng, {
    memory, accessible: (gpa, len) => Number.isSafeInteger(gpa) && gpa >= 0 && gpa + len <= RAM, intx, msi: { signalMsi: (a, d) => void msis.push([a, d]) },
  });
  const slot = bus.attach(fn);
  const cfgRead = (reg: number, size = 4) => { pio.write(0xcf8, 4, (0x80000000 | (slot << 11) | (reg & 0xfc)) >>> 0); return pio.read(0xcfc + (reg & 3), size); };
  const cfgWrite = (reg: number, value: number, size = 4) => { pio.write(0xcf8, 4, (0x80000000 | (slot << 11) | (reg & 0xfc)) >>> 0); pio.write(0xcfc + (reg & 3), size, value); };
  return { memory, pio, mmio, fn, rng, intx, msis, cfgRead, cfgWrite };
}

/** Walks the capability list as a driver does: type → {bar, offset, length, at}. */
function virtioCaps(cfgRead: (reg: number, size?: number) => number) {
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
function bringUp(m: ReturnType<typeof machine>, features = [1 << VirtioFeature.RING_EVENT_IDX, 1]) {
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

function offer(memory: GuestMemory, idx: number, bufs: [number, number][]) {
  bufs.forEach(([addr, len], i) => {
    const d = DESC + 16 * i;
    memory.setU32(d, addr); memory.setU32(d + 4, 0);
    memory.setU32(d + 8, len);
    memory.setU16(d + 12, 2 | (i + 1 < bufs.length ? 1 : 0));
    memory.setU16(d + 14, i + 1);
  });
  memory.setU16(AVAIL + 4 + 2 * (idx % 8), 0);
  memory.setU16(AVAIL + 2, idx + 1);
}

test('identity and capabilities as the specification lays them out', (t) => {
  const { cfgRead } = machine();
  t.is(cfgRead(0x00), 0x10441af4, 'vendor 0x1af4, device 0x1040 + 4 (entropy)');
  t.is(cfgRead(0x08, 1), 1, 'revision 1: a modern device');
  t.true(cfgRead(0x2e, 2) >= 0x40, 'subsystem ID >= 0x40');
  const { caps, msix } = virtioCaps(cfgRead);
  t.deepEqual([...caps.keys()].sort(), [VirtioPciCap.COMMON_CFG, VirtioPciCap.NOTIFY_CFG, VirtioPciCap.ISR_CFG]);
  for (const c of caps.values()) t.is(c.bar, 4);
  t.is(caps.get(VirtioPciCap.COMMON_CFG)!.length, 56);
  t.is(cfgRead(caps.get(VirtioPciCap.NOTIFY_CFG)!.at + 2, 1), 20, 'the notify capability carries the multiplier');
  t.true(msix > 0);
  t.is(cfgRead(msix + 2, 2) & 0x7ff, 1, 'two MSI-X vectors: config and the queue');
});

test('the rng fills a chain of buffers; the used entry and the MSI-X message follow', (t) => {
  const m = machine();
  const { notify, c } = bringUp(m);
  t.is(c(CommonCfg.DEVICE_STATUS, 1), 0xf);
  offer(m.memory, 0, [[BUF, 16], [BUF + 0x100, 32]]);
  notify();
  t.is(m.memory.u16(USED + 2), 1);
  t.deepEqual([m.memory.u32(USED + 4), m.memory.u32(USED + 8)], [0, 48]);
  const expected = new Uint8Array(48);
  seededEntropy(42)(expected.subarray(0, 16));
  const src = seededEntropy(42);
  const first = new Uint8Array(16); src(first);
  const second = new Uint8Array(32); src(second);
  t.deepEqual([...m.memory.slice(BUF, 16)!], [...first]);
  t.deepEqual([...m.memory.slice(BUF + 0x100, 32)!], [...second]);
  t.deepEqual(m.msis, [[0xfee00000, 0x41]]);
  t.is(m.rng.bytesServed, 48);
});

test('without MSI-X the queue interrupt is INTx with ISR bit 0; reading the ISR clears it and lowers the line', (t) => {
  const m = machine();
  const { caps, msix, notify } = bringUp(m);
  m.cfgWrite(msix + 2, 0, 2);
  offer(m.memory, 0, [[BUF, 8]]);
  notify();
  t.deepEqual(m.msis, []);
  t.true(m.intx.level);
  const isr = BAR4 + caps.get(VirtioPciCap.ISR_CFG)!.offset;
  t.is(m.mmio.read(isr, 1), 1);
  t.false(m.intx.level);
  t.is(m.mmio.read(isr, 1), 0, 'read-to-clear');
});

test('features: VERSION_1 is offered; a driver without it, or asking for more than offered, does not get FEATURES_OK', (t) => {
  const m = machine();
  const { c, w } = bringUp(m);
  w(CommonCfg.DEVICE_FEATURE_SELECT, 1);
  t.is(c(CommonCfg.DEVICE_FEATURE) & 1, 1);
  for (const features of [[0, 0], [1 << 5, 1]]) {
    const m2 = machine();
    const b = bringUp(m2, features);
    t.is(b.c(CommonCfg.DEVICE_STATUS, 1) & VirtioStatus.FEATURES_OK, 0, JSON.stringify(features));
  }
});

test('hostile programming: a vector past the table reads NO_VECTOR; a queue outside RAM sets DEVICE_NEEDS_RESET and signals a config change', (t) => {
  const m = machine();
  const { c, w } = bringUp(m);
  w(CommonCfg.CONFIG_MSIX_VECTOR, 7, 2);
  t.is(c(CommonCfg.CONFIG_MSIX_VECTOR, 2), NO_VECTOR);
  w(CommonCfg.CONFIG_MSIX_VECTOR, 0, 2);
  const m2 = machine();
  const b = bringUp(m2);
  b.w(CommonCfg.DEVICE_STATUS, 0, 1); // reset, then a bad layout
  b.w(CommonCfg.DEVICE_STATUS, 3, 1);
  b.w(CommonCfg.DRIVER_FEATURE_SELECT, 1); b.w(CommonCfg.DRIVER_FEATURE, 1);
  b.w(CommonCfg.DEVICE_STATUS, 0xb, 1);
  b.w(CommonCfg.CONFIG_MSIX_VECTOR, 0, 2);
  b.w(CommonCfg.DEVICE_STATUS, 0xf, 1);
  b.w(CommonCfg.QUEUE_DESC, RAM - 16);
  t.notThrows(() => b.w(CommonCfg.QUEUE_ENABLE, 1, 2));
  t.truthy(b.c(CommonCfg.DEVICE_STATUS, 1) & VirtioStatus.DEVICE_NEEDS_RESET);
  t.is(b.c(CommonCfg.QUEUE_ENABLE, 2), 0);
  t.deepEqual(m2.msis, [[0xfee00000, 0x40]], 'the configuration-change vector');
});

test('a broken chain marks the device DEVICE_NEEDS_RESET; a reset (status 0) brings it back', (t) => {
  const m = machine();
  const { c, w, notify } = bringUp(m);
  m.memory.setU16(AVAIL + 4, 9); // head past the queue
  m.memory.setU16(AVAIL + 2, 1);
  t.notThrows(() => notify());
  t.truthy(c(CommonCfg.DEVICE_STATUS, 1) & VirtioStatus.DEVICE_NEEDS_RESET);
  t.is(m.fn.stats.needsReset, 1);
  w(CommonCfg.DEVICE_STATUS, 0, 1);
  t.is(c(CommonCfg.DEVICE_STATUS, 1), 0);
  t.is(c(CommonCfg.QUEUE_ENABLE, 2), 0);
  t.is(c(CommonCfg.QUEUE_SIZE, 2), 256, 'the queue size is back to the maximum');
});
