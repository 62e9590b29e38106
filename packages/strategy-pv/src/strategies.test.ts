import test from 'ava';
import {
  CompositionError, FeatureBits, Hypercall, STRATEGIES, assertComposable, createHyvisorContainer, strategyFeatureBits, withFacets,
  type BackendInfo, type Capability, type InterruptFacet,
} from '@hyvisor/core';
import { fakeMachine } from './testing/fake-machine.js';
import { pvStrategy, registerPvStrategy } from './strategies.js';

const ALL: Capability[] = ['guest-memory', 'readonly-memory', 'run-deadline', 'interrupt-injection', 'cpuid', 'msr', 'ioeventfd', 'sync-regs'];

function backend(caps: Capability[] = ALL, name = 'kvm'): BackendInfo {
  return { name, flavour: 'kvm_pvm', description: 'test', capabilities: new Set(caps), tscKhz: 2_299_998, details: {} };
}

/** Another interrupt facet (the HVM one's name and shape; strategy-pv does not depend on strategy-hvm). */
const emulatedInterrupts: InterruptFacet = {
  facet: 'interrupt', name: 'emulated-pic-apic', description: 'test double', requires: [], featureBits: 0,
  irqLine: () => ({ raise: () => {}, lower: () => {} }),
};

test('pv advertises all five PV feature bits', (t) => {
  const all = FeatureBits.PV_SYSCALL | FeatureBits.PV_MMU | FeatureBits.PV_EVTCHN | FeatureBits.PV_CLOCK | FeatureBits.PV_IO;
  t.is(strategyFeatureBits(pvStrategy()), all);
});

test('pv composes on a backend with every capability it needs', (t) => {
  t.notThrows(() => assertComposable(pvStrategy(), backend()));
});

test('pvclock without event-channel is rejected', (t) => {
  const s = withFacets(pvStrategy(), 'pv-pic', { interrupt: emulatedInterrupts });
  const err = t.throws(() => assertComposable(s, backend()), { instanceOf: CompositionError });
  t.regex(err!.message, /timer facet 'pvclock': the pvclock timer delivers its ticks as an event channel.*needs the interrupt facet 'event-channel', not 'emulated-pic-apic'/);
});

test('pv-blk without event-channel is rejected', (t) => {
  const s = withFacets(pvStrategy(), 'pv-pic', { interrupt: emulatedInterrupts });
  const err = t.throws(() => assertComposable(s, backend()), { instanceOf: CompositionError });
  t.regex(err!.message, /io facet 'pv-blk': the PV block ring signals completions on an event channel.*'event-channel'/);
});

test('direct-paging on a backend without readonly-memory is rejected, naming the facet, the capability and the backend', (t) => {
  const err = t.throws(() => assertComposable(pvStrategy(), backend(ALL.filter((c) => c !== 'readonly-memory'), 'emu')), { instanceOf: CompositionError });
  t.regex(err!.message, /backend emu.*memory facet 'direct-paging' needs capability 'readonly-memory'/);
});

test('pvclock needs the msr capability to read the guest TSC', (t) => {
  const err = t.throws(() => assertComposable(pvStrategy(), backend(ALL.filter((c) => c !== 'msr'))), { instanceOf: CompositionError });
  t.regex(err!.message, /timer facet 'pvclock' needs capability 'msr'/);
});

test('registerPvStrategy registers pv', (t) => {
  const c = createHyvisorContainer();
  registerPvStrategy(c);
  const registry = c.resolve(STRATEGIES);
  t.true(registry.has('pv'));
  t.is(registry.create('pv', 'strategy', backend()).name, 'pv');
});

test('the pv strategy attaches to a machine and serves every PV hypercall', (t) => {
  const m = fakeMachine();
  m.attach(pvStrategy(backend()));
  for (const [name, nr] of Object.entries(Hypercall)) {
    if (name === 'MMU_UPDATE_MAX') continue;
    t.is(m.ctx.hypercalls.nameOf(nr), name);
  }
});

test('each pv strategy is a fresh set of facets', (t) => {
  t.not(pvStrategy().interrupt, pvStrategy().interrupt);
});
