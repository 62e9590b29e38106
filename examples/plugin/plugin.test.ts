/**
 * The example plugin end to end: examples/plugin/plugin.yaml loads a third-party device
 * (`delayed-irq`, replacing the testbed board's IRQ test device) and a third-party interrupt
 * facet (the emulated PIC/APIC with raises counted) from modules; the testbed guest's `irq`
 * workload runs against them on the emulator, and on KVM where /dev/kvm exists.
 */
import 'reflect-metadata';
import test, { type ExecutionContext } from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHyvisorContainer, loadConfigFile, parseConfigText, validateConfig, ConfigError, Irq, type VmConfig } from '@hyvisor/core';
import { registerEmuBackend } from '@hyvisor/backend-emu';
import { registerKvmBackend } from '@hyvisor/backend-kvm';
import { requireKvm } from '@hyvisor/backend-kvm/testing';
import { registerHvmStrategies } from '@hyvisor/strategy-hvm';
import { registerBuiltinDevices, type BufferSerialOutput } from '@hyvisor/devices';
import { createMachineFromConfig } from '@hyvisor/vmm';
import { DelayedIrqDevice, delayedIrqDevice } from './delayed-irq.js';
import type { CountingInterrupts } from './counting-interrupts.js';

const here = path.dirname(fileURLToPath(import.meta.url)); // examples/dist/plugin
const pluginDir = path.resolve(here, '../../plugin');
const configFile = path.join(pluginDir, 'plugin.yaml');
const testbedElf = path.resolve(here, '../../../packages/guest-testbed/build/testbed.elf');

/** plugin.yaml as the CLI reads it, with the backend, iteration count and a private disk overridden. */
function config(backend: string, iterations: number): VmConfig {
  const raw = parseConfigText(fs.readFileSync(configFile, 'utf8'), configFile) as Record<string, any>;
  const disk = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'hyvisor-plugin-')), 'disk.img');
  return validateConfig({
    ...raw, backend, serial: { output: 'buffer' },
    guest: { ...raw.guest, iterations }, storage: { path: disk, size: '16MiB' },
  }, { file: configFile });
}

async function runIrqWorkload(t: ExecutionContext, backend: string, iterations: number): Promise<void> {
  const c = createHyvisorContainer();
  registerEmuBackend(c);
  registerKvmBackend(c);
  registerHvmStrategies(c);
  registerBuiltinDevices(c);
  const composed = createMachineFromConfig(c, config(backend, iterations));
  try {
    const device = composed.devices.get<DelayedIrqDevice>('irq-test');
    t.true(device instanceof DelayedIrqDevice, 'the board\'s irq-test was replaced by the plugin device');
    t.is(composed.devices.find('irq-test')!.device, 'delayed-irq');
    const facet = composed.machine.strategy.interrupt as CountingInterrupts;
    t.is(facet.name, 'counting-emulated-pic-apic');
    const r = await composed.machine.run();
    const out = (composed.devices.serialOutput as BufferSerialOutput).text();
    t.is(r.exitCode, 0, out);
    const line = out.split('\n').find((l) => l.startsWith('{') && l.includes('"workload":"irq"'));
    t.truthy(line, out);
    const result = JSON.parse(line!) as { check: string; interrupts: number; deviceCount: number };
    t.is(result.check, 'ok', line);
    t.is(result.interrupts, iterations);
    // The device completed every request, and the facet saw each completion raise IRQ 5.
    t.is(device.requested, iterations);
    t.is(device.completed, iterations);
    t.is(device.refused, 0);
    t.is(facet.raises[Irq.IRQ_TEST], iterations);
    t.true(facet.raises[Irq.COM1]! >= 0);
    // Its state record is plain data (for snapshots).
    t.deepEqual(JSON.parse(JSON.stringify(composed.devices.saveState()['irq-test'])), {
      device: 'delayed-irq', state: { version: 1, requested: iterations, completed: iterations, refused: 0, asserted: false, pendingNs: [] },
    });
  } finally {
    composed.dispose();
  }
}

const guestTest = fs.existsSync(testbedElf) ? test.serial : test.serial.skip;

guestTest('plugin.yaml: the testbed irq workload through a third-party device and facet on the emulator', async (t) => {
  await runIrqWorkload(t, 'emu', 200);
});

guestTest('plugin.yaml: the same on KVM [kvm]', async (t) => {
  if (requireKvm(t)) await runIrqWorkload(t, 'kvm', 200);
});

test('plugin.yaml validates as the CLI loads it', (t) => {
  const c = loadConfigFile(configFile);
  t.is(c.board, 'testbed');
  t.is(c.devices.length, 1);
  t.is(c.devices[0]!.name, 'irq-test');
  t.deepEqual(c.devices[0]!.options, { delay: '200us' });
});

test('the device module refuses bad options with the usual one-line errors', (t) => {
  const c = createHyvisorContainer();
  registerEmuBackend(c);
  registerHvmStrategies(c);
  const bad = validateConfig({
    backend: 'emu', strategy: 'hvm-userspace', guest: { kernel: testbedElf },
    devices: [{ module: './delayed-irq.js', export: 'delayedIrqDevice', delay: '2s' }],
  }, { file: 'vm.yaml', baseDir: here });
  t.throws(() => createMachineFromConfig(c, bad), { instanceOf: ConfigError, message: 'vm.yaml: devices[0].delay: expected a value between 0 ms and 1000 ms, got "2s"' });
});

test('delayed-irq unit: a request raises the line only after the delay; a read acknowledges', (t) => {
  let now = 0;
  const timers: { at: number; cb: (n: number) => void; id: number }[] = [];
  const clock = {
    now: () => now,
    schedule: (at: number, cb: (n: number) => void) => { const id = timers.length + 1; timers.push({ at, cb, id }); return id; },
    cancel: (id: number) => { const i = timers.findIndex((x) => x.id === id); if (i >= 0) timers.splice(i, 1); },
  };
  const events: string[] = [];
  const d = new DelayedIrqDevice({ raise: () => events.push('raise'), lower: () => events.push('lower') }, clock, 50_000);
  d.write(0, 4, 1);
  t.deepEqual(events, []);
  t.is(timers[0]!.at, 50_000);
  now = 50_000;
  timers.shift()!.cb(now);
  t.deepEqual(events, ['raise']);
  t.is(d.read(0, 4), 1);
  t.deepEqual(events, ['raise', 'lower']);
  // State: a pending request survives a save and restore onto a fresh device.
  d.write(0, 4, 1);
  const saved = JSON.parse(JSON.stringify(d.saveState()));
  t.deepEqual(saved.pendingNs, [50_000]);
  const e = new DelayedIrqDevice({ raise() {}, lower() {} }, clock, 50_000);
  e.restoreState(saved);
  t.deepEqual(e.saveState(), saved);
  t.is(delayedIrqDevice.irq, 5);
});
