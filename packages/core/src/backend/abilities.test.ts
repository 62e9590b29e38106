import test from 'ava';
import { BackendError, WiringError } from '../errors.js';
import { GuestMemory } from '../memory/guest-memory.js';
import { abilityMismatches, offerAbilities, VM_ABILITY_CAPABILITY, VM_ABILITY_NAMES } from './abilities.js';
import { CAPABILITIES, type BackendInfo, type Capability } from './backend.js';
import { INTERRUPT_QUEUE_SIZE, InterruptQueue } from './interrupt-queue.js';
import { assertLive, checkRegion } from './resources.js';

const info = (caps: Capability[]): BackendInfo => ({ name: 'test', flavour: 'test', description: '', capabilities: new Set(caps), details: {} });
const clock = { now: () => 5, advanceTo: () => {} };

test('every VM ability stands for its own listed capability', (t) => {
  const caps = VM_ABILITY_NAMES.map((n) => VM_ABILITY_CAPABILITY[n]);
  t.is(new Set(caps).size, caps.length);
  for (const c of caps) t.true(CAPABILITIES.includes(c), c);
});

test('offerAbilities builds an ability only where its capability is listed', (t) => {
  let built = 0;
  const factories = { virtualClock: () => { built++; return clock; } };
  t.is(offerAbilities(info([]), factories).virtualClock, undefined);
  t.is(built, 0, 'the factory of an unlisted ability is not called');
  t.is(offerAbilities(info(['virtual-clock']), factories).virtualClock, clock);
  t.is(built, 1);
});

test('a capability listed without the VM part that provides it is a backend bug, named', (t) => {
  t.throws(() => offerAbilities(info(['ioeventfd']), { virtualClock: () => clock }), {
    instanceOf: BackendError, message: 'backend test lists capability ioeventfd but its VMs have no ioEvents',
  });
});

test('abilityMismatches names each disagreement between sub-objects and the capability list', (t) => {
  t.deepEqual(abilityMismatches({ info: info(['virtual-clock']), virtualClock: clock }), []);
  t.deepEqual(abilityMismatches({ info: info(['in-kernel-irqchip']), virtualClock: clock }), [
    'irqchip is absent but capability in-kernel-irqchip is listed',
    'virtualClock is present but capability virtual-clock is not listed',
  ]);
});

test('the interrupt queue hands vectors out oldest first and refuses the 17th', (t) => {
  const q = new InterruptQueue();
  for (let v = 0; v < INTERRUPT_QUEUE_SIZE; v++) t.true(q.push(0x20 + v));
  t.false(q.push(0xff), 'full: the caller counts the drop');
  t.is(q.size, INTERRUPT_QUEUE_SIZE);
  for (let v = 0; v < INTERRUPT_QUEUE_SIZE; v++) {
    t.is(q.peek(), 0x20 + v);
    q.drop();
  }
  t.is(q.size, 0);
  t.true(q.push(7), 'wraps around');
  t.is(q.peek(), 7);
});

test('the interrupt queue refuses a vector outside 0-255', (t) => {
  const q = new InterruptQueue();
  for (const v of [-1, 256, 1.5, Number.NaN]) t.throws(() => q.push(v), { instanceOf: BackendError, message: /vector must be an integer 0-255/ });
  t.is(q.size, 0);
});

test('checkRegion refuses bad ranges, overlaps, partial pages and read-only memory the backend lacks', (t) => {
  const memory = new GuestMemory();
  memory.addRegion({ name: 'ram', gpa: 0, size: 0x10000, buffer: new ArrayBuffer(0x10000), readonly: false });
  const b = info([]);
  t.throws(() => checkRegion(memory, b, 'x', -4096, 4096), { instanceOf: WiringError, message: /bad range/ });
  t.throws(() => checkRegion(memory, b, 'x', 0x8000, 0x10000), { instanceOf: WiringError, message: /overlaps ram/ });
  t.throws(() => checkRegion(memory, b, 'x', 0x10800, 0x1000), { instanceOf: BackendError, message: /whole 4 KiB pages/ });
  t.throws(() => checkRegion(memory, b, 'x', 0x10000, 0x1000, { readonly: true }), { instanceOf: BackendError, message: /lacks the readonly-memory capability/ });
  t.notThrows(() => checkRegion(memory, info(['readonly-memory']), 'x', 0x10000, 0x1000, { readonly: true }));
});

test('assertLive names the operation and the resource', (t) => {
  t.notThrows(() => assertLive({ isDisposed: false }, 'run', 'vCPU 0'));
  t.throws(() => assertLive({ isDisposed: true }, 'run', 'vCPU 0'), { instanceOf: BackendError, message: 'run: vCPU 0 is disposed' });
});
