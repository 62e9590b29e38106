/**
 * End to end: the real VMM (`Machine` from @hyvisor/vmm, the `minimal` strategy, the standard
 * UART and debug-exit devices) boots the guest ELFs on the emulator. Skips with a reason when a
 * guest is not built (`make -C packages/guest-hello`, `make -C packages/guest-testbed`).
 */
import test, { type ExecutionContext } from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BufferSerialOutput } from '@hyvisor/devices';
import { Machine, addStandardDevices, minimalStrategy, type RunResult } from '@hyvisor/vmm';
import { EmuBackend } from './index.js';
import type { EmuVcpu } from './emu-vcpu.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const helloElf = path.join(root, 'packages/guest-hello/build/hello.elf');
const testbedElf = path.join(root, 'packages/guest-testbed/build/testbed.elf');

interface Booted { result: RunResult; text: string; retired: number; unimplemented: number }

async function boot(elf: string, cmdline: string, memoryMiB = 64): Promise<Booted> {
  using backend = new EmuBackend();
  // `using` releases the machine, then the backend (its creator's job, never the machine's).
  using machine = new Machine({ backend, strategy: minimalStrategy(), memory: memoryMiB * 1024 * 1024, timeLimitMs: 60_000 });
  const devices = addStandardDevices(machine, { output: 'buffer', input: 'none' });
  machine.loadKernelFile(elf, cmdline);
  const result = await machine.run();
  const vcpu = machine.vcpu as EmuVcpu;
  return { result, text: (devices.serialOutput as BufferSerialOutput).text(), retired: vcpu.instructionsRetired, unimplemented: vcpu.unimplementedInstructions };
}

function guestTest(title: string, elf: string, fn: (t: ExecutionContext) => Promise<void>): void {
  test.serial(title, async (t) => {
    if (!fs.existsSync(elf)) {
      t.log(`skipped: ${path.relative(root, elf)} is not built (make -C ${path.relative(root, path.dirname(path.dirname(elf)))})`);
      t.pass();
      return;
    }
    await fn(t);
  });
}

guestTest('hello guest greets over the UART on the emulator and halts with code 0', helloElf, async (t) => {
  const b = await boot(helloElf, '');
  t.is(b.text, 'Hello from the Hyvisor guest! RAM: 64 MiB, cmdline: ""\n');
  t.is(b.result.reason, 'poweroff');
  t.is(b.result.exitCode, 0);
  t.is(b.unimplemented, 0);
});

guestTest('hello guest exit code through the debug-exit port', helloElf, async (t) => {
  const b = await boot(helloElf, 'exit=7', 32);
  t.is(b.result.reason, 'exit-code');
  t.is(b.result.exitCode, 7);
});

guestTest('two boots of the hello guest retire exactly the same number of instructions', helloElf, async (t) => {
  const a = await boot(helloElf, ''), b = await boot(helloElf, '');
  t.is(a.retired, b.retired);
  t.deepEqual(a.result.exits['io'], b.result.exits['io']);
});

for (const [workload, iterations] of [['cpu', 100], ['syscall', 1000], ['memory', 200]] as const) {
  guestTest(`testbed ${workload} workload runs on the emulator with "check":"ok"`, testbedElf, async (t) => {
    const b = await boot(testbedElf, `workload=${workload} iterations=${iterations}`);
    const line = b.text.split('\n').find((l) => l.startsWith(`{"workload":"${workload}"`));
    t.truthy(line, b.text);
    const r = JSON.parse(line!) as Record<string, unknown>;
    t.is(r['check'], 'ok', line);
    t.is(r['iterations'], iterations);
    if (workload === 'syscall') t.is(r['gate'], 'syscall', 'the emulator behaves like hardware: the syscall gate');
    if (workload === 'memory') t.is(r['faults'], iterations);
    t.regex(b.text, /host=emulator/);
    t.is(b.result.reason, 'exit-code', b.result.message);
    t.is(b.result.exitCode, 0);
    t.is(b.unimplemented, 0);
    t.log(`${b.retired} instructions retired`);
  });
}
