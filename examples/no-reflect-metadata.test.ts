/**
 * Composing in code needs no `import 'reflect-metadata'` in the user's program: core loads it for
 * tsyringe. A fresh Node process that imports only Hyvisor packages composes the hello VM from a
 * config object on the emulator and runs it; the polyfill was absent before and present after.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const examplesDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const helloElf = path.resolve(examplesDir, '../packages/guest-hello/build/hello.elf');

const program = `
const before = typeof Reflect.getMetadata;
const { createHyvisorContainer, validateConfig } = await import('@hyvisor/core');
const { registerEmuBackend } = await import('@hyvisor/backend-emu');
const { createMachineFromConfig, registerMinimalStrategy } = await import('@hyvisor/vmm');
const container = createHyvisorContainer();
registerEmuBackend(container);
registerMinimalStrategy(container);
const config = validateConfig({ name: 'no-reflect', backend: 'emu', strategy: 'minimal', memory: '64MiB',
  guest: { kernel: ${JSON.stringify(helloElf)}, cmdline: 'exit=3' }, serial: { output: 'buffer' } });
const composed = createMachineFromConfig(container, config);
try {
  const r = await composed.machine.run();
  console.log(JSON.stringify({ before, after: typeof Reflect.getMetadata, reason: r.reason, exitCode: r.exitCode, text: composed.devices.serialOutput.text() }));
} finally {
  composed.dispose();
}
`;

test('a program that composes a VMM in code runs without importing reflect-metadata', (t) => {
  if (!fs.existsSync(helloElf)) {
    t.log(`skipped: ${helloElf} is not built (make -C packages/guest-hello)`);
    t.pass();
    return;
  }
  // cwd = examples/: the bare @hyvisor/* specifiers resolve as they do for a user's project.
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', program], { cwd: examplesDir, encoding: 'utf8', timeout: 60_000 });
  t.is(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { before: string; after: string; reason: string; exitCode: number; text: string };
  t.is(out.before, 'undefined', 'the program itself did not load the polyfill');
  t.is(out.after, 'function', 'core loaded it for tsyringe');
  t.is(out.reason, 'exit-code');
  t.is(out.exitCode, 3);
  t.is(out.text, 'Hello from the Hyvisor guest! RAM: 64 MiB, cmdline: "exit=3"\n');
});
