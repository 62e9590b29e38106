import test from 'ava';
import { ConfigError, WiringError } from '../errors.js';
import { Registry } from './registry.js';
import { BACKENDS, STRATEGIES, createHyvisorContainer } from './tokens.js';

test('create calls the factory registered under the name', (t) => {
  const r = new Registry<number>('strategy');
  r.register('answer', 'the answer', () => 42);
  t.is(r.create('answer'), 42);
  t.true(r.has('answer'));
});

test('an unknown name is a config error listing the known ones', (t) => {
  const r = new Registry<number>('strategy');
  r.register('pv', 'x', () => 1);
  r.register('hvm', 'x', () => 2);
  const err = t.throws(() => r.create('hybird'), { instanceOf: ConfigError });
  t.is(err!.message, "strategy: unknown strategy 'hybird'; known: hvm, pv");
  t.is((err as ConfigError).field, 'strategy');
});

test('an unknown name in an empty registry says none are registered', (t) => {
  const r = new Registry<number>('backend');
  t.regex(t.throws(() => r.create('kvm'))!.message, /\(none registered\)/);
});

test('registering a name twice is a wiring error', (t) => {
  const r = new Registry<number>('backend');
  r.register('kvm', 'x', () => 1);
  t.throws(() => r.register('kvm', 'y', () => 2), { instanceOf: WiringError, message: 'backend kvm is registered twice' });
});

test('list is sorted by name', (t) => {
  const r = new Registry<number>('strategy');
  r.register('pv', 'paravirtual', () => 1);
  r.register('hvm', 'hardware', () => 2);
  t.deepEqual(r.list(), [
    { name: 'hvm', description: 'hardware' },
    { name: 'pv', description: 'paravirtual' },
  ]);
});

test('each container gets its own registries', (t) => {
  const a = createHyvisorContainer();
  const b = createHyvisorContainer();
  a.resolve(STRATEGIES).register('only-in-a', 'x', () => ({}) as never);
  t.true(a.resolve(STRATEGIES).has('only-in-a'));
  t.false(b.resolve(STRATEGIES).has('only-in-a'));
  t.is(a.resolve(BACKENDS).kind, 'backend');
});
