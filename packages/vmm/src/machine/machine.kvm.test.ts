/**
 * The machine on real KVM with the hello guest. Needs /dev/kvm and the built guest; without
 * /dev/kvm each test logs why it did not run.
 */
import 'reflect-metadata';
import test, { type ExecutionContext } from 'ava';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { firstValueFrom } from 'rxjs';
import { CompositionError, GuestImageError, createHyvisorContainer, validateConfig, type Backend } from '@hyvisor/core';
import { KvmBackend, registerKvmBackend } from '@hyvisor/backend-kvm';
import { kvmSerialTest as kvmTest } from '@hyvisor/backend-kvm/testing';
import type { BufferSerialOutput } from '@hyvisor/devices';
import { createMachineFromConfig, type ComposedMachine } from '../compose.js';
import { Machine, RunStateError, type RunState } from './machine.js';
import { minimalStrategy, registerMinimalStrategy } from '../strategy/minimal.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const helloElf = path.join(root, 'packages/guest-hello/build/hello.elf');

function compose(cmdline: string, extra: Record<string, unknown> = {}): ComposedMachine {
  const c = createHyvisorContainer();
  registerKvmBackend(c);
  registerMinimalStrategy(c);
  const config = validateConfig({
    name: 't', backend: 'kvm', strategy: 'minimal', board: 'testbed', memory: '32MiB',
    guest: { kernel: helloElf, cmdline }, serial: { output: 'buffer' }, ...extra,
  });
  return createMachineFromConfig(c, config);
}

function text(m: ComposedMachine): string {
  return (m.devices.serialOutput as BufferSerialOutput).text();
}

kvmTest('hello guest greets over the UART with its RAM size and command line, then halts with code 0', async (t) => {
  const m = compose('');
  try {
    const r = await m.machine.run();
    t.is(r.reason, 'poweroff');
    t.is(r.exitCode, 0);
    t.is(text(m), 'Hello from the Hyvisor guest! RAM: 32 MiB, cmdline: ""\n');
    t.true(r.exits.io! > 50, 'each UART register access is a port exit');
  } finally {
    m.dispose();
  }
});

kvmTest('the exit code written to the debug-exit port ends the run', async (t) => {
  const m = compose('exit=7');
  try {
    const r = await m.machine.run();
    t.is(r.reason, 'exit-code');
    t.is(r.exitCode, 7);
    t.regex(text(m), /cmdline: "exit=7"/);
  } finally {
    m.dispose();
  }
});

kvmTest('a guest spinning without exits is stopped at its time limit', async (t) => {
  const m = compose('spin', { timeLimit: '300ms', slice: '20ms' });
  try {
    const start = Date.now();
    const r = await m.machine.run();
    const took = Date.now() - start;
    t.is(r.reason, 'time-limit');
    t.not(r.exitCode, 0);
    t.true(took >= 290 && took < 5000, `took ${took} ms`);
    t.true(r.exits.deadline! >= 3, `the vCPU was interrupted at each slice deadline (${r.exits.deadline})`);
  } finally {
    m.dispose();
  }
});

kvmTest('stop() ends a spinning guest from the event loop', async (t) => {
  const m = compose('spin');
  try {
    setTimeout(() => m.machine.stop('test stop'), 100);
    const r = await m.machine.run();
    t.is(r.reason, 'stopped');
    t.is(r.message, 'test stop');
  } finally {
    m.dispose();
  }
});

kvmTest('pause keeps the vCPU out of the guest until resume', async (t) => {
  const m = compose('spin', { slice: '5ms' });
  try {
    const running = m.machine.run();
    const counters = m.machine.telemetry.counters;
    await delay(100);
    m.machine.pause();
    await delay(20);
    t.is(m.machine.state, 'paused');
    const atPause = counters.get('exits.deadline');
    await delay(200);
    t.is(counters.get('exits.deadline'), atPause, 'no slices ran while paused');
    m.machine.resume();
    await delay(100);
    t.true(counters.get('exits.deadline') > atPause, 'slices run again after resume');
    m.machine.stop();
    t.is((await running).reason, 'stopped');
  } finally {
    m.dispose();
  }
});

kvmTest('state$ reports every run state in order, with the stop it ended by; a run machine refuses a kernel and a second run', async (t) => {
  const m = compose('spin', { slice: '5ms' });
  try {
    const seen: string[] = [];
    let last: RunState | undefined;
    m.machine.state$.subscribe((s) => { seen.push(s.kind); last = s; });
    const events: string[] = [];
    m.machine.telemetry.events.subscribe((e) => { if (e.type === 'state') events.push(e.state); });
    const running = m.machine.run();
    await delay(50);
    m.machine.pause();
    m.machine.pause(); // not running any more: nothing happens
    await delay(20);
    m.machine.resume();
    await delay(20);
    m.machine.stop('test over');
    const r = await running;
    t.is(r.reason, 'stopped');
    t.deepEqual(seen, ['created', 'running', 'paused', 'running', 'stopping', 'stopped']);
    t.deepEqual(last, { kind: 'stopped', stop: { reason: 'stopped', exitCode: 130, message: 'test over' } });
    t.deepEqual(events, ['running', 'paused', 'running', 'stopped'], 'telemetry state events follow state$');
    t.throws(() => m.machine.loadKernelFile(helloElf), { instanceOf: RunStateError, message: /cannot load a kernel: it is stopped/ });
    await t.throwsAsync(m.machine.run(), { instanceOf: RunStateError, message: /cannot run: it is stopped/ });
  } finally {
    m.dispose();
  }
  t.is(m.machine.state, 'disposed');
});

kvmTest('a machine stopped before it runs returns that stop at once', async (t) => {
  const m = compose('spin');
  try {
    m.machine.stop('early');
    const r = await m.machine.run();
    t.is(r.reason, 'stopped');
    t.is(r.message, 'early');
    t.is(m.machine.state, 'stopped');
  } finally {
    m.dispose();
  }
});

kvmTest('bytes fed to the UART reach the guest through the receive register', async (t) => {
  const m = compose('echo', { timeLimit: '20s' });
  try {
    // Typed after the guest set up its UART: the FIFO reset at driver start-up discards what
    // was received before, as on real hardware.
    setTimeout(() => m.devices.input.push(new TextEncoder().encode('ping\n')), 50);
    const r = await m.machine.run();
    t.is(r.reason, 'poweroff');
    t.true(text(m).endsWith('ping\n'), JSON.stringify(text(m)));
  } finally {
    m.dispose();
  }
});

kvmTest('telemetry counts every port exit of the guest', async (t) => {
  const m = compose('exits=3000');
  try {
    const samples = m.machine.telemetry.sample(10);
    const r = await m.machine.run();
    const s = await firstValueFrom(samples);
    t.is(m.devices.bench.count, 3000);
    t.true(s.totals['exits.io']! >= 3002, 'bench writes and markers are all counted');
    t.is(s.totals['exits.io'], r.exits.io);
  } finally {
    m.dispose();
  }
});

kvmTest('a strategy that needs a capability the backend lacks is refused at start-up, naming both', (t) => {
  const real = new KvmBackend();
  const caps = new Set(real.info.capabilities);
  caps.delete('run-deadline');
  const backend: Backend = {
    info: { ...real.info, capabilities: caps }, createVm: (o) => real.createVm(o), dispose: () => real.dispose(), [Symbol.dispose]: () => real.dispose(),
  };
  try {
    const err = t.throws(() => new Machine({ backend, strategy: minimalStrategy(), memory: 32 << 20 }), { instanceOf: CompositionError });
    t.regex(err!.message, /cpu facet 'native' needs capability 'run-deadline'/);
    t.regex(err!.message, /backend kvm/);
  } finally {
    real.dispose();
  }
});

kvmTest('a file that is not an ELF image is refused with its name in the message', (t) => {
  const backend = new KvmBackend();
  const m = new Machine({ backend, strategy: minimalStrategy(), memory: 32 << 20 });
  try {
    t.throws(() => m.loadKernelFile(path.join(root, 'package.json')), { instanceOf: GuestImageError, message: /package\.json: not an ELF file/ });
    t.throws(() => m.loadKernelFile('/nonexistent/k.elf'), { instanceOf: GuestImageError, message: /ENOENT/ });
  } finally {
    m.dispose();
    backend.dispose();
  }
});

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

kvmTest('a Linux guest on this host\'s KVM: refused before the VM is built when it is kvm_pvm', (t) => {
  const c = createHyvisorContainer();
  registerKvmBackend(c);
  registerMinimalStrategy(c);
  const config = validateConfig({ backend: 'kvm', strategy: 'minimal', guest: { linux: '/nonexistent/vmlinuz' }, serial: { output: 'buffer' } });
  const host = new KvmBackend().info.host;
  if (host !== 'kvm_pvm') {
    // Hardware KVM gets as far as reading the kernel, which does not exist here.
    t.throws(() => createMachineFromConfig(c, config), { instanceOf: GuestImageError, message: /^\/nonexistent\/vmlinuz: cannot read Linux kernel: ENOENT/ });
    return;
  }
  t.throws(() => createMachineFromConfig(c, config), { instanceOf: CompositionError, message: /kvm_pvm .*; use --backend emu$/ });
});
