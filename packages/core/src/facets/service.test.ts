import test from 'ava';
import type { BackendInfo } from '../backend/backend.js';
import { CompositionError, WiringError } from '../errors.js';
import { assertComposable, attachOrder } from '../strategy/composition.js';
import type { Strategy } from '../strategy/strategy.js';
import { createHyvisorContainer } from '../di/tokens.js';
import { attachFacets } from './attach.js';
import { FacetBase, defineFacet, type FacetInfo, type FacetName, type FacetTypes, type MachineContext } from './facet.js';
import { FacetRegistry } from './facet-registry.js';
import { ServiceScope, serviceToken } from './service.js';

const backend: BackendInfo = { name: 'test', flavour: 'test', description: '', capabilities: new Set(), details: {} };

interface Greeter { greet(): string }
const GREETER = serviceToken<Greeter>('test.greeter', 'greeting service');
const COUNTER = serviceToken<{ n: number }>('test.counter', 'shared counter', () => ({ n: 0 }));
const OTHER = serviceToken<number>('test.other', 'other service');

/** A facet double whose attach records itself in `log` and provides/takes what its info says. */
function facet<K extends FacetName>(info: FacetInfo<K>, log: string[] = []): FacetTypes[K] {
  return {
    ...info,
    featureBits: 0,
    irqLine: () => ({ raise() {}, lower() {} }),
    attach(ctx: MachineContext) {
      log.push(info.name);
      for (const n of info.needs ?? []) ctx.services.get(n);
      for (const p of info.provides ?? []) ctx.services.provide(p, { greet: () => `hello from ${info.name}` } as never);
    },
  } as unknown as FacetTypes[K];
}

function strategy(parts: Partial<{ [K in FacetName]: FacetTypes[K] }>, log: string[] = []): Strategy {
  return {
    name: 'test', description: 'test',
    cpu: parts.cpu ?? facet({ facet: 'cpu', name: 'c', description: '', requires: [] }, log),
    memory: parts.memory ?? facet({ facet: 'memory', name: 'm', description: '', requires: [] }, log),
    interrupt: parts.interrupt ?? facet({ facet: 'interrupt', name: 'i', description: '', requires: [] }, log),
    timer: parts.timer ?? facet({ facet: 'timer', name: 't', description: '', requires: [] }, log),
    io: parts.io ?? facet({ facet: 'io', name: 'o', description: '', requires: [] }, log),
  };
}

function context(services?: ServiceScope): MachineContext {
  let ctx: MachineContext;
  const scope = services ?? new ServiceScope(() => ctx);
  ctx = { services: scope } as unknown as MachineContext;
  return ctx;
}

test('a need met by another facet composes, and the provider attaches first whatever its kind', (t) => {
  const log: string[] = [];
  // The CPU facet needs what the I/O facet provides: attach order moves io before cpu.
  const s = strategy({
    cpu: facet({ facet: 'cpu', name: 'needs-greeter', description: '', requires: [], needs: [GREETER] }, log),
    io: facet({ facet: 'io', name: 'greeter', description: '', requires: [], provides: [GREETER] }, log),
  }, log);
  t.notThrows(() => assertComposable(s, backend));
  t.deepEqual(attachOrder(s), ['memory', 'interrupt', 'timer', 'io', 'cpu']);
  const ctx = context();
  attachFacets(s, ctx);
  t.deepEqual(log, ['m', 'i', 't', 'greeter', 'needs-greeter']);
  t.is(ctx.services.get(GREETER).greet(), 'hello from greeter');
});

test('a missing service names the facet, the service and the registered facets that provide it', (t) => {
  const s = strategy({ timer: facet({ facet: 'timer', name: 'needy', description: '', requires: [], needs: [GREETER] }) });
  const facets = new FacetRegistry();
  const provider = defineFacet({ facet: 'io', name: 'greeter-io', description: 'greets', requires: [], provides: [GREETER] });
  facets.register(provider, () => facet(provider));
  const err = t.throws(() => assertComposable(s, backend, { facets }), { instanceOf: CompositionError });
  t.is(err!.message, "strategy test is not a valid composition: timer facet 'needy' needs service 'greeting service', which no facet of this strategy provides; it is provided by io facet 'greeter-io'");
  t.deepEqual(err!.missing, [{ kind: 'service', facet: 'timer', implementation: 'needy', service: GREETER, providers: [{ facet: 'io', implementation: 'greeter-io' }] }]);
  const bare = t.throws(() => assertComposable(s, backend), { instanceOf: CompositionError });
  t.regex(bare!.message, /needs service 'greeting service', which no facet of this strategy provides$/);
});

test('a service whose token creates it is always available, once per machine', (t) => {
  const s = strategy({ timer: facet({ facet: 'timer', name: 'counting', description: '', requires: [], needs: [COUNTER] }) });
  t.notThrows(() => assertComposable(s, backend));
  const a = context();
  const b = context();
  a.services.get(COUNTER).n++;
  t.is(a.services.get(COUNTER).n, 1);
  t.is(b.services.get(COUNTER).n, 0);
});

test('a service provided twice, an excluded service and a need cycle are conflicts', (t) => {
  const twice = strategy({
    timer: facet({ facet: 'timer', name: 'g1', description: '', requires: [], provides: [GREETER] }),
    io: facet({ facet: 'io', name: 'g2', description: '', requires: [], provides: [GREETER] }),
  });
  const e1 = t.throws(() => assertComposable(twice, backend), { instanceOf: CompositionError });
  t.regex(e1!.message, /service 'greeting service' is provided by both timer facet 'g1' and io facet 'g2'/);
  t.is(e1!.conflicts[0]!.kind, 'provided-twice');

  const excluded = strategy({
    timer: facet({ facet: 'timer', name: 'g1', description: '', requires: [], provides: [GREETER] }),
    io: facet({ facet: 'io', name: 'shy', description: '', requires: [], excludes: [GREETER] }),
  });
  const e2 = t.throws(() => assertComposable(excluded, backend), { instanceOf: CompositionError });
  t.regex(e2!.message, /io facet 'shy' cannot share a machine with the greeting service, which timer facet 'g1' provides/);

  const cycle = strategy({
    timer: facet({ facet: 'timer', name: 'a', description: '', requires: [], provides: [GREETER], needs: [OTHER] }),
    io: facet({ facet: 'io', name: 'b', description: '', requires: [], provides: [OTHER], needs: [GREETER] }),
  });
  const e3 = t.throws(() => assertComposable(cycle, backend), { instanceOf: CompositionError });
  t.regex(e3!.message, /in a cycle: timer facet 'a' → io facet 'b' → timer facet 'a'/);
  t.throws(() => attachOrder(cycle), { instanceOf: CompositionError });
});

test('a service asked for before its provider attached names the provider', (t) => {
  const ctx = context();
  ctx.services.declare(GREETER, "io facet 'greeter'");
  const err = t.throws(() => ctx.services.get(GREETER), { instanceOf: WiringError });
  t.regex(err!.message, /greeting service.*io facet 'greeter' provides it but has not/);
  ctx.services.provide(GREETER, { greet: () => 'hi' });
  t.throws(() => ctx.services.provide(GREETER, { greet: () => 'again' }), { instanceOf: WiringError, message: /provided twice/ });
});

test('the machine scope is a child of the composition container, and disposes what it created', (t) => {
  const parent = createHyvisorContainer();
  parent.registerInstance(OTHER.key, 42);
  let disposed = 0;
  const DISPOSABLE = serviceToken('test.disposable', 'disposable service', () => ({ dispose: () => { disposed++; } }));
  let ctx: MachineContext;
  const scope = new ServiceScope(() => ctx, parent);
  ctx = { services: scope } as unknown as MachineContext;
  t.is(scope.get(OTHER), 42);
  t.is(scope.find(GREETER), undefined);
  scope.get(DISPOSABLE);
  scope.dispose();
  t.is(disposed, 1);
  t.false(parent.isRegistered(DISPOSABLE.key, true), 'a machine service stays in its machine');
});

test('tokens with the same id are the same service (a plugin built against another copy of core)', (t) => {
  const again = serviceToken<Greeter>('test.greeter', 'greeting service');
  const s = strategy({
    timer: facet({ facet: 'timer', name: 'needy', description: '', requires: [], needs: [again] }),
    io: facet({ facet: 'io', name: 'greeter', description: '', requires: [], provides: [GREETER] }),
  });
  t.notThrows(() => assertComposable(s, backend));
});

class Base extends FacetBase<'timer'> {
  static readonly info = defineFacet({ facet: 'timer', name: 'base', description: 'a timer', requires: ['msr'], provides: [GREETER] });
  readonly featureBits = 0;
}
class Renamed extends Base {
  static override readonly info = defineFacet({ ...Base.info, name: 'renamed' });
}
class Inherits extends Base {}

test('FacetBase copies the class info; a subclass renames or inherits it', (t) => {
  t.like(new Base(), { facet: 'timer', name: 'base', requires: ['msr'], provides: [GREETER], needs: [] });
  t.like(new Renamed(), { name: 'renamed', provides: [GREETER] });
  t.is(new Inherits().name, 'base');
});

test('the registry lists static info without building a facet', (t) => {
  const r = new FacetRegistry();
  let built = 0;
  r.register(Base.info, () => { built++; return new Base(); });
  r.register(Renamed.info, () => { built++; return new Renamed(); });
  t.deepEqual(r.list().map((e) => `${e.name}:${e.provides!.map((p) => p.id).join(',')}`), ['base:test.greeter', 'renamed:test.greeter']);
  t.deepEqual(r.providersOf(GREETER).map((e) => e.name), ['base', 'renamed']);
  t.is(built, 0);
});
