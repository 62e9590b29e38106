#!/usr/bin/env node
// Cost of one userspace port-write exit through KvmVcpu.run(), against the addon's bare KVM_RUN
// on the same guest (`out 0x10, al; jmp $-2` in ring 0). Prints JSON; asserts nothing.
// Usage: node packages/backend-kvm/bench/pio-exit.mjs [exits=20000]
import { bootRegisters, longModeSpecialRegisters, writeBootTables, ExitKind } from '@hyvisor/core';
import { KvmBackend, kvmAvailable, loadNative } from '../dist/index.js';

const exits = Number(process.argv[2] ?? 20000);
const avail = kvmAvailable();
if (!avail.ok) {
  console.log(JSON.stringify({ skipped: avail.reason }));
  process.exit(0);
}
const backend = new KvmBackend();
const vm = backend.createVm({ name: 'bench' });
vm.addRegion('ram', 0, 2 << 20);
writeBootTables(vm.memory);
vm.memory.write(0x100000, Uint8Array.from([0xe6, 0x10, 0xeb, 0xfc]));
const cpu = vm.createVcpu(0);
cpu.setSpecialRegisters(longModeSpecialRegisters(cpu.getSpecialRegisters()));
cpu.setRegisters(bootRegisters(0x100000n));

const native = loadNative();
const handle = cpu['handle'];
const median = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1];
const time = (fn) => {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e3 / exits;
};
const runLoop = () => {
  for (let i = 0; i < exits; i++) if (cpu.run().kind !== ExitKind.Io) throw new Error('unexpected exit');
};
const rawLoop = () => {
  for (let i = 0; i < exits; i++) native.vcpuRun(handle);
};
runLoop(); // warm up (JIT, page faults)
const run = [], raw = [];
for (let rep = 0; rep < 5; rep++) {
  run.push(time(runLoop));
  raw.push(time(rawLoop));
}
console.log(JSON.stringify({
  flavour: backend.info.flavour,
  exits,
  usPerExitRun: +median(run).toFixed(3),
  usPerExitBareKvmRun: +median(raw).toFixed(3),
  usOverheadTs: +(median(run) - median(raw)).toFixed(3),
}));
backend.dispose();
