import test from 'ava';
import type { BackendInfo } from '../backend/backend.js';
import { ConfigError, WiringError } from '../errors.js';
import type { InterruptFacet, TimerFacet } from './facet.js';
import { FacetRegistry, notAFacet } from './facet-registry.js';

const backend: BackendInfo = { name: 'test', flavour: 'test', description: '', capabilities: new Set(), details: {} };

function timer(name: string): TimerFacet {
  return { facet: 'timer', name, description: `${name} timer`, requires: [], featureBits: 0 };
}

function interrupt(name: string): InterruptFacet {
  return { facet: 'interrupt', name, description: name, requires: [], featureBits: 0, irqLine: () => ({ raise() {}, lower() {} }) };
}

function registry(): FacetRegistry {
  const r = new FacetRegistry();
  r.register('timer', 'pit', 'a PIT', () => timer('pit'));
  r.register('timer', 'clock', 'a clock', () => timer('clock'));
  r.register('interrupt', 'pic', 'a PIC', () => interrupt('pic'));
  return r;
}

test('create builds a fresh facet per call, by kind and name', (t) => {
  const r = registry();
  const a = r.create('timer', 'pit', backend);
  const b = r.create('timer', 'pit', backend);
  t.is(a.name, 'pit');
  t.not(a, b);
  t.deepEqual(r.names('timer'), ['clock', 'pit']);
  t.deepEqual(r.list().map((e) => `${e.facet}:${e.name}`), ['interrupt:pic', 'timer:clock', 'timer:pit']);
});

test('an unknown name lists the known ones of that facet kind only', (t) => {
  const err = t.throws(() => registry().create('timer', 'turbo', backend), { instanceOf: ConfigError });
  t.is(err!.message, "strategy.timer: unknown timer facet 'turbo'; known: clock, pit");
});

test('a name of another facet kind says which kind it is', (t) => {
  const err = t.throws(() => registry().assertHas('interrupt', 'pit', 'x.yaml: strategy.interrupt'), { instanceOf: ConfigError });
  t.is(err!.message, "x.yaml: strategy.interrupt: 'pit' is a timer facet, not an interrupt facet; known interrupt facets: pic");
});

test('register refuses a name twice per kind; provide keeps the first', (t) => {
  const r = registry();
  t.throws(() => r.register('timer', 'pit', 'again', () => timer('pit')), { instanceOf: WiringError, message: /timer facet pit is registered twice/ });
  r.provide('timer', 'pit', 'again', () => timer('other'));
  t.is(r.create('timer', 'pit', backend).name, 'pit');
  r.register('interrupt', 'pit', 'same name, other kind', () => interrupt('pit'));
  t.deepEqual(r.kindsOf('pit'), ['interrupt', 'timer']);
});

test('notAFacet explains what a module returned instead of a facet', (t) => {
  t.is(notAFacet(timer('x'), 'timer'), undefined);
  t.is(notAFacet(interrupt('x'), 'interrupt'), undefined);
  t.regex(notAFacet(undefined, 'timer')!, /expected a timer facet object, got undefined/);
  t.regex(notAFacet({ facet: 'clock' }, 'timer')!, /expected an object with facet: cpu \| memory/);
  t.regex(notAFacet(timer('x'), 'interrupt')!, /it is a timer facet \('x'\), not an interrupt facet/);
  t.regex(notAFacet({ ...interrupt('x'), irqLine: 1 }, 'interrupt')!, /has no irqLine/);
  t.regex(notAFacet({ ...timer('x'), featureBits: undefined }, 'timer')!, /no featureBits/);
  t.regex(notAFacet({ ...timer('x'), attach: 'yes' }, 'timer')!, /attach is not a function/);
});
