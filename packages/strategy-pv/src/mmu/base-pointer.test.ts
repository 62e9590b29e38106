/**
 * CR3 under direct paging (issue 15 §1): the VMM's boot tables in the pool, NEW_BASEPTR loading
 * CR3, and the refusal to unpin or release a table a vCPU's CR3 holds; releases drop cached
 * translations.
 */
import test from 'ava';
import { BootLayout, Hypercall, HypercallErrno, MmuExt, PtPool } from '@hyvisor/core';
import { fakeMachine } from '../testing/fake-machine.js';
import { DirectPagingMemory } from '../facets/direct-paging.js';
import { DirectPaging, type BasePointers } from './direct-paging.js';

const P = 1n;
const RW = 2n;
const PS = 0x80n;
const REQS = 0x30000;
const pg = (i: number) => PtPool.BASE + i * 4096;

function setup() {
  const m = fakeMachine();
  const facet = new DirectPagingMemory();
  facet.prepareVm(m.vm);
  facet.attach(m.ctx);
  const ext = (cmd: number, gpa: number, arg = 0) => m.hypercall(Hypercall.MMUEXT_OP, cmd, gpa, arg);
  const cr3 = () => Number(m.vcpu.sregs.cr3);
  /** What the guest's own `mov %rax, %cr3` does where nothing checks it (KVM). */
  const guestLoadsCr3 = (gpa: number) => { m.vcpu.sregs = { ...m.vcpu.sregs, cr3: BigInt(gpa) }; };
  /** An L4 at pool page `i` (empty: enough to pin). */
  const l4 = (i: number) => ext(MmuExt.DECLARE_TABLE, pg(i), 4);
  return { m, facet, mmu: facet.mmu!, ext, cr3, guestLoadsCr3, l4 };
}

test('a PV guest starts on the VMM\'s tables in the pool, pinned: never on the RAM boot tables', (t) => {
  const s = setup();
  const base = s.cr3();
  t.true(base >= PtPool.BASE && base < PtPool.BASE + PtPool.SIZE, `CR3 0x${base.toString(16)}`);
  t.true(s.mmu.isPinnedL4(base));
  t.is(s.mmu.basePointer(), base);
  t.false(s.mmu.cr3Allowed(BootLayout.PML4), 'the RAM boot tables are never allowed');
  t.true(s.mmu.cr3Allowed(base));
});

test('the boot tables map guest RAM writable and the pool read-only, with 2 MiB pages', (t) => {
  const s = setup();
  const mem = s.m.memory;
  const walk = (va: number): bigint => {
    let table = BigInt(s.cr3());
    for (const [level, shift] of [[4, 39], [3, 30], [2, 21]] as const) {
      const e = mem.u64(Number(table) + (Math.floor(va / 2 ** shift) % 512) * 8)!;
      if ((e & P) === 0n) return 0n;
      if (level === 2) return e;
      table = e & 0x000ffffffffff000n;
    }
    return 0n;
  };
  t.is(walk(0), 0n | P | RW | PS);
  t.is(walk(0x200000), 0x200000n | P | RW | PS);
  t.is(walk(0x400000), 0n, 'nothing past the 4 MiB of RAM');
  t.is(walk(PtPool.BASE), BigInt(PtPool.BASE) | P | PS, 'the pool read-only');
  t.is(walk(0xfee00000), 0n, 'no MMIO');
});

test('NEW_BASEPTR loads CR3 itself; the guest need not', (t) => {
  const s = setup();
  s.l4(0);
  t.is(s.ext(MmuExt.PIN_L4, pg(0)), 0);
  t.is(s.ext(MmuExt.NEW_BASEPTR, pg(0)), 0);
  t.is(s.cr3(), pg(0));
});

test('the boot L4 can be unpinned and released once CR3 has moved on, not before', (t) => {
  const s = setup();
  const boot = s.cr3();
  t.is(s.ext(MmuExt.UNPIN_L4, boot), -HypercallErrno.EBUSY);
  s.l4(0);
  s.ext(MmuExt.PIN_L4, pg(0));
  s.ext(MmuExt.NEW_BASEPTR, pg(0));
  t.is(s.ext(MmuExt.UNPIN_L4, boot), 0);
  t.is(s.ext(MmuExt.RELEASE_TABLE, boot), 0);
});

test('an L4 a vCPU\'s CR3 holds cannot be unpinned, even after another was announced (the stale-CR3 attack)', (t) => {
  const s = setup();
  s.l4(0);
  s.l4(1);
  s.ext(MmuExt.PIN_L4, pg(0));
  s.ext(MmuExt.PIN_L4, pg(1));
  s.ext(MmuExt.NEW_BASEPTR, pg(0));
  s.ext(MmuExt.NEW_BASEPTR, pg(1));
  t.is(s.cr3(), pg(1), 'CR3 followed the announcement');
  s.guestLoadsCr3(pg(0)); // the guest loads A again itself
  t.is(s.ext(MmuExt.UNPIN_L4, pg(0)), -HypercallErrno.EBUSY);
  t.is(s.ext(MmuExt.RELEASE_TABLE, pg(0)), -HypercallErrno.EBUSY);
  t.is(s.ext(MmuExt.DECLARE_TABLE, pg(0), 1), -HypercallErrno.EBUSY);
  t.is(s.ext(MmuExt.UNPIN_L4, pg(1)), -HypercallErrno.EBUSY, 'the announced base pointer neither');
});

test('an unpinned L4 the guest loaded into CR3 itself (KVM: cooperative) cannot be released', (t) => {
  const s = setup();
  s.l4(0);
  s.guestLoadsCr3(pg(0));
  t.is(s.ext(MmuExt.RELEASE_TABLE, pg(0)), -HypercallErrno.EBUSY);
  s.guestLoadsCr3(s.mmu.basePointer());
  t.is(s.ext(MmuExt.RELEASE_TABLE, pg(0)), 0);
});

test('every RELEASE_TABLE drops the cached translations of every vCPU', (t) => {
  const m = fakeMachine();
  new DirectPagingMemory().prepareVm(m.vm);
  let invalidations = 0;
  const cr3s = [0, 0];
  const bases: BasePointers = { count: 2, read: (i) => cr3s[i]!, load: (i, gpa) => { cr3s[i] = gpa; } };
  const mmu = new DirectPaging(m.memory, m.ramSize, m.telemetry.counters, { invalidate: () => invalidations++, bases });
  t.is(mmu.declareTable(pg(0), 2), 0);
  t.is(mmu.declareTable(pg(1), 1), 0);
  m.memory.setU64(REQS, BigInt(pg(0)));
  m.memory.setU64(REQS + 8, BigInt(pg(1)) | P | RW);
  t.is(mmu.mmuUpdate(REQS, 1), 1);
  t.is(mmu.releaseTable(pg(1)), -HypercallErrno.EBUSY, 'still referenced');
  t.is(invalidations, 0);
  t.is(mmu.releaseTable(pg(0)), 0);
  t.is(mmu.releaseTable(pg(1)), 0);
  t.is(invalidations, 2);
  t.is(m.telemetry.counters.get('pv.mmu.tlb_invalidations'), 2);
});

test('NEW_BASEPTR loads the CR3 of the vCPU that called, and an L4 another vCPU holds stays busy', (t) => {
  const m = fakeMachine();
  new DirectPagingMemory().prepareVm(m.vm);
  const cr3s = [0, 0];
  const bases: BasePointers = { count: 2, read: (i) => cr3s[i]!, load: (i, gpa) => { cr3s[i] = gpa; } };
  const mmu = new DirectPaging(m.memory, m.ramSize, m.telemetry.counters, { bases });
  mmu.buildBootTables();
  mmu.declareTable(pg(0), 4);
  mmu.pinL4(pg(0));
  t.is(mmu.mmuextOp(MmuExt.NEW_BASEPTR, pg(0), 0, 1), 0);
  t.deepEqual(cr3s, [mmu.basePointer(0), pg(0)]);
  t.is(mmu.mmuextOp(MmuExt.NEW_BASEPTR, pg(0), 0, 2), -HypercallErrno.EINVAL, 'no such vCPU');
  cr3s[1] = mmu.basePointer(0); // vCPU 1 moves on by itself; vCPU 1's announcement still holds pg(0)
  t.is(mmu.unpinL4(pg(0)), -HypercallErrno.EBUSY);
});
