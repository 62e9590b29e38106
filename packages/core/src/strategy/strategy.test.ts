import test from 'ava';
import type { BackendInfo, Capability } from '../backend/backend.js';
import { CompositionError } from '../errors.js';
import type { FacetName, FacetTypes } from '../facets/facet.js';
import { strategyFeatureBits, withFacets, type Strategy } from './strategy.js';
import { assertComposable, missingCapabilities } from './composition.js';

/** A facet test double: only the declarative fields a composition check reads. */
function facet<F extends FacetName>(kind: F, name: string, requires: Capability[] = [], featureBits = 0): FacetTypes[F] {
  return { facet: kind, name, description: `${name} ${kind}`, requires, featureBits } as unknown as FacetTypes[F];
}

function backend(name: string, caps: Capability[]): BackendInfo {
  return { name, flavour: 'kvm_pvm', description: 'test', capabilities: new Set(caps), details: {} };
}

const base: Strategy = {
  name: 'minimal',
  description: 'everything emulated',
  cpu: facet('cpu', 'emulated', ['cpuid']),
  memory: facet('memory', 'shadow', ['guest-memory'], 0b10),
  interrupt: facet('interrupt', 'pic', [], 0b100),
  timer: facet('timer', 'pit', ['run-deadline']),
  io: facet('io', 'ports', [], 0b1),
};

test('a strategy whose needs are met composes', (t) => {
  t.notThrows(() => assertComposable(base, backend('kvm', ['cpuid', 'guest-memory', 'run-deadline'])));
});

test('a missing capability names the facet implementation, the capability and the backend', (t) => {
  const err = t.throws(() => assertComposable(base, backend('emu', ['cpuid', 'guest-memory'])), { instanceOf: CompositionError });
  t.is(
    err!.message,
    "strategy minimal cannot run on backend emu (kvm_pvm): timer facet 'pit' needs capability 'run-deadline', which emu does not offer",
  );
});

test('every missing capability is listed', (t) => {
  const missing = missingCapabilities(base, backend('bare', []));
  t.deepEqual(missing.map((m) => `${m.facet}/${m.implementation}/${m.capability}`), [
    'cpu/emulated/cpuid',
    'memory/shadow/guest-memory',
    'timer/pit/run-deadline',
  ]);
});

test('withFacets replaces only the facets given and renames the strategy', (t) => {
  const evtchn = facet('interrupt', 'event-channel', ['interrupt-injection'], 0b1000);
  const s = withFacets(base, 'custom', { interrupt: evtchn });
  t.is(s.name, 'custom');
  t.is(s.interrupt, evtchn);
  t.is(s.cpu, base.cpu);
  t.regex(s.description, /interrupt replaced/);
  t.is(base.interrupt.name, 'pic', 'the base strategy is unchanged');
});

test('withFacets refuses a facet given for the wrong slot, naming it', (t) => {
  const timer = facet('timer', 'pvclock');
  const err = t.throws(() => withFacets(base, 'bad', { cpu: timer as unknown as FacetTypes['cpu'] }), { instanceOf: CompositionError });
  t.is(err!.message, 'strategy bad: facet cpu was given a timer facet (pvclock)');
});

test('a replaced facet brings its own capability needs', (t) => {
  const s = withFacets(base, 'custom', { interrupt: facet('interrupt', 'event-channel', ['interrupt-injection']) });
  const err = t.throws(() => assertComposable(s, backend('kvm', ['cpuid', 'guest-memory', 'run-deadline'])));
  t.regex(err!.message, /interrupt facet 'event-channel' needs capability 'interrupt-injection'/);
});

test('feature bits are the OR of the facets', (t) => {
  t.is(strategyFeatureBits(base), 0b111);
});
