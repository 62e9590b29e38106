/**
 * The ownership rule for backends: whoever creates one disposes it. A machine is handed its
 * backend and never disposes it; `createMachineFromConfig` opens the backend itself, so the
 * composed machine it returns releases it, after the machine, on success and on failure.
 */
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BACKENDS, BackendError, GuestImageError, WiringError, createHyvisorContainer, validateConfig, type Backend } from '@hyvisor/core';
import { Machine, createMachineFromConfig, minimalStrategy, registerMinimalStrategy } from '@hyvisor/vmm';
import { EmuBackend } from './index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const helloElf = path.join(root, 'packages/guest-hello/build/hello.elf');
const MiB = 1024 * 1024;

/** A backend is live while it still creates VMs. */
function live(backend: Backend): boolean {
  try {
    backend.createVm({ name: 'probe' }).dispose();
    return true;
  } catch (err) {
    if (err instanceof BackendError && /disposed/.test(err.message)) return false;
    throw err;
  }
}

test('disposing a machine leaves the backend it was handed alive; a second machine runs on it', (t) => {
  using backend = new EmuBackend();
  const first = new Machine({ backend, strategy: minimalStrategy(), memory: 8 * MiB });
  first.dispose();
  t.is(first.state, 'disposed');
  t.true(live(backend), 'the machine did not dispose its backend');
  using second = new Machine({ backend, strategy: minimalStrategy(), memory: 8 * MiB });
  t.is(second.state, 'created');
});

test('a machine refuses to own its backend', (t) => {
  using backend = new EmuBackend();
  using machine = new Machine({ name: 'm', backend, strategy: minimalStrategy(), memory: 8 * MiB });
  const err = t.throws(() => machine.own(backend), { instanceOf: WiringError })!;
  t.is(err.operation, 'Machine.own');
  t.regex(err.message, /never disposes its backend/);
  machine.dispose();
  t.true(live(backend));
});

/** A container whose `emu` backend factory records what it created. */
function recordingContainer(): { container: ReturnType<typeof createHyvisorContainer>; created: EmuBackend[] } {
  const container = createHyvisorContainer();
  const created: EmuBackend[] = [];
  container.resolve(BACKENDS).register('emu', 'emulator (recorded)', (): Backend => {
    const b = new EmuBackend();
    created.push(b);
    return b;
  });
  registerMinimalStrategy(container);
  return { container, created };
}

test('createMachineFromConfig: the composed machine disposes the backend it opened, after the machine', (t) => {
  if (!fs.existsSync(helloElf)) {
    t.log(`skipped: ${helloElf} is not built (make -C packages/guest-hello)`);
    t.pass();
    return;
  }
  const { container, created } = recordingContainer();
  const config = validateConfig({ name: 'own', backend: 'emu', strategy: 'minimal', memory: '8MiB', guest: { kernel: helloElf }, serial: { output: 'none' } });
  const composed = createMachineFromConfig(container, config);
  t.is(created.length, 1);
  t.is(composed.backend, created[0]);
  t.is(composed.machine.backend, composed.backend);
  composed.machine.dispose();
  t.true(live(composed.backend), 'the machine alone does not release the backend');
  composed.dispose();
  t.false(live(composed.backend), 'the composed machine released the backend it opened');
  {
    using again = createMachineFromConfig(container, config);
    t.true(live(again.backend));
  }
  t.false(live(created[1]!), '`using` released it at the end of the scope');
});

test('createMachineFromConfig: a failure after the backend opened releases it', (t) => {
  const { container, created } = recordingContainer();
  const config = validateConfig({ name: 'own', backend: 'emu', strategy: 'minimal', memory: '8MiB', guest: { kernel: '/nonexistent/k.elf' }, serial: { output: 'none' } });
  t.throws(() => createMachineFromConfig(container, config), { instanceOf: GuestImageError });
  t.is(created.length, 1);
  t.false(live(created[0]!));
});
