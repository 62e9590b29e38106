// Emulator speed on the testbed's ring-3 `cpu` workload (xorshift fill + CRC-32 of 4 KiB per
// iteration): instructions retired per second of host time, as JSON. Not a test: no assertions.
//   node packages/backend-emu/bench/mips.mjs [iterations]
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Machine, addStandardDevices, minimalStrategy } from '@hyvisor/vmm';
import { EmuBackend } from '../dist/index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const elf = path.join(root, 'packages/guest-testbed/build/testbed.elf');
const iterations = Number(process.argv[2] ?? 1000);

const backend = new EmuBackend();
const machine = new Machine({ backend, strategy: minimalStrategy(), memory: 64 << 20 });
machine.own(backend);
const devices = addStandardDevices(machine, { output: 'buffer', input: 'none' });
machine.loadKernelFile(elf, `workload=cpu iterations=${iterations}`);
const start = performance.now();
const result = await machine.run();
const ms = performance.now() - start;
const retired = machine.vcpu.instructionsRetired;
const line = devices.serialOutput.text().split('\n').find((l) => l.startsWith('{"workload":"cpu"'));
console.log(JSON.stringify({
  workload: 'cpu', iterations, reason: result.reason, exitCode: result.exitCode,
  instructions: retired, hostMs: Math.round(ms), mips: Number((retired / ms / 1000).toFixed(2)),
  guest: line ? JSON.parse(line) : null,
}));
machine.dispose();
