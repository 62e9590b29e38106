import test from 'ava';
import { MemoryBlockStore } from '@hyvisor/devices';
import { CommonCfg, VirtioPciCap } from '../pci/virtio-pci.js';
import { AVAIL, BAR4, BUF, USED, bringUp, machine, offer, virtioCaps } from '../test-support.js';
import { VirtioBlk } from './virtio-blk.js';

function blk(readOnly = false) {
  const store = new MemoryBlockStore(64);
  const m = machine((memory) => new VirtioBlk(memory, store, { readOnly, id: 'hyvisor-disk-0' }));
  const b = bringUp(m);
  const device = BAR4 + virtioCaps(m.cfgRead).caps.get(VirtioPciCap.DEVICE_CFG)!.offset;
  return { ...m, ...b, store, device, blk: m.device as VirtioBlk };
}

/** A request: header (device-readable), data, status (device-writable). */
function request(m: ReturnType<typeof blk>, idx: number, type: number, sector: number, data: [number, number, boolean][]) {
  m.memory.setU32(BUF, type);
  m.memory.setU32(BUF + 8, sector);
  m.memory.setU32(BUF + 12, 0);
  const status = BUF + 0x800;
  m.memory.setU8(status, 0xee);
  offer(m.memory, idx, [[BUF, 16], ...data.map(([a, l]) => [a, l] as [number, number]), [status, 1]], [false, ...data.map(([, , w]) => w), true]);
  m.memory.setU16(AVAIL + 4 + 2 * 8, idx); // used_event: interrupt me for this one (event-index is negotiated)
  m.notify();
  return m.memory.u8(status);
}

test('configuration: capacity in sectors, seg_max, blk_size; features say flush and (when asked) read-only', (t) => {
  const m = blk();
  t.is(m.mmio.read(m.device, 4), 64);
  t.is(m.mmio.read(m.device + 4, 4), 0);
  t.is(m.mmio.read(m.device + 12, 4), 254);
  t.is(m.mmio.read(m.device + 20, 4), 512);
  m.w(CommonCfg.DEVICE_FEATURE_SELECT, 0);
  const features = m.c(CommonCfg.DEVICE_FEATURE);
  t.truthy(features & (1 << 9), 'VIRTIO_BLK_F_FLUSH');
  t.falsy(features & (1 << 5));
  t.truthy(blk(true).blk.features & (1 << 5), 'VIRTIO_BLK_F_RO');
});

test('a write then a read of sector 3 go through the store; status OK; used length counts what the device wrote', (t) => {
  const m = blk();
  const DATA = 0x30000;
  for (let i = 0; i < 512; i++) m.memory.setU8(DATA + i, (i * 7) & 0xff);
  t.is(request(m, 0, 1, 3, [[DATA, 512, false]]), 0);
  const sector = new Uint8Array(512);
  m.store.read(3, 1, sector);
  t.is(sector[10], 70);
  t.is(request(m, 1, 0, 3, [[DATA + 0x1000, 512, true]]), 0);
  t.deepEqual([...m.memory.slice(DATA + 0x1000, 512)!], [...sector]);
  t.is(m.memory.u32(USED + 4 + 8 + 4), 513, 'IN: 512 data bytes + the status byte');
  t.is(m.msis.length, 2, 'one MSI-X message per request the driver asked to hear about');
});

test('GET_ID returns the serial; past the end is an I/O error status; an unknown type is UNSUPP', (t) => {
  const m = blk();
  t.is(request(m, 0, 8, 0, [[0x30000, 20, true]]), 0);
  t.is(new TextDecoder().decode(m.memory.slice(0x30000, 14)!), 'hyvisor-disk-0');
  t.is(request(m, 1, 0, 64, [[0x30000, 512, true]]), 1);
  t.is(m.blk.errors.out_of_range, 1);
  t.is(request(m, 2, 99, 0, [[0x30000, 512, true]]), 2);
});
