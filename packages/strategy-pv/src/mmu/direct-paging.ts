/**
 * Direct paging: page tables live only in the read-only page-table pool and change only through
 * validated hypercalls. The VMM tracks, per pool page, its declared level, how many table entries
 * reference it, and whether it is a pinned L4. Invariant: every entry of every declared table is
 * valid for its level (tables start zeroed; updates are validated all-or-nothing; the guest
 * cannot write the pool), so a pinned L4 only ever reaches valid tables.
 *
 * On KVM this is cooperative (the guest kernel could load CR3 with anything); a backend that
 * enforces it (`vm.cr3Policy`, the emulator) asks {@link DirectPaging.cr3Allowed} before
 * accepting a CR3 value.
 * @module
 */
import { BootLayout, Hypercall, HypercallError, MmuExt, PtPool, type Counters, type GuestMemory } from '@hyvisor/core';
import { inRam, PAGE_SIZE } from '../guest-ram.js';
import { NO_TABLE, POOL_PAGES, checkEntry, isTableEntry, poolPage, tablePageOf } from './pte.js';

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
  private baseptr = -1;
  private readonly slotApplied: number;
  private readonly slotRejected: number;

  /**
   * @param memory guest memory holding RAM at 0 and the `pt-pool` region at `PtPool.BASE`
   * @param ramSize bytes of guest RAM
   */
  constructor(private readonly memory: GuestMemory, private readonly ramSize: number, private readonly counters: Counters, options: DirectPagingOptions = {}) {
    this.refresh = options.refresh;
    const bytes = memory.slice(PtPool.BASE, PtPool.SIZE);
    if (bytes === undefined) throw new RangeError(`direct paging: no page-table pool region at 0x${PtPool.BASE.toString(16)}`);
    this.poolBytes = bytes;
    this.pool = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.slotApplied = counters.define('pv.mmu.updates', 'page-table entries written by MMU_UPDATE');
    this.slotRejected = counters.define('pv.mmu.rejected', 'MMU_UPDATE batches and MMUEXT_OPs refused');
    this.slotRefreshes = counters.define('pv.mmu.pool_refreshes', 'backend translations of the page-table pool dropped before a released page was declared again');
  }

  /** True if `gpa` is a pinned L4 table: the only values CR3 may take under direct paging. */
  isPinnedL4(gpa: number): boolean {
    const p = this.tablePage(gpa);
    return p >= 0 && this.levels[p] === 4 && this.pinned[p] === 1;
  }

  /**
   * What a guest MOV to CR3 may load (`gpa` without the low 12 bits): a pinned L4, or, until the
   * guest's first successful NEW_BASEPTR, the VMM's boot PML4 (`BootLayout.PML4`), the tables the
   * guest was started on (reloading it, e.g. to flush the TLB, is legitimate while it builds its
   * own). After the first NEW_BASEPTR only pinned L4s.
   */
  cr3Allowed(gpa: number): boolean {
    return this.isPinnedL4(gpa) || (this.baseptr === -1 && gpa === BootLayout.PML4);
  }

  /** The base pointer the guest announced with NEW_BASEPTR, or -1. */
  get basePointer(): number {
    return this.baseptr;
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

  /** MMUEXT_OP(cmd, gpa, arg). */
  mmuextOp(cmd: number, gpa: number, arg: number): number {
    let r: number;
    switch (cmd) {
      case MmuExt.DECLARE_TABLE: r = this.declareTable(gpa, arg); break;
      case MmuExt.RELEASE_TABLE: r = this.releaseTable(gpa); break;
      case MmuExt.PIN_L4: r = this.pinL4(gpa); break;
      case MmuExt.UNPIN_L4: r = this.unpinL4(gpa); break;
      case MmuExt.NEW_BASEPTR: r = this.newBaseptr(gpa); break;
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
   * RELEASE_TABLE: back to free if no table references it and it is not pinned (-EBUSY otherwise;
   * -EINVAL if not a table). Its own references are dropped and the page is zeroed.
   */
  releaseTable(gpa: number): number {
    const p = this.tablePage(gpa);
    if (p < 0 || this.levels[p] === 0) return HypercallError.EINVAL;
    if (this.refs[p] !== 0 || this.pinned[p] !== 0) return HypercallError.EBUSY;
    const level = this.levels[p]!;
    const pool = this.pool;
    for (let e = 0; e < ENTRIES; e++) {
      const off = p * PAGE_SIZE + e * 8;
      const lo = pool.getUint32(off, true);
      if (isTableEntry(level, lo)) this.refs[tablePageOf(lo, pool.getUint32(off + 4, true))]!--;
    }
    this.poolBytes.fill(0, p * PAGE_SIZE, (p + 1) * PAGE_SIZE);
    this.levels[p] = 0;
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

  /** UNPIN_L4: -EINVAL if not a pinned L4, -EBUSY if it is the current base pointer. */
  unpinL4(gpa: number): number {
    if (!this.isPinnedL4(gpa)) return HypercallError.EINVAL;
    if (gpa === this.baseptr) return HypercallError.EBUSY;
    this.pinned[this.tablePage(gpa)] = 0;
    return 0;
  }

  /** NEW_BASEPTR: accepts only a pinned L4 (-EINVAL otherwise). */
  newBaseptr(gpa: number): number {
    if (!this.isPinnedL4(gpa)) return HypercallError.EINVAL;
    this.baseptr = gpa;
    return 0;
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
