import test from 'ava';
import { DebugExit } from './debug-exit.js';

function setup() {
  const codes: number[] = [];
  return { codes, dev: new DebugExit({ requestExit: (c) => codes.push(c) }) };
}

test('a write requests an exit with the value written', (t) => {
  const { codes, dev } = setup();
  dev.write(0, 1, 0x10);
  t.deepEqual(codes, [0x10]);
});

test('a 4-byte write passes the whole 32-bit value', (t) => {
  const { codes, dev } = setup();
  dev.write(0, 4, 0xdeadbeef);
  t.deepEqual(codes, [0xdeadbeef]);
});

test('the exit code is masked to the access size', (t) => {
  const { codes, dev } = setup();
  dev.write(0, 1, 0x1ff);
  dev.write(0, 2, 0x12345);
  t.deepEqual(codes, [0xff, 0x2345]);
});

test('a write at any of the four ports exits', (t) => {
  const { codes, dev } = setup();
  dev.write(3, 1, 7);
  t.deepEqual(codes, [7]);
});

test('reads return 0 as in QEMU and request no exit', (t) => {
  const { codes, dev } = setup();
  t.is(dev.read(0, 4), 0);
  t.deepEqual(codes, []);
});
