import test from 'ava';
import { CompositionError, Hypercall, HypercallErrno, MmuExt, PtPool } from '@hyvisor/core';
import { FAKE_CAPABILITIES, fakeMachine, type FakeMachine } from '../testing/fake-machine.js';
import { Rng } from '../testing/random.js';
import { DirectPagingMemory, PT_POOL_REGION } from '../facets/direct-paging.js';
import { FakeVm } from '../testing/fake-machine.js';

const P = 1n;
const RW = 2n;
const PS = 0x80n;
const REQS = 0x30000;
/**
 * Fraction of the property tests' seeds and rounds to run (default 1). `pnpm mutation` sets 0.1:
 * at full size these three tests take ~50 s (hundreds of fresh 8 MiB machines), once per mutant.
 */
const SCALE = Number(process.env.HYVISOR_PROPERTY_SCALE ?? 1);
const scaled = (n: number) => Math.max(1, Math.round(n * SCALE));

/** Pool page `i`. */
const pg = (i: number) => PtPool.BASE + i * 4096;

function setup(options: { canaries?: boolean } = {}) {
  const m = fakeMachine({ canaries: options.canaries ?? false });
  const facet = new DirectPagingMemory();
  facet.prepareVm(m.vm);
  facet.attach(m.ctx);
  const ext = (cmd: number, gpa: number, arg = 0) => m.hypercall(Hypercall.MMUEXT_OP, cmd, gpa, arg);
  const declare = (i: number, level: number) => ext(MmuExt.DECLARE_TABLE, pg(i), level);
  /** Writes the request list and calls MMU_UPDATE. */
  const update = (...reqs: [number, bigint][]) => {
    reqs.forEach(([ptr, val], i) => {
      m.memory.setU64(REQS + i * 16, BigInt(ptr));
      m.memory.setU64(REQS + i * 16 + 8, val);
    });
    return m.hypercall(Hypercall.MMU_UPDATE, REQS, reqs.length);
  };
  const entry = (i: number, e: number) => m.memory.u64(pg(i) + e * 8)!;
  const poolBytes = () => m.memory.read(PtPool.BASE, PtPool.SIZE)!;
  /** True if the pool holds exactly `before` (Buffer.compare: ava's deepEqual on 4 MiB takes ~20 s). */
  const poolIs = (before: Uint8Array) => Buffer.compare(Buffer.from(before), Buffer.from(poolBytes())) === 0;
  return { m, facet, ext, declare, update, entry, poolBytes, poolIs };
}

/** A 4-level tree: L4 at page 0 → L3 at 1 → L2 at 2 → L1 at 3. */
function tree(s: ReturnType<typeof setup>) {
  s.declare(0, 4);
  s.declare(1, 3);
  s.declare(2, 2);
  s.declare(3, 1);
  return s.update(
    [pg(0), BigInt(pg(1)) | P | RW],
    [pg(1), BigInt(pg(2)) | P | RW],
    [pg(2), BigInt(pg(3)) | P | RW],
  );
}

test('prepareVm adds the pool as a read-only region above RAM', (t) => {
  const { m } = setup();
  const r = m.memory.regionOf(PtPool.BASE)!;
  t.is(r.name, PT_POOL_REGION);
  t.is(r.size, PtPool.SIZE);
  t.true(r.readonly);
});

test('direct paging refuses guest RAM that reaches the pool', (t) => {
  const vm = new FakeVm({ name: 'fake', flavour: 'test', description: '', capabilities: new Set(), details: {} });
  vm.addRegion('ram', 0, 1024 * 1024);
  vm.addRegion('high', PtPool.BASE - 4096, 8192);
  const err = t.throws(() => new DirectPagingMemory().prepareVm(vm), { instanceOf: CompositionError });
  t.regex(err!.message, /direct-paging.*overlaps memory region high.*at most 3072 MiB/);
});

test('DECLARE_TABLE zeroes a free pool page; declaring it again is EBUSY', (t) => {
  const s = setup();
  new Uint8Array(s.m.memory.regionOf(PtPool.BASE)!.buffer).fill(0x77, 0, 4096);
  t.is(s.declare(0, 1), 0);
  t.is(s.entry(0, 0), 0n);
  t.is(s.entry(0, 511), 0n);
  t.is(s.declare(0, 2), -HypercallErrno.EBUSY);
});

test('DECLARE_TABLE outside the pool, unaligned, or with a level outside 1..4 is EINVAL', (t) => {
  const s = setup();
  t.is(s.ext(MmuExt.DECLARE_TABLE, 0x1000, 1), -HypercallErrno.EINVAL);
  t.is(s.ext(MmuExt.DECLARE_TABLE, pg(1024), 1), -HypercallErrno.EINVAL);
  t.is(s.ext(MmuExt.DECLARE_TABLE, pg(1) + 8, 1), -HypercallErrno.EINVAL);
  t.is(s.declare(1, 0), -HypercallErrno.EINVAL);
  t.is(s.declare(1, 5), -HypercallErrno.EINVAL);
  t.is(s.ext(99, pg(1)), -HypercallErrno.EINVAL, 'unknown command');
});

test('a tree of declared tables can be linked', (t) => {
  const s = setup();
  t.is(tree(s), 3);
  t.is(s.entry(0, 0), BigInt(pg(1)) | P | RW);
  t.is(s.facet.mmu!.referencesTo(pg(3)), 1);
});

test('an L2 entry must point to a declared L1 table', (t) => {
  const s = setup();
  s.declare(2, 2);
  s.declare(3, 2);
  t.is(s.update([pg(2), BigInt(pg(4)) | P]), -HypercallErrno.EINVAL, 'a free page');
  t.is(s.update([pg(2), BigInt(pg(3)) | P]), -HypercallErrno.EINVAL, 'a table of the wrong level');
  t.is(s.update([pg(2), 0x100000n | P]), -HypercallErrno.EINVAL, 'a RAM page');
  s.declare(4, 1);
  t.is(s.update([pg(2), BigInt(pg(4)) | P]), 1);
});

test('an L1 entry maps guest RAM frames', (t) => {
  const s = setup();
  s.declare(3, 1);
  t.is(s.update([pg(3), 0x5000n | P | RW], [pg(3) + 8, BigInt(s.m.ramSize - 4096) | P | RW | 4n]), 2);
});

test('an L1 entry may not map the pool writable, but may map it read-only', (t) => {
  const s = setup();
  s.declare(3, 1);
  t.is(s.update([pg(3), BigInt(pg(3)) | P | RW]), -HypercallErrno.EINVAL);
  t.is(s.update([pg(3), BigInt(pg(3)) | P]), 1);
});

test('an L1 entry may not map outside RAM', (t) => {
  const s = setup();
  s.declare(3, 1);
  t.is(s.update([pg(3), BigInt(s.m.ramSize) | P]), -HypercallErrno.EINVAL);
  t.is(s.update([pg(3), 0xfee00000n | P]), -HypercallErrno.EINVAL, 'not the APIC page either');
  // Address bits 32..51 count: a frame 4 GiB above a RAM page is outside RAM.
  t.is(s.update([pg(3), (1n << 32n) | 0x5000n | P]), -HypercallErrno.EINVAL, 'frame 4 GiB + 0x5000');
  s.declare(2, 2);
  t.is(s.update([pg(2), (1n << 32n) | BigInt(pg(3)) | P]), -HypercallErrno.EINVAL, 'a table pointer 4 GiB above a declared table');
});

test('a non-present entry is always accepted', (t) => {
  const s = setup();
  s.declare(3, 1);
  t.is(s.update([pg(3), 0xffff_ffff_ffff_fffen]), 1);
});

test('reserved bits must be zero: every bit 52..62, at every level, in leaves and in table pointers', (t) => {
  const s = setup();
  tree(s); // L4 page 0 → L3 page 1 → L2 page 2 → L1 page 3
  s.declare(4, 1);
  s.declare(5, 2);
  s.declare(6, 3);
  // A valid present entry for each kind of table; each must be refused with any one bit 52..62 set.
  const valid: [string, number, bigint][] = [
    ['L1 leaf', pg(3) + 8, 0x5000n | P | RW],
    ['L2 2 MiB leaf', pg(2) + 8, 0x200000n | PS | P | RW],
    ['L2 → L1', pg(2) + 16, BigInt(pg(4)) | P | RW],
    ['L3 → L2', pg(1) + 8, BigInt(pg(5)) | P | RW],
    ['L4 → L3', pg(0) + 8, BigInt(pg(6)) | P | RW],
  ];
  const before = s.poolBytes();
  for (const [what, ptr, val] of valid) {
    for (let bit = 52n; bit <= 62n; bit++) {
      t.is(s.update([ptr, val | (1n << bit)]), -HypercallErrno.EINVAL, `${what} with bit ${bit}`);
    }
  }
  t.true(s.poolIs(before), 'nothing was written');
  for (const [what, ptr, val] of valid) t.is(s.update([ptr, val | (1n << 63n)]), 1, `${what}: NX (bit 63) is allowed`);
});

test('a 2 MiB leaf refuses each of its reserved bits 13..20 (bit 12 is PAT)', (t) => {
  const s = setup();
  s.declare(2, 2);
  for (let bit = 13n; bit <= 20n; bit++) {
    t.is(s.update([pg(2), 0x200000n | (1n << bit) | PS | P]), -HypercallErrno.EINVAL, `bit ${bit}`);
  }
  t.is(s.update([pg(2), 0x200000n | (1n << 12n) | PS | P]), 1, 'PAT');
});

test('a 2 MiB leaf must lie inside RAM with its reserved bits clear', (t) => {
  const s = setup();
  s.declare(2, 2);
  t.is(s.update([pg(2), 0x200000n | PS | P | RW]), 1);
  t.is(s.update([pg(2), 0x202000n | PS | P]), -HypercallErrno.EINVAL, 'bits 13..20 are reserved');
  t.is(s.update([pg(2), BigInt(s.m.ramSize) | PS | P]), -HypercallErrno.EINVAL, 'outside RAM');
  t.is(s.update([pg(2), BigInt(PtPool.BASE) | PS | P | RW]), -HypercallErrno.EINVAL, 'the pool writable');
  t.is(s.update([pg(2), BigInt(PtPool.BASE) | PS | P]), 1, 'the pool read-only');
});

test('PS in an L3 or L4 entry is refused', (t) => {
  const s = setup();
  s.declare(1, 3);
  s.declare(0, 4);
  t.is(s.update([pg(1), 0n | PS | P]), -HypercallErrno.EINVAL);
  t.is(s.update([pg(0), BigInt(pg(1)) | PS | P]), -HypercallErrno.EINVAL);
});

test('an entry pointer must be an aligned entry of a declared table', (t) => {
  const s = setup();
  s.declare(3, 1);
  t.is(s.update([pg(3) + 4, 0n]), -HypercallErrno.EINVAL, 'misaligned');
  t.is(s.update([pg(4), 0n]), -HypercallErrno.EINVAL, 'a free pool page');
  t.is(s.update([0x5000, 0n]), -HypercallErrno.EINVAL, 'RAM');
});

test('a batch with one bad entry applies nothing', (t) => {
  const s = setup();
  s.declare(3, 1);
  const before = s.poolBytes();
  t.is(s.update([pg(3), 0x5000n | P], [pg(3) + 8, 0x6000n | P], [pg(3) + 16, BigInt(pg(3)) | P | RW]), -HypercallErrno.EINVAL);
  t.true(s.poolIs(before), 'the pool is unchanged');
});

test('MMU_UPDATE with more than 512 requests is EINVAL; a list outside RAM is EFAULT', (t) => {
  const s = setup();
  t.is(s.m.hypercall(Hypercall.MMU_UPDATE, REQS, 513), -HypercallErrno.EINVAL);
  t.is(s.m.hypercall(Hypercall.MMU_UPDATE, s.m.ramSize - 16, 2), -HypercallErrno.EFAULT);
  t.is(s.m.hypercall(Hypercall.MMU_UPDATE, PtPool.BASE, 1), -HypercallErrno.EFAULT, 'the pool is not RAM');
  t.is(s.m.hypercall(Hypercall.MMU_UPDATE, REQS, 0), 0);
});

test('later requests in a batch see the earlier ones (reference counts follow)', (t) => {
  const s = setup();
  s.declare(2, 2);
  s.declare(3, 1);
  s.declare(4, 1);
  t.is(s.update([pg(2), BigInt(pg(3)) | P], [pg(2), BigInt(pg(4)) | P]), 2);
  t.is(s.facet.mmu!.referencesTo(pg(3)), 0);
  t.is(s.facet.mmu!.referencesTo(pg(4)), 1);
});

test('RELEASE_TABLE refuses a referenced table', (t) => {
  const s = setup();
  tree(s);
  t.is(s.ext(MmuExt.RELEASE_TABLE, pg(3)), -HypercallErrno.EBUSY);
  t.is(s.update([pg(2), 0n]), 1);
  t.is(s.ext(MmuExt.RELEASE_TABLE, pg(3)), 0);
  t.is(s.facet.mmu!.levelOf(pg(3)), 0);
});

test('RELEASE_TABLE drops the released table\'s own references', (t) => {
  const s = setup();
  tree(s);
  s.update([pg(1), 0n]);
  t.is(s.ext(MmuExt.RELEASE_TABLE, pg(2)), 0);
  t.is(s.facet.mmu!.referencesTo(pg(3)), 0);
  t.is(s.ext(MmuExt.RELEASE_TABLE, pg(3)), 0);
  t.is(s.ext(MmuExt.RELEASE_TABLE, pg(3)), -HypercallErrno.EINVAL, 'not a table any more');
});

test('NEW_BASEPTR refuses an unpinned table', (t) => {
  const s = setup();
  tree(s);
  t.is(s.ext(MmuExt.NEW_BASEPTR, pg(0)), -HypercallErrno.EINVAL);
  t.is(s.ext(MmuExt.NEW_BASEPTR, pg(1)), -HypercallErrno.EINVAL, 'not an L4');
});

test('a pinned L4 becomes the base pointer and is what CR3 may hold', (t) => {
  const s = setup();
  tree(s);
  t.false(s.facet.isPinnedL4(pg(0)));
  t.is(s.ext(MmuExt.PIN_L4, pg(0)), 0);
  t.true(s.facet.isPinnedL4(pg(0)));
  t.is(s.ext(MmuExt.NEW_BASEPTR, pg(0)), 0);
  t.is(s.facet.mmu!.basePointer(), pg(0));
  t.is(s.ext(MmuExt.PIN_L4, pg(0)), -HypercallErrno.EBUSY, 'pinned twice');
  t.is(s.ext(MmuExt.PIN_L4, pg(1)), -HypercallErrno.EINVAL, 'not an L4');
});

test('RELEASE_TABLE refuses a pinned table', (t) => {
  const s = setup();
  s.declare(0, 4);
  s.ext(MmuExt.PIN_L4, pg(0));
  t.is(s.ext(MmuExt.RELEASE_TABLE, pg(0)), -HypercallErrno.EBUSY);
  t.is(s.ext(MmuExt.UNPIN_L4, pg(0)), 0);
  t.is(s.ext(MmuExt.RELEASE_TABLE, pg(0)), 0);
});

test('UNPIN_L4 refuses the current base pointer and a table that is not pinned', (t) => {
  const s = setup();
  s.declare(0, 4);
  s.declare(5, 4);
  s.ext(MmuExt.PIN_L4, pg(0));
  s.ext(MmuExt.PIN_L4, pg(5));
  s.ext(MmuExt.NEW_BASEPTR, pg(0));
  t.is(s.ext(MmuExt.UNPIN_L4, pg(0)), -HypercallErrno.EBUSY);
  s.ext(MmuExt.NEW_BASEPTR, pg(5));
  t.is(s.ext(MmuExt.UNPIN_L4, pg(0)), 0);
  t.is(s.ext(MmuExt.UNPIN_L4, pg(0)), -HypercallErrno.EINVAL);
});

test('a guest write into the pool is dropped and counted', (t) => {
  const s = setup();
  s.declare(3, 1);
  const before = s.poolBytes();
  t.true(s.m.ctx.mmio.write(pg(3), 8, 0x1234));
  t.true(s.poolIs(before), 'the pool is unchanged');
  t.is(s.m.counter('pv.mmu.pool_writes_rejected'), 1);
  t.is(s.m.ctx.mmio.read(pg(3), 4), 0, 'reads see the table');
});

// ---- properties ------------------------------------------------------------------------------

/** A hostile 64-bit value: mostly plausible entries, sometimes garbage. */
function hostileValue(rng: Rng, ramSize: number): bigint {
  const flags = BigInt(rng.u32() & 0xfff);
  switch (rng.below(6)) {
    case 0: return BigInt(rng.u32()) << 32n | BigInt(rng.u32());
    case 1: return BigInt(pg(rng.below(1100))) | flags;
    case 2: return BigInt(rng.below(ramSize / 4096 + 16) * 4096) | flags;
    case 3: return BigInt(rng.below(ramSize / 0x200000 + 2) * 0x200000) | PS | flags;
    case 4: return 0n;
    default: return BigInt(pg(rng.below(16))) | P | (rng.chance(0.5) ? RW : 0n);
  }
}

function hostilePtr(rng: Rng): number {
  switch (rng.below(4)) {
    case 0: return pg(rng.below(16)) + rng.below(512) * 8;
    case 1: return pg(rng.below(16)) + rng.below(4096);
    case 2: return rng.u32() * 4096;
    default: return pg(rng.below(1100));
  }
}

/**
 * The rules of docs/pv-abi.md ("Direct paging") for one request, written independently of the
 * facet (BigInt, no shared code): is writing `val` at `ptr` allowed, given the declared level of
 * each pool page (`levelOf`) and the RAM size?
 */
function oracleAllows(ptr: bigint, val: bigint, levelOf: (page: number) => number, ramSize: number): boolean {
  const poolBase = BigInt(PtPool.BASE), poolEnd = poolBase + BigInt(PtPool.SIZE);
  // ptr: an aligned 8-byte entry inside a declared table.
  if ((ptr & 7n) !== 0n || ptr < poolBase || ptr >= poolEnd) return false;
  const level = levelOf(Number((ptr - poolBase) >> 12n));
  if (level === 0) return false;
  if ((val & P) === 0n) return true; // not present: always fine
  if ((val & (0x7ffn << 52n)) !== 0n) return false; // bits 52..62 reserved (63, NX, allowed)
  const frame = val & 0x000f_ffff_ffff_f000n;
  const ps = (val & PS) !== 0n;
  const writable = (val & RW) !== 0n;
  const leafOk = (base: bigint, size: bigint): boolean =>
    base + size <= BigInt(ramSize) || (base >= poolBase && base + size <= poolEnd && !writable);
  if (level === 1) return leafOk(frame, 0x1000n);
  if (level === 2 && ps) {
    if ((val & 0x1f_e000n) !== 0n) return false; // bits 13..20 of a 2 MiB leaf
    return leafOk(frame & ~0x1f_f000n, 0x20_0000n);
  }
  if (ps) return false; // PS in L3 (no 1 GiB pages) and L4
  if (frame < poolBase || frame >= poolEnd) return false;
  return levelOf(Number((frame - poolBase) >> 12n)) === level - 1;
}

/** The result the ABI prescribes for MMU_UPDATE(list, n) over `reqs`. */
function oracleResult(reqs: readonly [bigint, bigint][], list: number, n: number, levelOf: (page: number) => number, ramSize: number): number {
  if (n > 512) return -HypercallErrno.EINVAL;
  if (list + n * 16 > ramSize) return -HypercallErrno.EFAULT;
  return reqs.every(([ptr, val]) => oracleAllows(ptr, val, levelOf, ramSize)) ? n : -HypercallErrno.EINVAL;
}

/** A plausible entry with one rule broken on purpose (or none), so every rule is exercised often. */
function ruleBreaker(rng: Rng, ramSize: number): bigint {
  const valid = rng.chance(0.5) ? BigInt(pg(rng.below(16))) | P | RW : BigInt(rng.below(ramSize / 4096) * 4096) | P | RW;
  switch (rng.below(8)) {
    case 0: return valid | (1n << BigInt(52 + rng.below(11))); // a reserved high bit
    case 1: return BigInt(rng.below(ramSize / 0x200000) * 0x200000) | (1n << BigInt(13 + rng.below(8))) | PS | P; // 2 MiB reserved bit
    case 2: return BigInt(pg(rng.below(16))) | P | RW; // the pool writable (as a leaf) or a table pointer
    case 3: return BigInt(ramSize + rng.below(64) * 4096) | P; // beyond RAM
    case 4: return BigInt(pg(rng.below(16))) | PS | P; // PS at any level
    case 5: return BigInt(pg(16 + rng.below(8))) | P; // an undeclared pool page
    case 6: return valid | (1n << 63n); // NX: allowed
    default: return valid;
  }
}

test('property: hostile MMU_UPDATE batches get exactly the result the ABI prescribes (every rule refused), never throw, never touch memory outside RAM and the pool, and a rejected batch leaves the pool byte-identical', (t) => {
  let refused = 0, applied = 0;
  for (let seed = 1; seed <= scaled(40); seed++) {
    const rng = new Rng(seed);
    const s = setup({ canaries: true });
    for (let i = 0; i < 16; i++) s.declare(i, 1 + rng.below(4));
    const levelOf = (page: number) => s.facet.mmu!.levelOf(pg(page));
    for (let round = 0; round < 60; round++) {
      const n = rng.chance(0.05) ? 513 + rng.below(10) : rng.below(12);
      const list = rng.chance(0.05) ? s.m.ramSize - rng.below(64) : REQS;
      const reqs: [bigint, bigint][] = [];
      for (let i = 0; i < Math.min(n, 600); i++) {
        const ptr = rng.chance(0.9) ? BigInt(hostilePtr(rng)) : BigInt(rng.u32()) << 32n;
        const val = rng.chance(0.5) ? hostileValue(rng, s.m.ramSize) : ruleBreaker(rng, s.m.ramSize);
        s.m.memory.setU64(REQS + i * 16, ptr);
        s.m.memory.setU64(REQS + i * 16 + 8, val);
        reqs.push([ptr, val]);
      }
      // What the guest wrote at `list` is what the VMM reads (the list may start below REQS).
      const listed: [bigint, bigint][] = [];
      for (let i = 0; i < n && list + i * 16 + 16 <= s.m.ramSize; i++) listed.push([s.m.memory.u64(list + i * 16)!, s.m.memory.u64(list + i * 16 + 8)!]);
      const expected = oracleResult(listed, list, n, levelOf, s.m.ramSize);
      const before = s.m.memory.read(PtPool.BASE, 16 * 4096)!;
      let r: number;
      try {
        r = s.m.hypercall(Hypercall.MMU_UPDATE, list, n);
      } catch (err) {
        return t.fail(`seed ${seed} round ${round}: threw ${String(err)}`);
      }
      if (r !== expected) {
        const bad = listed.find(([ptr, val]) => oracleAllows(ptr, val, levelOf, s.m.ramSize) !== (r >= 0));
        return t.fail(`seed ${seed} round ${round}: MMU_UPDATE returned ${r}, the ABI says ${expected}${bad ? ` (first disputed request: ptr 0x${bad[0].toString(16)} val 0x${bad[1].toString(16)})` : ''}`);
      }
      if (r < 0) refused++;
      else applied++;
      if (r < 0 && Buffer.compare(Buffer.from(before), Buffer.from(s.m.memory.read(PtPool.BASE, 16 * 4096)!)) !== 0) {
        return t.fail(`seed ${seed} round ${round}: rejected batch (${r}) changed the pool`);
      }
      if (rng.chance(0.2)) s.ext(1 + rng.below(5), pg(rng.below(16)) + (rng.chance(0.1) ? 8 : 0), rng.below(6));
    }
    if (!s.m.canariesIntact()) return t.fail(`seed ${seed}: a canary was overwritten`);
    // Past the 16 pages in play only the VMM's boot tables (the pool's last pages) are declared.
    for (let p = 16; p < PtPool.SIZE / 4096; p++) {
      if (s.facet.mmu!.levelOf(pg(p)) === 0 && !s.m.memory.read(pg(p), 4096)!.every((b) => b === 0)) return t.fail(`seed ${seed}: an undeclared pool page was written`);
    }
  }
  t.log(`${applied} batches applied, ${refused} refused`);
  t.true(applied > scaled(100) && refused > scaled(100), 'both outcomes were exercised');
});

test('property: each rule alone makes a single-entry update fail, at every level', (t) => {
  // One valid batch of one request per level, then the same request with exactly one rule broken.
  const rng = new Rng(7);
  for (let round = 0; round < scaled(400); round++) {
    const s = setup();
    tree(s);
    s.declare(4, 1);
    s.declare(5, 2);
    s.declare(6, 3);
    const levelOf = (page: number) => s.facet.mmu!.levelOf(pg(page));
    const page = rng.below(7);
    const ptr = BigInt(pg(page) + rng.below(512) * 8);
    const val = ruleBreaker(rng, s.m.ramSize);
    const expected = oracleResult([[ptr, val]], REQS, 1, levelOf, s.m.ramSize);
    const got = s.update([Number(ptr), val]);
    if (got !== expected) return t.fail(`level ${levelOf(page)} entry, val 0x${val.toString(16)}: got ${got}, the ABI says ${expected}`);
  }
  t.pass();
});

test('property: after any sequence of accepted updates every table entry is valid and reference counts match a recount', (t) => {
  for (let seed = 100; seed < 100 + scaled(30); seed++) {
    const rng = new Rng(seed);
    const s = setup();
    const levels: number[] = [];
    for (let i = 0; i < 16; i++) { levels[i] = 1 + rng.below(4); s.declare(i, levels[i]!); }
    for (let round = 0; round < 200; round++) {
      const page = rng.below(16);
      const ptr = pg(page) + rng.below(8) * 8;
      const val = rng.chance(0.5) ? BigInt(pg(rng.below(16))) | P : hostileValue(rng, s.m.ramSize);
      s.update([ptr, val]);
      if (rng.chance(0.05)) {
        const p = rng.below(16);
        if (s.ext(MmuExt.RELEASE_TABLE, pg(p)) === 0) { levels[p] = 1 + rng.below(4); s.declare(p, levels[p]!); }
      }
    }
    const refs = new Array(16).fill(0);
    for (let p = 0; p < 16; p++) {
      for (let e = 0; e < 8; e++) {
        const v = s.entry(p, e);
        if ((v & P) === 0n) continue;
        const isTable = levels[p]! > 1 && !(levels[p] === 2 && (v & PS) !== 0n);
        if (!isTable) continue;
        const target = (Number(v & 0xffffffffff000n) - PtPool.BASE) / 4096;
        if (levels[target] !== levels[p]! - 1) return t.fail(`seed ${seed}: page ${p} entry ${e} points to a level-${levels[target]} table`);
        refs[target]++;
      }
    }
    for (let p = 0; p < 16; p++) {
      if (s.facet.mmu!.referencesTo(pg(p)) !== refs[p]) return t.fail(`seed ${seed}: page ${p} has ${s.facet.mmu!.referencesTo(pg(p))} references, recount ${refs[p]}`);
    }
  }
  t.pass();
});

/** A machine whose backend records `regionRefresh.refresh` calls (as kvm-vm's slot delete + add). */
function refreshSetup(refreshPool = true) {
  const m = fakeMachine({ capabilities: [...FAKE_CAPABILITIES, 'region-refresh'] });
  const refreshed = m.vm.refreshed;
  const facet = new DirectPagingMemory(refreshPool);
  facet.prepareVm(m.vm);
  facet.attach(m.ctx);
  const ext = (cmd: number, gpa: number, arg = 0) => m.hypercall(Hypercall.MMUEXT_OP, cmd, gpa, arg);
  return { m, refreshed, declare: (i: number, level: number) => ext(MmuExt.DECLARE_TABLE, pg(i), level), release: (i: number) => ext(MmuExt.RELEASE_TABLE, pg(i)) };
}

test('declaring never-used pool pages does not refresh the backend', (t) => {
  const s = refreshSetup();
  for (let i = 0; i < 16; i++) t.is(s.declare(i, 1 + (i % 4)), 0);
  t.deepEqual(s.refreshed, []);
});

test('a released page declared again refreshes the pool region first, once for every page released before', (t) => {
  const s = refreshSetup();
  for (let i = 0; i < 4; i++) s.declare(i, 1);
  for (let i = 0; i < 3; i++) t.is(s.release(i), 0);
  t.deepEqual(s.refreshed, [], 'releasing costs nothing');
  t.is(s.declare(0, 2), 0);
  t.deepEqual(s.refreshed, [PT_POOL_REGION]);
  t.is(s.declare(1, 1), 0, 'released before that refresh: no new one');
  t.is(s.declare(2, 4), 0);
  t.is(s.refreshed.length, 1);
  t.is(s.m.counter('pv.mmu.pool_refreshes'), 1);
  // Page 3 stayed declared through the refresh: the backend may shadow it again.
  t.is(s.release(3), 0);
  t.is(s.declare(3, 1), 0);
  t.is(s.refreshed.length, 2);
  // A page declared after a refresh, then released and declared again: refresh again.
  t.is(s.release(0), 0);
  t.is(s.declare(0, 1), 0);
  t.is(s.refreshed.length, 3);
});

test('a refused DECLARE_TABLE does not refresh; without the option nothing refreshes', (t) => {
  const s = refreshSetup();
  s.declare(0, 1);
  s.release(0);
  t.is(s.declare(0, 9), -HypercallErrno.EINVAL);
  t.deepEqual(s.refreshed, []);
  const off = refreshSetup(false);
  off.declare(0, 1);
  off.release(0);
  off.declare(0, 1);
  t.deepEqual(off.refreshed, []);
});
