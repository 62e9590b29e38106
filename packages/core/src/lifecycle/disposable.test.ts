import test from 'ava';
import { DisposableStore, toDisposable } from './disposable.js';

test('a store disposes its items newest first', (t) => {
  const order: string[] = [];
  const store = new DisposableStore();
  store.defer(() => order.push('fd'));
  store.add(toDisposable(() => order.push('mapping')));
  store.defer(() => order.push('timer'));
  store.dispose();
  t.deepEqual(order, ['timer', 'mapping', 'fd']);
  t.true(store.isDisposed);
});

test('a store keeps disposing after an error and rethrows the first one', (t) => {
  const order: string[] = [];
  const store = new DisposableStore();
  store.defer(() => order.push('a'));
  store.defer(() => {
    throw new Error('first');
  });
  store.defer(() => order.push('c'));
  store.defer(() => {
    throw new Error('second');
  });
  const err = t.throws(() => store.dispose());
  t.is(err!.message, 'second', 'the first error thrown (newest item first) is rethrown');
  t.deepEqual(order, ['c', 'a']);
});

test('disposing a store twice releases nothing twice', (t) => {
  let n = 0;
  const store = new DisposableStore();
  store.defer(() => n++);
  store.dispose();
  store.dispose();
  t.is(n, 1);
});

test('an item added to a disposed store is released at once', (t) => {
  let released = false;
  const store = new DisposableStore();
  store.dispose();
  store.defer(() => (released = true));
  t.true(released);
});

test('toDisposable runs its release function at most once', (t) => {
  let n = 0;
  const d = toDisposable(() => n++);
  d.dispose();
  d.dispose();
  t.is(n, 1);
});

test('`using` releases a store and a toDisposable when the scope ends, newest first', (t) => {
  const order: string[] = [];
  {
    using store = new DisposableStore();
    store.defer(() => order.push('store item'));
    using single = toDisposable(() => order.push('single'));
    t.is(typeof single[Symbol.dispose], 'function');
  }
  t.deepEqual(order, ['single', 'store item']);
});

test('`using` releases on the error path too', (t) => {
  const store = new DisposableStore();
  t.throws(() => {
    using s = store;
    s.defer(() => undefined);
    throw new Error('boom');
  }, { message: 'boom' });
  t.true(store.isDisposed);
});
