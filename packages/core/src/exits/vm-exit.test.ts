import test from 'ava';
import { EXIT_KIND_COUNT, EXIT_KIND_NAMES, ExitKind, createExit, exitValue, setExitValue } from './vm-exit.js';

test('every exit kind has a name at its index', (t) => {
  t.is(EXIT_KIND_NAMES.length, EXIT_KIND_COUNT);
  t.is(Object.keys(ExitKind).length, EXIT_KIND_COUNT);
  t.is(EXIT_KIND_NAMES[ExitKind.InternalError], 'internal-error');
  t.is(EXIT_KIND_NAMES[ExitKind.Unknown], 'unknown');
});

test('exit values are little-endian at dataOffset + i * size', (t) => {
  const exit = createExit(new DataView(new ArrayBuffer(64)));
  exit.dataOffset = 8;
  exit.size = 2;
  new Uint8Array(exit.data.buffer).set([0x34, 0x12, 0x78, 0x56], 8);
  t.is(exitValue(exit, 0), 0x1234);
  t.is(exitValue(exit, 1), 0x5678);
});

test('an 8-byte value above 32 bits round-trips', (t) => {
  const exit = createExit(new DataView(new ArrayBuffer(16)));
  exit.size = 8;
  setExitValue(exit, 2 ** 40 + 5);
  t.is(exitValue(exit), 2 ** 40 + 5);
  t.is(exit.data.getBigUint64(0, true), 2n ** 40n + 5n);
});

test('a 4-byte value with bit 31 set reads back unsigned', (t) => {
  const exit = createExit(new DataView(new ArrayBuffer(8)));
  exit.size = 4;
  setExitValue(exit, 0x80000000 | 0);
  t.is(exitValue(exit), 0x80000000);
});
