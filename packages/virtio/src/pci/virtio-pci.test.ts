/**
 * The virtio-pci transport driven the way Linux's virtio_pci_modern driver drives it: through
 * configuration mechanism #1 and the BARs the "driver" assigns, with virtio-rng behind it.
 */
import test from 'ava';
import { CommonCfg, NO_VECTOR, VirtioPciCap, VirtioStatus } from './virtio-pci.js';
import { VirtioRng, seededEntropy } from '../rng/virtio-rng.js';
import { AVAIL, BAR4, BUF, RAM, USED, bringUp, machine as machineOf, offer, virtioCaps } from '../test-support.js';

const machine = () => {
  const m = machineOf((memory) => new VirtioRng(memory, seededEntropy(42)));
  return { ...m, rng: m.device as VirtioRng };
};

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
