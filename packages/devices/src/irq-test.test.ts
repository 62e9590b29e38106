import test from 'ava';
import { RecordingIrqLine as RecordingIrq } from '@hyvisor/core/testing';
import { IrqTestDevice } from './irq-test.js';

test('a write raises the line and counts the request', (t) => {
  const irq = new RecordingIrq();
  const d = new IrqTestDevice(irq);
  d.write(0, 1, 0);
  t.true(irq.level);
  t.is(d.raised, 1);
});

test('a read lowers the line and returns the number raised so far', (t) => {
  const irq = new RecordingIrq();
  const d = new IrqTestDevice(irq);
  d.write(0, 1, 0);
  t.is(d.read(0, 4), 1);
  t.false(irq.level);
  d.write(0, 4, 0);
  t.is(d.read(0, 4), 2);
  t.deepEqual(irq.edges, ['raise', 'lower', 'raise', 'lower']);
});

test('a second request before the acknowledgement makes no new edge', (t) => {
  const irq = new RecordingIrq();
  const d = new IrqTestDevice(irq);
  d.write(0, 1, 0);
  d.write(0, 1, 0);
  t.deepEqual(irq.edges, ['raise']);
  t.is(d.raised, 2);
});

test('a read without a request does not touch the line', (t) => {
  const irq = new RecordingIrq();
  const d = new IrqTestDevice(irq);
  t.is(d.read(0, 4), 0);
  t.deepEqual(irq.edges, []);
});

test('the count read back is truncated to the access size', (t) => {
  const d = new IrqTestDevice(new RecordingIrq());
  d.raised = 0x1_0000_0102;
  t.is(d.read(0, 1), 0x02);
  t.is(d.read(0, 2), 0x0102);
  t.is(d.read(0, 4), 0x0102);
});

test('offset 1 reads 0 and ignores writes', (t) => {
  const irq = new RecordingIrq();
  const d = new IrqTestDevice(irq);
  d.write(1, 1, 5);
  t.is(d.read(1, 1), 0);
  t.is(d.raised, 0);
  t.deepEqual(irq.edges, []);
});
