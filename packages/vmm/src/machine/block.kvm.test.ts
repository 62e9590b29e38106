/**
 * `MachineContext.block(wakeWhen)` on real KVM: a tiny ring-0 guest makes a port write whose
 * handler blocks the vCPU; the run loop keeps it asleep, firing timer events, until the predicate
 * holds, or until the time limit or stop(). Without /dev/kvm each test logs why it did not run.
 */
import 'reflect-metadata';
import test, { type ExecutionContext } from 'ava';
import type { Backend, CpuFacet, MachineContext, Strategy } from '@hyvisor/core';
import { KvmBackend } from '@hyvisor/backend-kvm';
import { kvmSerialTest as kvmTest } from '@hyvisor/backend-kvm/testing';
import { Machine } from './machine.js';
import { minimalStrategy } from '../strategy/minimal.js';
import { tinyElf } from '../loader/tiny-elf.js';

const PORT = 0x5f0;

/** mov $0x5f0,%dx; mov $1,%al; out %al,(%dx) (blocks); in (%dx),%al (reports); hlt */
const BLOCK_THEN_REPORT = [0x66, 0xba, 0xf0, 0x05, 0xb0, 0x01, 0xee, 0xec, 0xf4];

interface Probe {
  blockedAt: number;
  resumedAt: number;
  wokenAtResume: boolean;
  noiseFired: number;
  /** Timer events that had fired when the guest resumed. */
  noiseAtResume: number;
}

/**
 * A machine whose CPU facet adds a device at PORT: a write blocks the vCPU until the
 * `wakeAtNoise`-th timer event (never if undefined), with a timer event every 3 ms that must not
 * wake it before; a read records when the guest resumed. Counting events rather than waiting a
 * wall-clock time keeps the test independent of how loaded the host is.
 */
function blockingMachine(backend: Backend, wakeAtNoise: number | undefined, timeLimitMs = 0): { machine: Machine; probe: Probe } {
  const probe: Probe = { blockedAt: 0, resumedAt: 0, wokenAtResume: false, noiseFired: 0, noiseAtResume: 0 };
  const base = minimalStrategy();
  const cpu: CpuFacet = {
    ...base.cpu,
    attach(ctx: MachineContext) {
      let woken = false;
      const wake = () => woken;
      const noise = (now: number) => {
        probe.noiseFired++;
        if (probe.noiseFired === wakeAtNoise) woken = true;
        ctx.clock.schedule(now + 3e6, noise);
      };
      ctx.pio.register('block-probe', PORT, 1, {
        read: () => {
          probe.resumedAt = ctx.clock.now();
          probe.wokenAtResume = woken;
          probe.noiseAtResume = probe.noiseFired;
          return woken ? 1 : 0;
        },
        write: () => {
          probe.blockedAt = ctx.clock.now();
          ctx.clock.schedule(probe.blockedAt + 3e6, noise);
          ctx.block(wake);
        },
      });
    },
  };
  const strategy: Strategy = { ...base, name: 'minimal-block', cpu };
  const machine = new Machine({ name: 'block', backend, strategy, memory: 8 * 1024 * 1024, timeLimitMs });
  machine.loadKernel(tinyElf(BLOCK_THEN_REPORT));
  return { machine, probe };
}

kvmTest('a blocked vCPU sleeps through other timer events until its wake condition holds', async (t) => {
  const backend = new KvmBackend();
  const { machine, probe } = blockingMachine(backend, 8);
  try {
    const r = await machine.run();
    t.is(r.reason, 'poweroff', r.message);
    t.true(probe.wokenAtResume, 'the guest resumed only once the predicate held');
    // Seven timer events fired during the sleep without waking it; the eighth set the condition
    // (a ninth may fire before the guest's read on a loaded host).
    t.true(probe.noiseAtResume >= 8, `${probe.noiseAtResume} timer events before the guest resumed`);
    const sleptMs = (probe.resumedAt - probe.blockedAt) / 1e6;
    t.true(sleptMs >= 24, `slept ${sleptMs} ms: at least the eight 3 ms timer periods`);
  } finally {
    machine.dispose();
    backend.dispose();
  }
});

kvmTest('a vCPU blocked on a condition that never holds is ended by the time limit', async (t) => {
  const backend = new KvmBackend();
  const { machine, probe } = blockingMachine(backend, undefined, 150);
  try {
    const start = performance.now();
    const r = await machine.run();
    t.is(r.reason, 'time-limit');
    t.true(performance.now() - start < 2000);
    t.is(probe.resumedAt, 0, 'the guest never resumed');
    t.true(probe.noiseFired >= 10, `${probe.noiseFired} timer events`);
  } finally {
    machine.dispose();
    backend.dispose();
  }
});

kvmTest('stop() ends a blocked vCPU; pause holds the sleep and resume continues it', async (t) => {
  const backend = new KvmBackend();
  const { machine, probe } = blockingMachine(backend, undefined);
  try {
    const run = machine.run();
    await new Promise((r) => setTimeout(r, 30));
    machine.pause();
    const firedAtPause = probe.noiseFired;
    await new Promise((r) => setTimeout(r, 30));
    t.true(probe.noiseFired <= firedAtPause + 1, 'no timer events while paused');
    machine.resume();
    await new Promise((r) => setTimeout(r, 30));
    t.true(probe.noiseFired > firedAtPause + 1, 'sleeping again after resume');
    t.is(probe.resumedAt, 0, 'the guest did not resume');
    machine.stop('test stop');
    const r = await run;
    t.is(r.reason, 'stopped');
  } finally {
    machine.dispose();
    backend.dispose();
  }
});
