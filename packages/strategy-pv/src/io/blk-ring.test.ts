import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EvtchnOp, Hypercall, HypercallErrno, Ports, SchedOp, SharedInfo, Virtq, type VmConfig } from '@hyvisor/core';
import { MemoryBlockStore, type BlockStore } from '@hyvisor/devices';
import { fakeMachine, type FakeMachineOptions } from '../testing/fake-machine.js';
import { Rng } from '../testing/random.js';
import { EventChannelInterrupts } from '../facets/event-channel.js';
import { PvBlkIo } from '../facets/pv-blk.js';
import { MAX_REQUEST_BYTES, RingReset as RingResetNames } from './blk-ring.js';

const SHARED = 0x10000;
const DESC = 0x40000;
const AVAIL = 0x41000;
const USED = 0x42000;
const HDRS = 0x50000;
const STATUS = 0x58000;
const DATA = 0x100000;
const SIZE = 16;
const VECTOR = 0xe0;
const NOTIFY = 2;

interface Buf { addr: number; len: number; write: boolean }

function setup(options: { ioeventfd?: boolean; size?: number; machine?: FakeMachineOptions; store?: boolean; blockStore?: BlockStore } = {}) {
  const m = fakeMachine({
    canaries: true,
    ...options.machine,
    capabilities: options.ioeventfd === false
      ? ['guest-memory', 'interrupt-injection', 'msr', 'cpuid', 'run-deadline']
      : undefined,
  });
  const store = new MemoryBlockStore(2048);
  const events = new EventChannelInterrupts();
  const blk = new PvBlkIo(options.store === false ? {} : { store: options.blockStore ?? store });
  events.attach(m.ctx);
  blk.attach(m.ctx);
  m.hypercall(Hypercall.REGISTER_SHARED_INFO, SHARED);
  m.hypercall(Hypercall.SET_CALLBACK, VECTOR);
  const size = options.size ?? SIZE;
  const port = m.hypercall(Hypercall.BLK_SETUP, DESC, AVAIL, USED, size);
  m.hypercall(Hypercall.EVENT_CHANNEL_OP, EvtchnOp.UNMASK, port);
  let nextDesc = 0;
  let availIdx = 0;
  let requests = 0;
  const writeDesc = (i: number, addr: number, len: number, flags: number, next: number) => {
    const d = DESC + i * Virtq.DESC_SIZE;
    m.memory.setU64(d, BigInt(addr));
    m.memory.setU32(d + 8, len);
    m.memory.setU16(d + 12, flags);
    m.memory.setU16(d + 14, next);
  };
  /** Builds a chain header → bufs → status; returns its head and status address. */
  const chain = (type: number, sector: number, bufs: Buf[]) => {
    const r = requests++;
    const hdr = HDRS + r * 16;
    const status = STATUS + r;
    m.memory.setU32(hdr, type);
    m.memory.setU32(hdr + 4, 0);
    m.memory.setU64(hdr + 8, BigInt(sector));
    m.memory.setU8(status, 0xff);
    const parts: Buf[] = [{ addr: hdr, len: 16, write: false }, ...bufs, { addr: status, len: 1, write: true }];
    const head = nextDesc;
    parts.forEach((b, i) => {
      const idx = (head + i) % size;
      const last = i === parts.length - 1;
      writeDesc(idx, b.addr, b.len, (b.write ? Virtq.DESC_F_WRITE : 0) | (last ? 0 : Virtq.DESC_F_NEXT), (idx + 1) % size);
    });
    nextDesc = (head + parts.length) % size;
    return { head, status };
  };
  const offer = (head: number) => {
    m.memory.setU16(AVAIL + 4 + 2 * (availIdx % size), head);
    availIdx = (availIdx + 1) & 0xffff;
    m.memory.setU16(AVAIL + 2, availIdx);
  };
  const notify = () => m.ctx.pio.write(Ports.PV_BLK_NOTIFY, 2, 0);
  /** The guest's recovery after a reset: a fresh ring. */
  const restart = () => {
    availIdx = 0;
    nextDesc = 0;
    m.memory.setU16(AVAIL + 2, 0);
    return m.hypercall(Hypercall.BLK_SETUP, DESC, AVAIL, USED, size);
  };
  const usedIdx = () => m.memory.u16(USED + 2);
  const used = (i: number) => ({ id: m.memory.u32(USED + 4 + 8 * (i % size)), len: m.memory.u32(USED + 4 + 8 * (i % size) + 4) });
  const eventPending = () => ((m.memory.u8(SHARED + SharedInfo.EVTCHN_PENDING + (port >> 3)) >> (port & 7)) & 1) === 1;
  return { m, store, events, blk, port, size, writeDesc, chain, offer, notify, restart, usedIdx, used, eventPending };
}

test('BLK_SETUP returns the completion event port', (t) => {
  const { port, blk } = setup();
  t.true(port > 0);
  t.is(blk.port, port);
  t.true(blk.ring!.active);
});

test('BLK_SETUP refuses a bad queue size', (t) => {
  const { m } = setup();
  for (const size of [0, 3, 12, 512, 2 ** 40]) t.is(m.hypercall(Hypercall.BLK_SETUP, DESC, AVAIL, USED, size), -HypercallErrno.EINVAL, `size ${size}`);
});

test('BLK_SETUP refuses areas outside RAM, in the pool, or misaligned', (t) => {
  const { m } = setup();
  t.is(m.hypercall(Hypercall.BLK_SETUP, m.ramSize - 16, AVAIL, USED, 16), -HypercallErrno.EFAULT);
  t.is(m.hypercall(Hypercall.BLK_SETUP, DESC, 0xc0000000, USED, 16), -HypercallErrno.EFAULT);
  t.is(m.hypercall(Hypercall.BLK_SETUP, DESC, AVAIL, m.ramSize - 8, 16), -HypercallErrno.EFAULT);
  t.is(m.hypercall(Hypercall.BLK_SETUP, DESC + 8, AVAIL, USED, 16), -HypercallErrno.EINVAL);
  t.is(m.hypercall(Hypercall.BLK_SETUP, DESC, AVAIL + 1, USED, 16), -HypercallErrno.EINVAL);
});

test('BLK_SETUP again keeps the same port and restarts the ring', (t) => {
  const { m, port, blk } = setup();
  t.is(m.hypercall(Hypercall.BLK_SETUP, DESC, AVAIL, USED, 8), port);
  t.true(blk.ring!.active);
});

test('a write request reaches the block store and the status byte says OK', (t) => {
  const { m, store, chain, offer, notify, usedIdx, used } = setup({ ioeventfd: false });
  m.memory.fill(DATA, 1024, 0x3c);
  const { head, status } = chain(Virtq.BLK_T_OUT, 7, [{ addr: DATA, len: 1024, write: false }]);
  offer(head);
  notify();
  t.is(m.memory.u8(status), Virtq.BLK_S_OK);
  t.true(store.data.subarray(7 * 512, 9 * 512).every((b) => b === 0x3c));
  t.is(store.data[6 * 512 + 511], 0);
  t.is(usedIdx(), 1);
  t.deepEqual(used(0), { id: head, len: 1 });
});

test('a read request fills the guest buffers from the block store', (t) => {
  const { m, store, chain, offer, notify, used } = setup({ ioeventfd: false });
  for (let i = 0; i < 1536; i++) store.data[3 * 512 + i] = i & 0xff;
  // Buffers that do not follow sector boundaries.
  const { head, status } = chain(Virtq.BLK_T_IN, 3, [{ addr: DATA, len: 1000, write: true }, { addr: DATA + 0x2000, len: 536, write: true }]);
  offer(head);
  notify();
  t.is(m.memory.u8(status), Virtq.BLK_S_OK);
  t.is(m.memory.u8(DATA + 999), 999 & 0xff);
  t.is(m.memory.u8(DATA + 0x2000), 1000 & 0xff);
  t.is(m.memory.u8(DATA + 0x2000 + 535), 1535 & 0xff);
  t.deepEqual(used(0), { id: head, len: 1537 });
});

test('a flush request flushes the store', (t) => {
  const { m, store, chain, offer, notify } = setup({ ioeventfd: false });
  const { head, status } = chain(Virtq.BLK_T_FLUSH, 0, []);
  offer(head);
  notify();
  t.is(m.memory.u8(status), Virtq.BLK_S_OK);
  t.is(store.flushes, 1);
});

test('an unknown request type gets UNSUPP', (t) => {
  const { m, chain, offer, notify } = setup({ ioeventfd: false });
  const { head, status } = chain(8, 0, []);
  offer(head);
  notify();
  t.is(m.memory.u8(status), Virtq.BLK_S_UNSUPP);
  t.is(m.counter('pv.blk.error.unsupported'), 1);
});

test('a request past the end of the disk gets IOERR and the disk is untouched', (t) => {
  const { m, store, chain, offer, notify } = setup({ ioeventfd: false });
  m.memory.fill(DATA, 1024, 0x11);
  const { head, status } = chain(Virtq.BLK_T_OUT, 2047, [{ addr: DATA, len: 1024, write: false }]);
  offer(head);
  notify();
  t.is(m.memory.u8(status), Virtq.BLK_S_IOERR);
  t.true(store.data.every((b) => b === 0));
  t.is(m.counter('pv.blk.error.out_of_range'), 1);
});

test('data in the wrong direction, or not whole sectors, gets IOERR', (t) => {
  const { m, chain, offer, notify } = setup({ ioeventfd: false });
  const a = chain(Virtq.BLK_T_IN, 0, [{ addr: DATA, len: 512, write: false }]);
  const b = chain(Virtq.BLK_T_OUT, 0, [{ addr: DATA, len: 100, write: false }]);
  offer(a.head);
  offer(b.head);
  notify();
  t.is(m.memory.u8(a.status), Virtq.BLK_S_IOERR);
  t.is(m.memory.u8(b.status), Virtq.BLK_S_IOERR);
  t.is(m.counter('pv.blk.error.bad_request'), 2);
});

test('one completion event per batch', (t) => {
  const { m, events, chain, offer, notify, usedIdx } = setup({ ioeventfd: false });
  for (let i = 0; i < 4; i++) offer(chain(Virtq.BLK_T_OUT, i, [{ addr: DATA, len: 512, write: false }]).head);
  notify();
  t.is(usedIdx(), 4);
  t.is(m.counter('pv.blk.events'), 1);
  t.is(m.counter('pv.evtchn.sent'), 1);
  events.beforeRun(m.vcpu);
  t.deepEqual(m.vcpu.injected, [VECTOR]);
});

test('NO_INTERRUPT suppresses the completion event', (t) => {
  const { m, chain, offer, notify, usedIdx, eventPending } = setup({ ioeventfd: false });
  m.memory.setU16(AVAIL, Virtq.AVAIL_F_NO_INTERRUPT);
  offer(chain(Virtq.BLK_T_FLUSH, 0, []).head);
  notify();
  t.is(usedIdx(), 1);
  t.false(eventPending());
});

test('a chain that loops resets the ring', (t) => {
  const { m, blk, writeDesc, offer, notify, usedIdx } = setup({ ioeventfd: false });
  writeDesc(0, HDRS, 16, Virtq.DESC_F_NEXT, 1);
  writeDesc(1, DATA, 512, Virtq.DESC_F_NEXT, 0);
  offer(0);
  notify();
  t.false(blk.ring!.active);
  t.is(m.counter('pv.blk.reset.loop'), 1);
  t.is(usedIdx(), 0);
  notify();
  t.is(m.counter('pv.blk.ignored_notifies'), 1, 'a reset ring ignores notifications');
});

test('a descriptor outside RAM resets the ring and the VMM keeps running', (t) => {
  const { m, store, blk, chain, offer, notify } = setup({ ioeventfd: false });
  const { head } = chain(Virtq.BLK_T_IN, 0, [{ addr: m.ramSize - 256, len: 512, write: true }]);
  offer(head);
  t.notThrows(() => notify());
  t.false(blk.ring!.active);
  t.is(m.counter('pv.blk.reset.out_of_ram'), 1);
  t.true(m.canariesIntact());
  t.true(store.data.every((b) => b === 0));
  // The guest sets the ring up again and goes on.
  t.true(m.hypercall(Hypercall.BLK_SETUP, DESC, AVAIL, USED, SIZE) > 0);
  t.true(blk.ring!.active);
});

test('a descriptor in the page-table pool resets the ring', (t) => {
  const { m, blk, chain, offer, notify } = setup({ ioeventfd: false });
  offer(chain(Virtq.BLK_T_IN, 0, [{ addr: 0xc0000000, len: 512, write: true }]).head);
  notify();
  t.false(blk.ring!.active);
  t.is(m.counter('pv.blk.reset.out_of_ram'), 1);
});

test('an avail index that jumps past the queue resets the ring', (t) => {
  const { m, blk, notify } = setup({ ioeventfd: false });
  m.memory.setU16(AVAIL + 2, SIZE + 1);
  notify();
  t.false(blk.ring!.active);
  t.is(m.counter('pv.blk.reset.bad_index'), 1);
});

test('a head or next index past the queue resets the ring', (t) => {
  const { m, blk, writeDesc, offer, notify } = setup({ ioeventfd: false });
  writeDesc(0, HDRS, 16, Virtq.DESC_F_NEXT, SIZE + 3);
  offer(0);
  notify();
  t.false(blk.ring!.active);
  t.is(m.counter('pv.blk.reset.bad_index'), 1);
});

test('an absurd length resets the ring', (t) => {
  const { m, blk, chain, offer, notify } = setup({ ioeventfd: false, machine: { ramSize: 16 * 1024 * 1024 } });
  offer(chain(Virtq.BLK_T_IN, 0, [{ addr: DATA, len: MAX_REQUEST_BYTES + 0x20000, write: true }]).head);
  notify();
  t.false(blk.ring!.active);
  t.is(m.counter('pv.blk.reset.absurd_length'), 1);
});

test('an indirect descriptor resets the ring', (t) => {
  const { m, blk, writeDesc, offer, notify } = setup({ ioeventfd: false });
  writeDesc(0, HDRS, 16, 4, 0);
  offer(0);
  notify();
  t.false(blk.ring!.active);
  t.is(m.counter('pv.blk.reset.bad_flags'), 1);
});

test('requests before a broken chain complete, with their event', (t) => {
  const { m, writeDesc, chain, offer, notify, usedIdx, eventPending } = setup({ ioeventfd: false });
  offer(chain(Virtq.BLK_T_FLUSH, 0, []).head);
  writeDesc(10, HDRS, 16, Virtq.DESC_F_NEXT, 10);
  offer(10);
  notify();
  t.is(usedIdx(), 1);
  t.true(eventPending());
  t.is(m.counter('pv.blk.reset.loop'), 1);
});

test('with an ioeventfd, a notification costs no exit and is served at the next poll point', (t) => {
  const { m, blk, chain, offer, usedIdx } = setup();
  t.true(blk.usesIoEventFd);
  const fd = m.vm.ioEventFds[0]!;
  t.deepEqual({ ...fd.spec }, { space: 'pio', address: Ports.PV_BLK_NOTIFY, size: NOTIFY, match: 0 });
  offer(chain(Virtq.BLK_T_FLUSH, 0, []).head);
  fd.signal();
  t.is(usedIdx(), 0, 'nothing happens until the vCPU comes back');
  m.poll();
  t.is(usedIdx(), 1);
});

test('SCHED_OP BLOCK serves the ring first and does not sleep when it completed requests', (t) => {
  const { m, chain, offer, usedIdx } = setup();
  offer(chain(Virtq.BLK_T_FLUSH, 0, []).head);
  m.vm.ioEventFds[0]!.signal();
  t.is(m.hypercall(Hypercall.SCHED_OP, SchedOp.BLOCK), 0);
  t.is(usedIdx(), 1);
  t.is(m.blocks.count, 0);
  t.is(m.vm.ioEventFds[0]!.count, 0, 'the ioeventfd was drained');
});

test('SCHED_OP BLOCK with NO_INTERRUPT completions does not sleep either', (t) => {
  const { m, chain, offer } = setup();
  m.memory.setU16(AVAIL, Virtq.AVAIL_F_NO_INTERRUPT);
  offer(chain(Virtq.BLK_T_FLUSH, 0, []).head);
  m.hypercall(Hypercall.SCHED_OP, SchedOp.BLOCK);
  t.is(m.blocks.count, 0);
  m.hypercall(Hypercall.SCHED_OP, SchedOp.BLOCK);
  t.is(m.blocks.count, 1, 'nothing left: now it sleeps');
});

test('without an ioeventfd, a notify write is served at once', (t) => {
  const { m, blk, chain, offer, notify, usedIdx } = setup({ ioeventfd: false });
  t.false(blk.usesIoEventFd);
  t.is(m.vm.ioEventFds.length, 0);
  offer(chain(Virtq.BLK_T_FLUSH, 0, []).head);
  notify();
  t.is(usedIdx(), 1);
});

test('a notify for another queue is ignored and counted', (t) => {
  const { m, chain, offer, usedIdx } = setup({ ioeventfd: false });
  offer(chain(Virtq.BLK_T_FLUSH, 0, []).head);
  m.ctx.pio.write(Ports.PV_BLK_NOTIFY, 2, 1);
  t.is(usedIdx(), 0);
  t.is(m.counter('pv.blk.ignored_notifies'), 1);
});

test('closing the completion port stops the events but not the ring', (t) => {
  const { m, blk, port, chain, offer, notify, usedIdx } = setup({ ioeventfd: false });
  m.hypercall(Hypercall.EVENT_CHANNEL_OP, EvtchnOp.CLOSE, port);
  t.is(blk.port, 0);
  offer(chain(Virtq.BLK_T_FLUSH, 0, []).head);
  notify();
  t.is(usedIdx(), 1);
  t.is(m.counter('pv.evtchn.dropped'), 1);
  t.true(m.hypercall(Hypercall.BLK_SETUP, DESC, AVAIL, USED, SIZE) > 0, 'a new setup binds a new port');
});

test('BLK_INFO returns the capacity in sectors, and exactly that many sectors are usable', (t) => {
  const { m, store, chain, offer, notify } = setup({ ioeventfd: false });
  const capacity = m.hypercall(Hypercall.BLK_INFO);
  t.is(capacity, 2048);
  t.is(capacity, store.sectorCount);
  m.memory.fill(DATA, 512, 0x5a);
  const last = chain(Virtq.BLK_T_OUT, capacity - 1, [{ addr: DATA, len: 512, write: false }]);
  const past = chain(Virtq.BLK_T_OUT, capacity, [{ addr: DATA, len: 512, write: false }]);
  offer(last.head);
  offer(past.head);
  notify();
  t.is(m.memory.u8(last.status), Virtq.BLK_S_OK, 'the last sector is inside the disk');
  t.is(m.memory.u8(past.status), Virtq.BLK_S_IOERR, 'the one after it is not');
  t.is(m.counter('pv.hypercall.blk_info'), 1, 'counted by the doorbell');
});

test('BLK_INFO works before BLK_SETUP and after a ring reset, and ignores its arguments', (t) => {
  const m = fakeMachine({ capabilities: ['guest-memory', 'interrupt-injection', 'msr', 'cpuid', 'run-deadline'] });
  const events = new EventChannelInterrupts();
  const blk = new PvBlkIo({ store: new MemoryBlockStore(96) });
  events.attach(m.ctx);
  blk.attach(m.ctx);
  t.is(m.ctx.hypercalls.nameOf(Hypercall.BLK_INFO), 'BLK_INFO');
  t.is(m.hypercall(Hypercall.BLK_INFO), 96, 'no ring yet');
  t.is(m.hypercall(Hypercall.BLK_INFO, 1, 2, 3), 96);
  blk.ring!.reset(RingResetNames.LOOP);
  t.is(m.hypercall(Hypercall.BLK_INFO), 96, 'a reset ring');
});

test('BLK_INFO of the default memory disk and of the configured storage file', (t) => {
  const plain = fakeMachine();
  new EventChannelInterrupts().attach(plain.ctx);
  new PvBlkIo().attach(plain.ctx);
  t.is(plain.hypercall(Hypercall.BLK_INFO), (16 * 1024 * 1024) / 512, '16 MiB by default, as the HVM disk');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hyvisor-pvblk-'));
  try {
    const config = { storage: { path: path.join(dir, 'disk.img'), size: 3 * 1024 * 1024 } } as unknown as VmConfig;
    const m = fakeMachine({ config });
    new EventChannelInterrupts().attach(m.ctx);
    const owned = new PvBlkIo().attach(m.ctx);
    t.is(m.hypercall(Hypercall.BLK_INFO), 6144);
    owned.dispose();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the storage file from the config is created and used', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hyvisor-pvblk-'));
  const file = path.join(dir, 'sub', 'disk.img');
  const config = { storage: { path: file, size: 1024 * 1024 } } as unknown as VmConfig;
  try {
    const { m, chain, offer, notify } = setup({ ioeventfd: false, store: false, machine: { config } });
    m.memory.fill(DATA, 512, 0x42);
    const { head, status } = chain(Virtq.BLK_T_OUT, 1, [{ addr: DATA, len: 512, write: false }]);
    offer(head);
    notify();
    t.is(m.memory.u8(status), Virtq.BLK_S_OK);
    const bytes = fs.readFileSync(file);
    t.is(bytes.length, 1024 * 1024);
    t.is(bytes[512], 0x42);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('property: hostile descriptor tables never throw, never write outside guest RAM, and keep the disk in range', (t) => {
  let served = 0;
  let resets = 0;
  let ok = 0;
  for (let seed = 1; seed <= 200; seed++) {
    const rng = new Rng(seed * 7919);
    const disk = new MemoryBlockStore(2048);
    const violations: string[] = [];
    const checked: BlockStore = {
      sectorCount: disk.sectorCount,
      read: (lba, count, into) => { if (lba < 0 || lba + count > disk.sectorCount || into.length < count * 512) violations.push(`read ${lba}+${count}`); disk.read(lba, count, into); },
      write: (lba, count, from) => { if (lba < 0 || lba + count > disk.sectorCount || from.length < count * 512) violations.push(`write ${lba}+${count}`); disk.write(lba, count, from); },
      flush: () => disk.flush(),
    };
    const s = setup({ ioeventfd: false, size: rng.pick([4, 8, 16]), blockStore: checked });
    const { m } = s;
    const ramSize = m.ramSize;
    const addr = () => {
      switch (rng.below(5)) {
        case 0: return rng.u32() * 4096 + rng.below(4096);
        case 1: return ramSize - rng.below(2048);
        case 2: return 0xc0000000 + rng.below(0x400000);
        default: return DATA + rng.below(0x10000);
      }
    };
    for (let round = 0; round < 10; round++) {
      if (rng.chance(0.6)) {
        // A plausible request, perhaps corrupted afterwards.
        const bufs: Buf[] = [];
        const write = rng.chance(0.5);
        for (let b = rng.below(3); b > 0; b--) bufs.push({ addr: DATA + 0x1000 * rng.below(16), len: rng.pick([512, 1024, 100, 4096]), write: rng.chance(0.9) ? write : !write });
        const { head } = s.chain(rng.pick([Virtq.BLK_T_IN, Virtq.BLK_T_OUT, Virtq.BLK_T_FLUSH, 9]), rng.chance(0.9) ? rng.below(2100) : rng.u32(), bufs);
        if (rng.chance(0.3)) {
          const d = DESC + Virtq.DESC_SIZE * rng.below(s.size);
          switch (rng.below(4)) {
            case 0: m.memory.setU64(d, BigInt(addr())); break;
            case 1: m.memory.setU32(d + 8, rng.u32()); break;
            case 2: m.memory.setU16(d + 12, rng.below(8)); break;
            default: m.memory.setU16(d + 14, rng.below(0x10000));
          }
        }
        s.offer(head);
      } else {
        for (let i = 0; i < s.size; i++) {
          const hdrNow = rng.chance(0.5);
          s.writeDesc(i, hdrNow ? HDRS + 16 * rng.below(8) : addr(),
            rng.chance(0.1) ? rng.u32() : rng.pick([0, 1, 16, 512, 1024, 1000, 4096]),
            rng.below(8), rng.chance(0.9) ? rng.below(s.size) : rng.below(0x10000));
        }
        const n = rng.below(s.size + 2);
        for (let k = 0; k < n; k++) s.offer(rng.chance(0.9) ? rng.below(s.size) : rng.below(0x10000));
      }
      if (rng.chance(0.1)) m.memory.setU16(AVAIL + 2, rng.below(0x10000));
      try {
        s.notify();
        if (!s.blk.ring!.active && rng.chance(0.8)) s.restart();
      } catch (err) {
        return t.fail(`seed ${seed} round ${round}: threw ${String(err)}`);
      }
    }
    if (!m.canariesIntact()) return t.fail(`seed ${seed}: a canary outside RAM was written`);
    if (violations.length > 0) return t.fail(`seed ${seed}: block store accessed out of range: ${violations.join(', ')}`);
    served += m.counter('pv.blk.requests');
    resets += Object.values(RingResetNames).reduce((n, r) => n + m.counter(`pv.blk.reset.${r}`), 0);
    ok += disk.flushes;
  }
  t.log(`${served} requests served, ${resets} ring resets, ${ok} flushes`);
  t.true(served > 200 && resets > 100 && ok > 10, 'the generator reaches every outcome');
});
