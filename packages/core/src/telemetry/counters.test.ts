import test from 'ava';
import { CoreCounter, Counters } from './counters.js';
import { EXIT_KIND_COUNT } from '../exits/vm-exit.js';

test('core counters sit at their documented slots', (t) => {
  const c = new Counters();
  t.is(c.slotOf('exits.io'), 0);
  t.is(c.slotOf('pio.unhandled'), CoreCounter.PioUnhandled);
  t.is(c.slotOf('hypercalls.errors'), CoreCounter.HypercallErrors);
  t.is(c.list.length, EXIT_KIND_COUNT + 6);
});

test('defining a name twice returns the same slot', (t) => {
  const c = new Counters();
  const a = c.define('uart.tx', 'bytes sent');
  t.is(c.define('uart.tx', 'other help'), a);
});

test('add and get work by slot and by name', (t) => {
  const c = new Counters();
  const s = c.define('uart.tx', 'bytes sent');
  c.add(s);
  c.add(s, 4);
  c.values[s]!++;
  t.is(c.get('uart.tx'), 6);
  t.is(c.get('no.such.counter'), 0);
});

test('growing past the initial capacity keeps every value', (t) => {
  const c = new Counters();
  const slots: number[] = [];
  for (let i = 0; i < 200; i++) {
    const s = c.define(`dev${i}`, 'x');
    c.add(s, i);
    slots.push(s);
  }
  c.add(CoreCounter.Hypercalls, 3);
  t.is(c.get('hypercalls.total'), 3);
  for (let i = 0; i < 200; i++) t.is(c.values[slots[i]!], i);
});

test('a snapshot is a copy by name', (t) => {
  const c = new Counters();
  c.add(CoreCounter.InterruptsInjected, 2);
  const snap = c.snapshot();
  c.add(CoreCounter.InterruptsInjected, 5);
  t.is(snap['interrupts.injected'], 2);
  t.is(Object.keys(snap).length, c.list.length);
});
