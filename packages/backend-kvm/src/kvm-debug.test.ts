import test from 'ava';
import { BackendError } from '@hyvisor/core';
import { KvmDebug } from './kvm-debug.js';

function recorder(watchpoints = true) {
  const calls: { control: number; dr: bigint[] }[] = [];
  const debug = new KvmDebug((arg) => {
    const v = new DataView(arg.buffer, arg.byteOffset, arg.byteLength);
    calls.push({ control: v.getUint32(0, true), dr: [0, 1, 2, 3, 4, 5, 6, 7].map((i) => v.getBigUint64(8 + 8 * i, true)) });
    return 0;
  }, watchpoints);
  return { debug, calls };
}

test('a breakpoint and a write watchpoint fill DR0, DR1 and DR7 (global enables, RW, LEN)', (t) => {
  const { debug, calls } = recorder();
  debug.setBreakpoints([0x104f50n]);
  debug.setWatchpoints([{ address: 0x200008n, length: 4, kind: 'write' }]);
  const last = calls.at(-1)!;
  t.is(last.control, 0x1 | 0x20000, 'ENABLE | USE_HW_BP');
  t.is(last.dr[0], 0x104f50n);
  t.is(last.dr[1], 0x200008n);
  // G0 (bit 1), G1 (bit 3), RW1 = 01 (bits 20-21), LEN1 = 11 (bits 22-23), bits 9-10 set.
  t.is(last.dr[7], 0x600n | 0x2n | 0x8n | (1n << 20n) | (3n << 22n));
});

test('single step sets SINGLESTEP and keeps the breakpoints; off clears it', (t) => {
  const { debug, calls } = recorder();
  debug.setBreakpoints([0x1000n]);
  debug.setSingleStep(true);
  t.is(calls.at(-1)!.control, 0x1 | 0x2 | 0x20000);
  debug.setSingleStep(false);
  t.is(calls.at(-1)!.control, 0x1 | 0x20000);
  debug.setBreakpoints([]);
  t.is(calls.at(-1)!.control, 0, 'nothing set: guest debugging off');
});

test('refused: a fifth slot, a read-only watch, an unaligned or odd length, watchpoints where the host has none', (t) => {
  const { debug } = recorder();
  t.throws(() => debug.setBreakpoints([1n, 2n, 3n, 4n, 5n]), { instanceOf: BackendError });
  t.throws(() => debug.setWatchpoints([{ address: 0x1000n, length: 4, kind: 'read' }]), { instanceOf: BackendError });
  t.throws(() => debug.setWatchpoints([{ address: 0x1002n, length: 4, kind: 'write' }]), { instanceOf: BackendError });
  t.throws(() => debug.setWatchpoints([{ address: 0x1000n, length: 3, kind: 'access' }]), { instanceOf: BackendError });
  const pvm = recorder(false);
  t.is(pvm.debug.maxWatchpoints, 0);
  t.throws(() => pvm.debug.setWatchpoints([{ address: 0x1000n, length: 4, kind: 'write' }]), { instanceOf: BackendError });
});

test('a KVM_EXIT_DEBUG is read as the breakpoint, watchpoint or step DR6 names', (t) => {
  const { debug } = recorder();
  debug.setBreakpoints([0x1000n]);
  debug.setWatchpoints([{ address: 0x2000n, length: 8, kind: 'access' }]);
  const run = new DataView(new ArrayBuffer(128));
  const at = 32;
  const exit = (exception: number, dr6: number) => { run.setUint32(at, exception, true); run.setBigUint64(at + 16, BigInt(dr6), true); debug.decodeExit(run, at); return debug.lastStop; };
  t.deepEqual(exit(1, 0x1), { kind: 'breakpoint', address: 0x1000n });
  t.deepEqual(exit(1, 0x2), { kind: 'watchpoint', address: 0x2000n, access: 'access' });
  t.deepEqual(exit(1, 0x4000), { kind: 'step' });
});
