/**
 * A third-party facet from a module (`strategy: { base, timer: { module, export } }`) needs and
 * provides services exactly as a built-in one: composition checks its needs against the other
 * facets' provides, and at attach it takes and gives services in the machine's scope.
 */
import test from 'ava';
import { fileURLToPath } from 'node:url';
import {
  CompositionError, ConfigError, EVENT_CHANNELS, EvtchnOp, FACETS, Hypercall, STRATEGIES, TIMER_STATS, Virq,
  assertComposable, createHyvisorContainer, planStrategy, validateConfig,
  type BackendInfo, type Capability, type Strategy,
} from '@hyvisor/core';
import { registerHvmStrategies } from '@hyvisor/strategy-hvm';
import { registerPvStrategy } from '@hyvisor/strategy-pv';
import { fakeMachine } from '@hyvisor/strategy-pv/testing';
import { registerHybridStrategy } from './strategies.js';

const MODULE = fileURLToPath(new URL('../test-fixtures/ticking-timer.mjs', import.meta.url));
const CAPS: Capability[] = ['guest-memory', 'readonly-memory', 'run-deadline', 'interrupt-injection', 'cpuid', 'msr', 'ioeventfd', 'sync-regs'];
const backend: BackendInfo = { name: 'fake', flavour: 'test', description: 'test', capabilities: new Set(CAPS), details: { tscKhz: 2_000_000 } };

const container = createHyvisorContainer();
registerHvmStrategies(container);
registerPvStrategy(container);
registerHybridStrategy(container);
const facets = container.resolve(FACETS);

function compose(base: string, exportName = 'createTimer'): Strategy {
  const config = validateConfig({ strategy: { base, timer: { module: MODULE, export: exportName } }, guest: { kernel: '/k.elf' } });
  return planStrategy(config.strategy, container.resolve(STRATEGIES), facets).create(backend);
}

test('a module timer that needs event-channel delivery composes with hybrid', (t) => {
  const s = compose('hybrid');
  t.is(s.timer.name, 'ticking');
  t.notThrows(() => assertComposable(s, backend, { facets }));
});

test('the same module timer under hvm-userspace is refused, naming the facet, the service and its provider', (t) => {
  const err = t.throws(() => assertComposable(compose('hvm-userspace'), backend, { facets }), { instanceOf: CompositionError });
  t.regex(err!.message, /timer facet 'ticking' needs service 'event-channel delivery', which no facet of this strategy provides; it is provided by interrupt facet 'event-channel'/);
  t.is(err!.missing.length, 1);
  t.like(err!.missing[0], { kind: 'service', facet: 'timer', implementation: 'ticking', service: EVENT_CHANNELS });
});

test('on a machine the module timer takes the event channels and provides TIMER_STATS', (t) => {
  const m = fakeMachine();
  m.attach(compose('hybrid'));
  t.is(m.hypercall(Hypercall.REGISTER_SHARED_INFO, 0x10000), 0);
  const port = m.hypercall(Hypercall.EVENT_CHANNEL_OP, EvtchnOp.BIND_VIRQ, Virq.TIMER);
  t.is(m.hypercall(Hypercall.EVENT_CHANNEL_OP, EvtchnOp.UNMASK, port), 0);
  m.clock.advance(3_500_000);
  const stats = m.services.get(TIMER_STATS);
  t.is(stats.events, 3);
  t.is(stats.periodNs(), 1_000_000);
  t.true(m.services.get(EVENT_CHANNELS).eventPending, 'its ticks reached the guest as events');
});

test('a module facet whose needs are not service tokens is a config error', (t) => {
  const err = t.throws(() => compose('hybrid', 'createBrokenTimer'), { instanceOf: ConfigError });
  t.regex(err!.message, /did not return a usable timer facet: facet 'ticking': needs\[0\] is not a service token/);
});
