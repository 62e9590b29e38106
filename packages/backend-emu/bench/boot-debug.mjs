
import { Machine, minimalStrategy, addStandardDevices } from '@hyvisor/vmm';
import { EmuBackend } from '../dist/index.js';
const [elf, cmdline = '', mem = 64] = process.argv.slice(2);
const backend = new EmuBackend();
const m = new Machine({ backend, strategy: minimalStrategy(), memory: Number(mem) * 1024 * 1024, sliceMs: 50 });
const dev = addStandardDevices(m, { output: 'buffer', input: 'none' });
m.loadKernelFile(elf, cmdline);
const t0 = performance.now();
const r = await m.run();
const dt = performance.now() - t0;
console.log(dev.serialOutput.text());
console.log(JSON.stringify({ ...r, insns: m.vcpu.instructionsRetired, mips: m.vcpu.instructionsRetired / dt / 1000, ud: m.vcpu.unimplementedInstructions }));
