import test from 'ava';
import { PciConfigSpace } from './config-space.js';
import { MSIX_ENABLE, MSIX_FUNCTION_MASK, Msix } from './msix.js';

function setup(vectors = 3) {
  const config = new PciConfigSpace({ vendorId: 0x1af4, deviceId: 0x1044, classCode: 0xff0000 });
  const sent: [number, number][] = [];
  const msix = new Msix(config, vectors, 1, { signalMsi: (a, d) => void sent.push([a, d]) });
  const control = (v: number) => { config.write(msix.capability + 2, 2, v); msix.configWritten(); };
  const entry = (v: number, address: number, data: number, masked: boolean) => {
    msix.write(v * 16, 4, address);
    msix.write(v * 16 + 4, 4, 0);
    msix.write(v * 16 + 8, 4, data);
    msix.write(v * 16 + 12, 4, masked ? 1 : 0);
  };
  return { config, msix, sent, control, entry };
}

test('the capability: ID 0x11, table size N-1, table and PBA in the given BAR', (t) => {
  const { config, msix } = setup(3);
  const at = msix.capability;
  t.is(config.read(0x34, 1), at);
  t.is(config.read(at, 1), 0x11);
  t.is(config.read(at + 2, 2), 2);
  t.is(config.read(at + 4, 4), 0x00000001); // offset 0, BIR 1
  t.is(config.read(at + 8, 4), 0x00000031); // PBA right after 3 × 16 bytes, BIR 1
  t.is(msix.barSize, 4096);
  config.write(at + 2, 2, 0xffff);
  t.is(config.read(at + 2, 2), 0xc002, 'only enable and function mask are writable');
});

test('entries are masked at reset: a notify sets the pending bit; unmasking sends the message once', (t) => {
  const { msix, sent, control } = setup();
  control(MSIX_ENABLE);
  t.is(msix.read(12, 4), 1, 'vector control: masked');
  t.true(msix.notify(1));
  t.deepEqual(sent, []);
  t.is(msix.read(msix.pbaOffset, 4), 0b010);
  msix.write(16, 4, 0xfee01000);
  msix.write(24, 4, 0x4041);
  msix.write(28, 4, 0);
  t.deepEqual(sent, [[0xfee01000, 0x4041]]);
  t.is(msix.read(msix.pbaOffset, 4), 0);
  t.true(msix.notify(1));
  t.deepEqual(sent, [[0xfee01000, 0x4041], [0xfee01000, 0x4041]]);
});

test('the function mask holds every vector; clearing it releases what is pending', (t) => {
  const { msix, sent, control, entry } = setup();
  entry(0, 0xfee00000, 0x30, false);
  entry(2, 0xfee00000, 0x32, false);
  control(MSIX_ENABLE | MSIX_FUNCTION_MASK);
  msix.notify(2);
  msix.notify(0);
  t.deepEqual(sent, []);
  control(MSIX_ENABLE);
  t.deepEqual(sent, [[0xfee00000, 0x30], [0xfee00000, 0x32]]);
});

test('with MSI-X off, or for a vector that does not exist, notify says no and sends nothing', (t) => {
  const { msix, sent, control, entry } = setup();
  entry(0, 0xfee00000, 0x30, false);
  t.false(msix.notify(0));
  control(MSIX_ENABLE);
  t.false(msix.notify(3));
  t.false(msix.notify(-1));
  t.false(msix.notify(Number.NaN));
  t.deepEqual(sent, []);
});

test('reserved bits read as zero: address bits 1:0 and vector control above the mask; the PBA ignores writes', (t) => {
  const { msix } = setup();
  msix.write(0, 4, 0xfee00003);
  t.is(msix.read(0, 4), 0xfee00000);
  msix.write(12, 4, 0xffffffff);
  t.is(msix.read(12, 4), 1);
  msix.write(msix.pbaOffset, 4, 0xffffffff);
  t.is(msix.read(msix.pbaOffset, 4), 0);
  t.is(msix.read(4000, 4), 0, 'beyond the array: zero, no throw');
});
