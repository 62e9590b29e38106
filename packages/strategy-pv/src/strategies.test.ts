import test from 'ava';
import {
  CompositionError, EVENT_CHANNELS, FACETS, FeatureBits, GUEST_CLOCK, Hypercall, STRATEGIES, TIMER_STATS, Virq, EvtchnOp,
  assertComposable, createHyvisorContainer, defineFacet, strategyFeatureBits, withFacets,
  type BackendInfo, type Capability, type InterruptFacet,
} from '@hyvisor/core';
import { fakeMachine } from './testing/fake-machine.js';
import { pvStrategy, registerPvStrategy } from './strategies.js';
import { EventChannelInterrupts } from './facets/event-channel.js';
import { PvClockTimer } from './facets/pvclock.js';
import { PvBlkIo } from './facets/pv-blk.js';
import { PV_DOMAIN } from './pv-domain.js';

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

test('pvclock without event-channel delivery is rejected, naming the facet, the service and who provides it', (t) => {
  const s = withFacets(pvStrategy(), 'pv-pic', { interrupt: emulatedInterrupts });
  const c = createHyvisorContainer();
  registerPvStrategy(c);
  const err = t.throws(() => assertComposable(s, backend(), { facets: c.resolve(FACETS) }), { instanceOf: CompositionError });
  t.regex(err!.message, /strategy pv-pic is not a valid composition: timer facet 'pvclock' needs service 'event-channel delivery', which no facet of this strategy provides; it is provided by interrupt facet 'event-channel'/);
  const missing = err!.missing.find((m) => m.facet === 'timer');
  t.like(missing, { kind: 'service', implementation: 'pvclock', service: EVENT_CHANNELS, providers: [{ facet: 'interrupt', implementation: 'event-channel' }] });
});

test('pv-blk without event-channel delivery is rejected', (t) => {
  const s = withFacets(pvStrategy(), 'pv-pic', { interrupt: emulatedInterrupts });
  const err = t.throws(() => assertComposable(s, backend()), { instanceOf: CompositionError });
  t.regex(err!.message, /io facet 'pv-blk' needs service 'event-channel delivery', which no facet of this strategy provides/);
  t.deepEqual(err!.missing.map((m) => `${m.facet}:${m.kind}`), ['timer:service', 'io:service']);
});

/** A renamed subclass: a third party's event channels, same service, another name. */
class MyEventChannels extends EventChannelInterrupts {
  static override readonly info = defineFacet({ ...EventChannelInterrupts.info, name: 'my-event-channels' });
}

test('a renamed subclass of EventChannelInterrupts satisfies pvclock and pv-blk (services, not names)', (t) => {
  const s = withFacets(pvStrategy(), 'pv-mine', { interrupt: new MyEventChannels() });
  t.is(s.interrupt.name, 'my-event-channels');
  t.notThrows(() => assertComposable(s, backend()));
});

test('pvclock and pv-blk deliver through a renamed event-channel facet on a machine', (t) => {
  const m = fakeMachine();
  const s = withFacets(pvStrategy(), 'pv-mine', { interrupt: new MyEventChannels() });
  m.attach(s);
  t.is(m.services.get(EVENT_CHANNELS), (s.interrupt as MyEventChannels).channels);
  const SHARED = 0x10000;
  t.is(m.hypercall(Hypercall.REGISTER_SHARED_INFO, SHARED), 0);
  const port = m.hypercall(Hypercall.EVENT_CHANNEL_OP, EvtchnOp.BIND_VIRQ, Virq.TIMER);
  t.true(port > 0);
  t.is(m.hypercall(Hypercall.EVENT_CHANNEL_OP, EvtchnOp.UNMASK, port), 0);
  const clock = m.services.get(GUEST_CLOCK);
  t.is(m.hypercall(Hypercall.SET_TIMER_OP, clock.nowNs() + 1e6), 0);
  m.clock.advance(2e6);
  t.is(m.services.get(TIMER_STATS).events, 1);
  t.true((s.interrupt as MyEventChannels).channels.eventPending, 'VIRQ_TIMER reached the guest through the renamed facet');
  t.true((s.io as PvBlkIo).ring !== undefined);
});

test('the PV facets declare their services statically', (t) => {
  t.deepEqual(EventChannelInterrupts.info.provides, [EVENT_CHANNELS]);
  t.true(PvClockTimer.info.needs!.includes(EVENT_CHANNELS));
  t.true(PvBlkIo.info.needs!.includes(EVENT_CHANNELS));
  const c = createHyvisorContainer();
  registerPvStrategy(c);
  t.deepEqual(c.resolve(FACETS).providersOf(EVENT_CHANNELS).map((e) => e.name), ['event-channel']);
});

test('two machines get two PV domains (no state shared through a module)', (t) => {
  const a = fakeMachine();
  const b = fakeMachine();
  a.attach(pvStrategy());
  b.attach(pvStrategy());
  t.not(a.services.get(PV_DOMAIN), b.services.get(PV_DOMAIN));
  t.not(a.services.get(EVENT_CHANNELS), b.services.get(EVENT_CHANNELS));
  t.is(a.services.get(PV_DOMAIN), a.services.get(PV_DOMAIN));
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
