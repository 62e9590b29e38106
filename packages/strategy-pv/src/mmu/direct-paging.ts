/**
 * Direct paging: page tables live only in the read-only page-table pool and change only through
 * validated hypercalls. The VMM tracks, per pool page, its declared level, how many table entries
 * reference it, and whether it is a pinned L4. Invariant: every entry of every declared table is
 * valid for its level (tables start zeroed; updates are validated all-or-nothing; the guest
 * cannot write the pool), so a pinned L4 only ever reaches valid tables.
 *
 * As on Xen, CR3 is the VMM's: `NEW_BASEPTR` loads it ({@link BasePointers.load}); a table that a
 * vCPU's CR3 holds (or that a vCPU announced) can be neither unpinned nor released; the guest
 * starts on tables the VMM built in the pool, validated and pinned ({@link buildBootTables}), so
 * CR3 never holds an unvalidated table. Releasing a table drops every cached translation that
 * could reach it ({@link DirectPagingOptions.invalidate}). On KVM the guest kernel could still
 * load CR3 with anything itself (cooperative there); a backend that enforces it
 * (`vm.cr3Policy`, the emulator) asks {@link DirectPaging.cr3Allowed} before every guest load.
 * @module
 */
import { Hypercall, HypercallError, MmuExt, PtPool, type Counters, type GuestMemory } from '@hyvisor/core';
import { inRam, PAGE_SIZE } from '../guest-ram.js';
import { NO_TABLE, POOL_PAGES, Pte, checkEntry, isTableEntry, poolPage, tablePageOf } from './pte.js';

/** The vCPUs' CR3 registers, as direct paging sees them (the facet adapts the machine's vCPUs). */
export interface BasePointers {
  /** Number of vCPUs. */
  readonly count: number;
  /** The PML4 address vCPU `i`'s CR3 holds now (bits 51:12), or -1 if it cannot be read. */
  read(i: number): number;
  /** Loads vCPU `i`'s CR3 with `gpa` (the VMM's own write: no policy check; flushes its TLB). */
  load(i: number, gpa: number): void;
}

/** Options of {@link DirectPaging}. */
export interface DirectPagingOptions {
  /**
   * Makes the backend forget translations it derived from the pool's contents
   * (`vm.regionRefresh`). The VMM writes tables through its own mapping, which a shadow MMU
   * (kvm_pvm) does not track, so a pool page that was a table, was released and is declared again
   * could still be shadowed with its old contents. Called at such a DECLARE_TABLE, at most once
   * per reuse generation: one call covers every page released before it.
   */
  readonly refresh?: () => void;
  /**
   * Drops every cached translation of every vCPU (TLBs, decoded code): called after each
   * RELEASE_TABLE, so nothing the released table reached stays reachable. Must be cheap (the
   * emulator: a TLB flush); a backend whose refresh is costly (KVM) relies on {@link refresh}.
   */
  readonly invalidate?: () => void;
  /** The vCPUs' CR3s: NEW_BASEPTR loads one; UNPIN_L4/RELEASE_TABLE refuse a table one holds. */
  readonly bases?: BasePointers;
}

/** Bytes of one MMU_UPDATE request `{u64 ptr, u64 val}`. */
export const MMU_REQUEST_SIZE = 16;
const ENTRIES = 512;

/** The direct-paging state of one machine. */
export class DirectPaging {
  /** Declared level per pool page (0 = free). */
  private readonly levels = new Uint8Array(POOL_PAGES);
  /** Table entries referencing each pool page. */
  private readonly refs = new Uint32Array(POOL_PAGES);
  private readonly pinned = new Uint8Array(POOL_PAGES);
  /**
   * Pool pages declared since the last refresh: the backend may hold translations derived from
   * them. Re-declaring such a page after its release needs a refresh first.
   */
  private readonly shadowed = new Uint8Array(POOL_PAGES);
  private readonly refresh: (() => void) | undefined;
  private readonly slotRefreshes: number;
  /** A copy of the request list, so the guest cannot change it between validation and application. */
  private readonly scratch = new Uint32Array(Hypercall.MMU_UPDATE_MAX * 4);
  /** Pool pages seen by the current {@link PIN_L4} walk. */
  private readonly seen = new Uint32Array(POOL_PAGES);
  private walkStamp = 0;
  private readonly pool: DataView;
  private readonly poolBytes: Uint8Array;
  /** The base pointer each vCPU announced with NEW_BASEPTR (-1: none yet). */
  private readonly baseptrs: Float64Array;
  private readonly invalidate: (() => void) | undefined;
  private readonly bases: BasePointers | undefined;
  private readonly slotInvalidations: number;
  private readonly slotApplied: number;
  private readonly slotRejected: number;

  /**
   * @param memory guest memory holding RAM at 0 and the `pt-pool` region at `PtPool.BASE`
   * @param ramSize bytes of guest RAM
   */
  constructor(private readonly memory: GuestMemory, private readonly ramSize: number, private readonly counters: Counters, options: DirectPagingOptions = {}) {
    this.refresh = options.refresh;
    this.invalidate = options.invalidate;
    this.bases = options.bases;
    this.baseptrs = new Float64Array(Math.max(1, options.bases?.count ?? 1)).fill(-1);
    const bytes = memory.slice(PtPool.BASE, PtPool.SIZE);
    if (bytes === undefined) throw new RangeError(`direct paging: no page-table pool region at 0x${PtPool.BASE.toString(16)}`);
    this.poolBytes = bytes;
    this.pool = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.slotApplied = counters.define('pv.mmu.updates', 'page-table entries written by MMU_UPDATE');
    this.slotRejected = counters.define('pv.mmu.rejected', 'MMU_UPDATE batches and MMUEXT_OPs refused');
    this.slotRefreshes = counters.define('pv.mmu.pool_refreshes', 'backend translations of the page-table pool dropped before a released page was declared again');
    this.slotInvalidations = counters.define('pv.mmu.tlb_invalidations', 'cached translations of every vCPU dropped after a RELEASE_TABLE');
  }

  /** True if `gpa` is a pinned L4 table: the only values CR3 may take under direct paging. */
  /**
   * The pool's bookkeeping as a record (the tables themselves are guest memory, the pool region):
   * each page's level, reference count, pin and shadow marks, and every vCPU's base pointer.
   */
  saveState(): DirectPagingState {
    const b64 = (a: ArrayBufferView): string => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
    return {
      levels: b64(this.levels), refs: b64(this.refs), pinned: b64(this.pinned), shadowed: b64(this.shadowed),
      baseptrs: [...this.baseptrs],
    };
  }

  /**
   * Restores {@link saveState}'s record after guest memory. Checks sizes and values before
   * changing anything (levels 0-4, marks 0/1, base pointers -1 or a pool page); throws naming the field.
   */
  restoreState(s: DirectPagingState): void {
    const bytes = (v: unknown, n: number, field: string): Uint8Array => {
      const b = typeof v === 'string' ? Buffer.from(v, 'base64') : undefined;
      if (b === undefined || b.length !== n) throw new Error(`direct-paging state ${field}: expected ${n} bytes`);
      return new Uint8Array(b.buffer, b.byteOffset, b.length);
    };
    const levels = bytes(s?.levels, POOL_PAGES, 'levels');
    const refs = bytes(s.refs, POOL_PAGES * 4, 'refs');
    const pinned = bytes(s.pinned, POOL_PAGES, 'pinned');
    const shadowed = bytes(s.shadowed, POOL_PAGES, 'shadowed');
    if (levels.some((l) => l > 4) || pinned.some((x) => x > 1) || shadowed.some((x) => x > 1)) throw new Error('direct-paging state: a level or mark is out of range');
    const bases = s.baseptrs;
    if (!Array.isArray(bases) || bases.length !== this.baseptrs.length || !bases.every((g) => g === -1 || this.tablePage(g) >= 0)) {
      throw new Error(`direct-paging state baseptrs: expected ${this.baseptrs.length} pool addresses or -1`);
    }
    this.levels.set(levels);
    this.refs.set(new Uint32Array(refs.slice().buffer));
    this.pinned.set(pinned);
    this.shadowed.set(shadowed);
    this.baseptrs.set(bases);
  }

  isPinnedL4(gpa: number): boolean {
    const p = this.tablePage(gpa);
    return p >= 0 && this.levels[p] === 4 && this.pinned[p] === 1;
  }

  /**
   * What a guest MOV to CR3 may load (`gpa` without the low 12 bits): a pinned L4 only. The
   * guest starts on the VMM's pinned boot tables ({@link buildBootTables}), so there is no
   * moment at which anything else is needed.
   */
  cr3Allowed(gpa: number): boolean {
    return this.isPinnedL4(gpa);
  }

  /** The base pointer vCPU `vcpu` announced with NEW_BASEPTR (or the VMM loaded at boot), or -1. */
  basePointer(vcpu = 0): number {
    return this.baseptrs[vcpu] ?? -1;
  }

  /**
   * True if a vCPU's CR3 holds the table at `gpa`, or a vCPU announced it as its base pointer:
   * such a table can be neither unpinned nor released. Reads the vCPUs' CR3 (on KVM an ioctl
   * each: only UNPIN_L4 and the release of an L4 ask).
   */
  inUseAsBase(gpa: number): boolean {
    const b = this.baseptrs;
    for (let i = 0; i < b.length; i++) if (b[i] === gpa) return true;
    const bases = this.bases;
    if (bases !== undefined) for (let i = 0; i < bases.count; i++) if (bases.read(i) === gpa) return true;
    return false;
  }

  /** Declared level of the table at `gpa` (0: free or not a pool page). */
  levelOf(gpa: number): number {
    const p = this.tablePage(gpa);
    return p >= 0 ? this.levels[p]! : 0;
  }

  /** Number of table entries referencing the table at `gpa`. */
  referencesTo(gpa: number): number {
    const p = this.tablePage(gpa);
    return p >= 0 ? this.refs[p]! : 0;
  }

  /**
   * MMU_UPDATE(reqs_gpa, count): validates every request, then applies all of them; on the first
   * bad one applies none. Returns `count`, -EINVAL (bad count, pointer or value) or -EFAULT
   * (request list outside RAM).
   */
  mmuUpdate(reqsGpa: number, count: number): number {
    if (!Number.isInteger(count) || count < 0 || count > Hypercall.MMU_UPDATE_MAX) return this.reject(HypercallError.EINVAL);
    if (!inRam(this.ramSize, reqsGpa, count * MMU_REQUEST_SIZE)) return this.reject(HypercallError.EFAULT);
    const req = this.scratch;
    const memory = this.memory;
    for (let i = 0; i < count * 4; i++) {
      const w = memory.u32(reqsGpa + i * 4);
      if (w < 0) return this.reject(HypercallError.EFAULT);
      req[i] = w;
    }
    const levels = this.levels;
    // Pass 1: validate everything.
    for (let i = 0; i < count; i++) {
      const off = this.entryOffset(req[i * 4]!, req[i * 4 + 1]!);
      if (off < 0) return this.reject(HypercallError.EINVAL);
      const r = checkEntry(levels[off >>> 12]!, req[i * 4 + 2]!, req[i * 4 + 3]!, this.ramSize, levels);
      if (r < NO_TABLE) return this.reject(r);
    }
    // Pass 2: apply, keeping reference counts.
    const pool = this.pool;
    for (let i = 0; i < count; i++) {
      const off = this.entryOffset(req[i * 4]!, req[i * 4 + 1]!);
      const level = levels[off >>> 12]!;
      const oldLo = pool.getUint32(off, true);
      if (isTableEntry(level, oldLo)) this.refs[tablePageOf(oldLo, pool.getUint32(off + 4, true))]!--;
      const lo = req[i * 4 + 2]!;
      const hi = req[i * 4 + 3]!;
      pool.setUint32(off, lo, true);
      pool.setUint32(off + 4, hi, true);
      if (isTableEntry(level, lo)) this.refs[tablePageOf(lo, hi)]!++;
    }
    this.counters.values[this.slotApplied]! += count;
    return count;
  }

  /** MMUEXT_OP(cmd, gpa, arg) from vCPU `vcpu`. */
  mmuextOp(cmd: number, gpa: number, arg: number, vcpu = 0): number {
    let r: number;
    switch (cmd) {
      case MmuExt.DECLARE_TABLE: r = this.declareTable(gpa, arg); break;
      case MmuExt.RELEASE_TABLE: r = this.releaseTable(gpa); break;
      case MmuExt.PIN_L4: r = this.pinL4(gpa); break;
      case MmuExt.UNPIN_L4: r = this.unpinL4(gpa); break;
      case MmuExt.NEW_BASEPTR: r = this.newBaseptr(gpa, vcpu); break;
      default: r = HypercallError.EINVAL;
    }
    return r < 0 ? this.reject(r) : r;
  }

  /** DECLARE_TABLE: a free, page-aligned pool page becomes a zeroed table of `level` 1..4. -EINVAL, -EBUSY (not free). */
  declareTable(gpa: number, level: number): number {
    const p = this.tablePage(gpa);
    if (p < 0 || !Number.isInteger(level) || level < 1 || level > 4) return HypercallError.EINVAL;
    if (this.levels[p] !== 0) return HypercallError.EBUSY;
    this.poolBytes.fill(0, p * PAGE_SIZE, (p + 1) * PAGE_SIZE);
    if (this.shadowed[p] !== 0 && this.refresh !== undefined) this.refreshPool();
    this.shadowed[p] = 1;
    this.levels[p] = level;
    this.refs[p] = 0;
    this.pinned[p] = 0;
    return 0;
  }

  /**
   * RELEASE_TABLE: back to free if no table references it, it is not pinned and no vCPU's CR3
   * holds it (-EBUSY otherwise; -EINVAL if not a table). Its own references are dropped, the page
   * is zeroed and every vCPU's cached translations are dropped.
   */
  releaseTable(gpa: number): number {
    const p = this.tablePage(gpa);
    if (p < 0 || this.levels[p] === 0) return HypercallError.EINVAL;
    if (this.refs[p] !== 0 || this.pinned[p] !== 0) return HypercallError.EBUSY;
    // On KVM the guest may have loaded an unpinned L4 itself (cooperative): still not released.
    if (this.levels[p] === 4 && this.inUseAsBase(gpa)) return HypercallError.EBUSY;
    const level = this.levels[p]!;
    const pool = this.pool;
    for (let e = 0; e < ENTRIES; e++) {
      const off = p * PAGE_SIZE + e * 8;
      const lo = pool.getUint32(off, true);
      if (isTableEntry(level, lo)) this.refs[tablePageOf(lo, pool.getUint32(off + 4, true))]!--;
    }
    this.poolBytes.fill(0, p * PAGE_SIZE, (p + 1) * PAGE_SIZE);
    this.levels[p] = 0;
    if (this.invalidate !== undefined) {
      this.invalidate();
      this.counters.values[this.slotInvalidations]!++;
    }
    return 0;
  }

  /** PIN_L4: validates the L4 and every table it reaches, then pins it. -EINVAL (not an L4 or invalid), -EBUSY (already pinned). */
  pinL4(gpa: number): number {
    const p = this.tablePage(gpa);
    if (p < 0 || this.levels[p] !== 4) return HypercallError.EINVAL;
    if (this.pinned[p] !== 0) return HypercallError.EBUSY;
    this.walkStamp = (this.walkStamp + 1) >>> 0 || 1;
    if (!this.validateTree(p, 4)) return HypercallError.EINVAL;
    this.pinned[p] = 1;
    return 0;
  }

  /** UNPIN_L4: -EINVAL if not a pinned L4, -EBUSY if a vCPU's CR3 holds it or a vCPU announced it. */
  unpinL4(gpa: number): number {
    if (!this.isPinnedL4(gpa)) return HypercallError.EINVAL;
    if (this.inUseAsBase(gpa)) return HypercallError.EBUSY;
    this.pinned[this.tablePage(gpa)] = 0;
    return 0;
  }

  /**
   * NEW_BASEPTR: accepts only a pinned L4 (-EINVAL otherwise) and loads it into the calling
   * vCPU's CR3 (as Xen's `MMUEXT_NEW_BASEPTR`): the guest's own `mov %cr3` is not needed.
   */
  newBaseptr(gpa: number, vcpu = 0): number {
    if (!this.isPinnedL4(gpa)) return HypercallError.EINVAL;
    if (!Number.isInteger(vcpu) || vcpu < 0 || vcpu >= this.baseptrs.length) return HypercallError.EINVAL;
    this.bases?.load(vcpu, gpa);
    this.baseptrs[vcpu] = gpa;
    return 0;
  }

  /**
   * Builds the tables a PV guest starts on, inside the pool (its last pages), through the same
   * validation as the guest's own: an identity map of guest RAM `[0, ramSize)` (2 MiB pages where
   * RAM covers them, 4 KiB at the tail), writable, supervisor-only, and of the pool itself
   * read-only (so the guest can read its tables). Pins the L4 and loads it as vCPU 0's base
   * pointer. Returns the L4's address. Call once, before the guest runs.
   */
  buildBootTables(): number {
    let next = POOL_PAGES;
    const table = (level: number): number => {
      const gpa = PtPool.BASE + --next * PAGE_SIZE;
      if (this.declareTable(gpa, level) !== 0) throw new RangeError(`direct paging: pool page 0x${gpa.toString(16)} is not free for a boot table`);
      return gpa;
    };
    const l4 = table(4);
    const l3 = table(3);
    this.bootEntry(l4, 0, l3 | Pte.PRESENT | Pte.WRITABLE);
    const l2s = new Map<number, number>();
    const l2For = (addr: number): number => {
      const gib = Math.floor(addr / 2 ** 30);
      let l2 = l2s.get(gib);
      if (l2 === undefined) {
        l2 = table(2);
        l2s.set(gib, l2);
        this.bootEntry(l3, gib, l2 | Pte.PRESENT | Pte.WRITABLE);
      }
      return l2;
    };
    const TWO_M = 2 * 1024 * 1024;
    const map2m = (addr: number, flags: number): void => {
      this.bootEntry(l2For(addr), Math.floor(addr / TWO_M) % 512, (addr % 2 ** 32) | flags | Pte.PS, Math.floor(addr / 2 ** 32));
    };
    const full = Math.floor(this.ramSize / TWO_M) * TWO_M;
    for (let a = 0; a < full; a += TWO_M) map2m(a, Pte.PRESENT | Pte.WRITABLE);
    if (full < this.ramSize) {
      const l1 = table(1);
      this.bootEntry(l2For(full), Math.floor(full / TWO_M) % 512, l1 | Pte.PRESENT | Pte.WRITABLE);
      for (let a = full; a + PAGE_SIZE <= this.ramSize; a += PAGE_SIZE) this.bootEntry(l1, (a - full) / PAGE_SIZE, a | Pte.PRESENT | Pte.WRITABLE);
    }
    for (let a = PtPool.BASE; a < PtPool.BASE + PtPool.SIZE; a += TWO_M) map2m(a, Pte.PRESENT);
    if (this.pinL4(l4) !== 0) throw new RangeError('direct paging: the boot tables did not validate');
    this.baseptrs[0] = l4;
    this.bases?.load(0, l4);
    return l4;
  }

  /** Writes entry `index` of boot table `tableGpa` through the guest's validation (throws if refused). */
  private bootEntry(tableGpa: number, index: number, lo: number, hi = 0): void {
    const off = tableGpa - PtPool.BASE + index * 8;
    const level = this.levels[off >>> 12]!;
    const r = checkEntry(level, lo >>> 0, hi, this.ramSize, this.levels);
    if (r < NO_TABLE) throw new RangeError(`direct paging: boot table entry 0x${(tableGpa + index * 8).toString(16)} = 0x${lo.toString(16)} refused`);
    this.pool.setUint32(off, lo >>> 0, true);
    this.pool.setUint32(off + 4, hi, true);
    if (r >= 0) this.refs[r]!++;
  }

  /**
   * Drops the backend's translations of the whole pool; afterwards only the tables declared now
   * can be shadowed again.
   */
  private refreshPool(): void {
    this.refresh!();
    this.counters.values[this.slotRefreshes]!++;
    const levels = this.levels;
    const shadowed = this.shadowed;
    for (let i = 0; i < POOL_PAGES; i++) shadowed[i] = levels[i] !== 0 ? 1 : 0;
  }

  /** Re-checks every entry of table page `p` (of `level`) and below; each page once per walk. */
  private validateTree(p: number, level: number): boolean {
    if (this.seen[p] === this.walkStamp) return true;
    this.seen[p] = this.walkStamp;
    const pool = this.pool;
    for (let e = 0; e < ENTRIES; e++) {
      const off = p * PAGE_SIZE + e * 8;
      const lo = pool.getUint32(off, true);
      const r = checkEntry(level, lo, pool.getUint32(off + 4, true), this.ramSize, this.levels);
      if (r < NO_TABLE) return false;
      if (r >= 0 && !this.validateTree(r, level - 1)) return false;
    }
    return true;
  }

  /** Pool page of a page-aligned table address, or -1. */
  private tablePage(gpa: number): number {
    if (!Number.isSafeInteger(gpa) || gpa % PAGE_SIZE !== 0) return -1;
    return poolPage(gpa);
  }

  /** Byte offset in the pool of the entry at `ptr` (lo, hi), or -1 if not an aligned entry of a declared table. */
  private entryOffset(lo: number, hi: number): number {
    if ((lo & 7) !== 0 || hi !== 0) return -1;
    const p = poolPage(lo);
    if (p < 0 || this.levels[p] === 0) return -1;
    return lo - PtPool.BASE;
  }

  private reject(r: number): number {
    this.counters.values[this.slotRejected]!++;
    return r;
  }
}

/** {@link DirectPaging.saveState}'s record: per pool page arrays as base64. */
export interface DirectPagingState {
  readonly levels: string;
  /** Reference counts, 32-bit little-endian. */
  readonly refs: string;
  readonly pinned: string;
  readonly shadowed: string;
  readonly baseptrs: number[];
}
