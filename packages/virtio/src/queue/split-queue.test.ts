import test from 'ava';
import { GuestMemory } from '@hyvisor/core';
import { DescFlag, DescriptorChain, QueueFault, SplitQueue } from './split-queue.js';

const RAM = 1 << 20;
const DESC = 0x1000;
const AVAIL = 0x2000;
const USED = 0x3000;
const SIZE = 8;

function setup(options: { indirect?: boolean; eventIdx?: boolean } = {}) {
  const memory = new GuestMemory();
  memory.addRegion({ name: 'ram', gpa: 0, size: RAM, buffer: new ArrayBuffer(RAM), readonly: false });
  const q = new SplitQueue(memory, (gpa, len) => Number.isSafeInteger(gpa) && gpa >= 0 && gpa + len <= RAM, options.indirect, options.eventIdx);
  t0(q.configure({ desc: DESC, avail: AVAIL, used: USED, size: SIZE }));
  let availIdx = 0;
  const desc = (table: number, i: number, addr: number, len: number, flags: number, next = 0) => {
    const d = table + 16 * i;
    memory.setU32(d, addr % 2 ** 32);
    memory.setU32(d + 4, Math.floor(addr / 2 ** 32));
    memory.setU32(d + 8, len);
    memory.setU16(d + 12, flags);
    memory.setU16(d + 14, next);
  };
  const offer = (head: number) => {
    memory.setU16(AVAIL + 4 + 2 * (availIdx % SIZE), head);
    availIdx = (availIdx + 1) & 0xffff;
    memory.setU16(AVAIL + 2, availIdx);
  };
  return { memory, q, desc, offer, chain: new DescriptorChain() };
}
function t0(v: unknown): void {
  if (v !== undefined) throw new Error(`configure: ${String(v)}`);
}

test('a chain comes back in order with its directions; the used ring gets head and length', (t) => {
  const { memory, q, desc, offer, chain } = setup();
  desc(DESC, 3, 0x10000, 16, DescFlag.NEXT, 5);
  desc(DESC, 5, 0x11000, 512, DescFlag.NEXT | DescFlag.WRITE, 1);
  desc(DESC, 1, 0x12000, 1, DescFlag.WRITE);
  offer(3);
  t.is(q.pop(chain), 1);
  t.deepEqual([chain.head, chain.count, [...chain.addr.subarray(0, 3)], [...chain.len.subarray(0, 3)], [...chain.writable.subarray(0, 3)]],
    [3, 3, [0x10000, 0x11000, 0x12000], [16, 512, 1], [0, 1, 1]]);
  t.is(chain.writableBytes(), 513);
  t.is(q.pop(chain), 0);
  q.pushUsed(3, 513);
  t.true(q.publish());
  t.is(memory.u16(USED + 2), 1);
  t.deepEqual([memory.u32(USED + 4), memory.u32(USED + 8)], [3, 513]);
});

test('NO_INTERRUPT suppresses the interrupt without event-index, not the used entries', (t) => {
  const { memory, q, desc, offer, chain } = setup();
  memory.setU16(AVAIL, 1);
  desc(DESC, 0, 0x10000, 8, DescFlag.WRITE);
  offer(0);
  q.pop(chain);
  q.pushUsed(0, 8);
  t.false(q.publish());
  t.is(memory.u16(USED + 2), 1);
});

test('event-index: an interrupt only when the used index passes used_event; avail_event follows the device', (t) => {
  const { memory, q, desc, offer, chain } = setup({ eventIdx: true });
  const usedEvent = (v: number) => memory.setU16(AVAIL + 4 + 2 * SIZE, v);
  desc(DESC, 0, 0x10000, 8, DescFlag.WRITE);
  usedEvent(1); // interrupt me when the 2nd entry is used
  offer(0);
  q.pop(chain);
  t.is(memory.u16(USED + 4 + 8 * SIZE), 1, 'avail_event = next avail index the device will read');
  q.pushUsed(0, 8);
  t.false(q.publish(), 'used idx 1: used_event 1 not passed yet');
  offer(0);
  q.pop(chain);
  q.pushUsed(0, 8);
  t.true(q.publish(), 'used idx 2 passed used_event 1');
  memory.setU16(AVAIL, 1); // NO_INTERRUPT means nothing once event-index is negotiated
  usedEvent(2);
  offer(0);
  q.pop(chain);
  q.pushUsed(0, 8);
  t.true(q.publish());
});

test('indirect: a descriptor pointing at a table of descriptors is followed when offered', (t) => {
  const { q, desc, offer, chain } = setup({ indirect: true });
  const TABLE = 0x8000;
  desc(TABLE, 0, 0x10000, 16, DescFlag.NEXT, 2);
  desc(TABLE, 2, 0x11000, 4096, DescFlag.NEXT | DescFlag.WRITE, 1);
  desc(TABLE, 1, 0x12000, 1, DescFlag.WRITE);
  desc(DESC, 4, TABLE, 3 * 16, DescFlag.INDIRECT);
  offer(4);
  t.is(q.pop(chain), 1);
  t.is(chain.head, 4);
  t.deepEqual([...chain.len.subarray(0, chain.count)], [16, 4096, 1]);
});

const faults: [string, (s: ReturnType<typeof setup>) => void, QueueFault, { indirect?: boolean }?][] = [
  ['a head past the queue', ({ offer }) => offer(SIZE), QueueFault.BAD_INDEX],
  ['a next past the queue', ({ desc, offer }) => { desc(DESC, 0, 0x10000, 8, DescFlag.NEXT, 200); offer(0); }, QueueFault.BAD_INDEX],
  ['a loop', ({ desc, offer }) => { desc(DESC, 0, 0x10000, 8, DescFlag.NEXT, 1); desc(DESC, 1, 0x10000, 8, DescFlag.NEXT, 0); offer(0); }, QueueFault.LOOP],
  ['a buffer outside RAM', ({ desc, offer }) => { desc(DESC, 0, RAM - 4, 8, 0); offer(0); }, QueueFault.OUT_OF_RAM],
  ['a buffer above 2^53', ({ desc, offer }) => { desc(DESC, 0, 2 ** 60, 8, 0); offer(0); }, QueueFault.OUT_OF_RAM],
  ['an unknown flag', ({ desc, offer }) => { desc(DESC, 0, 0x10000, 8, 0x10); offer(0); }, QueueFault.BAD_FLAGS],
  ['INDIRECT not offered', ({ desc, offer }) => { desc(DESC, 0, 0x8000, 16, DescFlag.INDIRECT); offer(0); }, QueueFault.BAD_FLAGS],
  ['INDIRECT with NEXT', ({ desc, offer }) => { desc(DESC, 0, 0x8000, 16, DescFlag.INDIRECT | DescFlag.NEXT, 1); offer(0); }, QueueFault.BAD_INDIRECT, { indirect: true }],
  ['a nested indirect table', ({ desc, offer }) => { desc(0x8000, 0, 0x9000, 16, DescFlag.INDIRECT); desc(DESC, 0, 0x8000, 16, DescFlag.INDIRECT); offer(0); }, QueueFault.BAD_INDIRECT, { indirect: true }],
  ['an indirect table of 17 bytes', ({ desc, offer }) => { desc(DESC, 0, 0x8000, 17, DescFlag.INDIRECT); offer(0); }, QueueFault.BAD_INDIRECT, { indirect: true }],
  ['a loop inside an indirect table', ({ desc, offer }) => { desc(0x8000, 0, 0x10000, 8, DescFlag.NEXT, 1); desc(0x8000, 1, 0x10000, 8, DescFlag.NEXT, 0); desc(DESC, 0, 0x8000, 32, DescFlag.INDIRECT); offer(0); }, QueueFault.LOOP, { indirect: true }],
  ['lengths adding up past 4 MiB', ({ desc, offer }) => { desc(DESC, 0, 0, RAM, DescFlag.NEXT, 1); for (let i = 1; i < 6; i++) desc(DESC, i, 0, RAM, DescFlag.NEXT, i + 1); desc(DESC, 6, 0, 8, 0); offer(0); }, QueueFault.ABSURD_LENGTH],
  ['an avail index that jumped past the queue', ({ memory }) => memory.setU16(AVAIL + 2, SIZE + 1), QueueFault.BAD_INDEX],
];
for (const [what, make, fault, opts] of faults) {
  test(`a broken queue is reported, never thrown: ${what}`, (t) => {
    const s = setup(opts);
    make(s);
    t.notThrows(() => t.is(s.q.pop(s.chain), -1));
    t.is(s.q.fault, fault);
    t.false(s.q.ready);
    t.is(s.q.pop(s.chain), 0, 'a broken queue serves nothing until configured again');
  });
}

test('configure refuses bad sizes, misaligned areas and areas outside memory', (t) => {
  const { q } = setup();
  t.is(q.configure({ desc: DESC, avail: AVAIL, used: USED, size: 6 }), 'bad_size');
  t.is(q.configure({ desc: DESC, avail: AVAIL, used: USED, size: 2048 }), 'bad_size');
  t.is(q.configure({ desc: DESC + 8, avail: AVAIL, used: USED, size: 8 }), 'misaligned');
  t.is(q.configure({ desc: DESC, avail: AVAIL, used: RAM - 16, size: 8 }), QueueFault.OUT_OF_RAM);
  t.is(q.configure({ desc: 2 ** 60, avail: AVAIL, used: USED, size: 8 }), QueueFault.OUT_OF_RAM);
  t.false(q.ready);
});
