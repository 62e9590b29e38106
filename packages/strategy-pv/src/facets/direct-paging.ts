/**
 * The PV memory facet: direct paging. Page tables live only in the page-table pool, a region the
 * guest can read but not write; the guest changes them with `MMU_UPDATE` batches and
 * `MMUEXT_OP`s that the VMM validates.
 * @module
 */
import {
  CompositionError, FacetBase, FeatureBits, Hypercall, PtPool, defineFacet,
  type Counters, type Disposable, type FacetState, type GuestMemory, type MachineContext, type MemoryFacet, type MmioDevice, type Vm,
} from '@hyvisor/core';
import { DirectPaging, type BasePointers, type DirectPagingState } from '../mmu/direct-paging.js';
import { PV_DOMAIN } from '../pv-domain.js';

/** Name of the pool's memory region. */
export const PT_POOL_REGION = 'pt-pool';

/**
 * The pool on the MMIO bus: the guest's writes to the read-only pool exit here and are dropped and
 * counted (no writable-page-table emulation). Reads do not exit on KVM; a backend that routes
 * them here gets the pool's contents.
 */
export class PoolWriteGuard implements MmioDevice {
  private readonly slot: number;

  constructor(private readonly memory: GuestMemory, private readonly counters: Counters) {
    this.slot = counters.define('pv.mmu.pool_writes_rejected', 'guest writes into the read-only page-table pool, dropped');
  }

  read(offset: number, size: number): number {
    const gpa = PtPool.BASE + offset;
    switch (size) {
      case 1: return this.memory.u8(gpa);
      case 2: return this.memory.u16(gpa);
      case 4: return this.memory.u32(gpa);
      default: {
        const lo = this.memory.u32(gpa);
        const hi = this.memory.u32(gpa + 4);
        return lo < 0 || hi < 0 ? -1 : lo + hi * 0x1_0000_0000;
      }
    }
  }

  write(_offset: number, _size: number, _value: number): void {
    this.counters.values[this.slot]!++;
  }
}

/**
 * Memory facet `direct-paging`: adds the read-only region `pt-pool` at `PtPool.BASE` before the
 * vCPU exists, guards it on the MMIO bus, and registers `MMU_UPDATE` and `MMUEXT_OP`.
 */
export class DirectPagingMemory extends FacetBase<'memory'> implements MemoryFacet {
  static readonly info = defineFacet({
    facet: 'memory',
    name: 'direct-paging',
    description: 'direct paging: page tables in a read-only pool, changed only by validated, batched MMU_UPDATE hypercalls',
    requires: ['guest-memory', 'readonly-memory'],
    needs: [PV_DOMAIN],
  });

  readonly featureBits = FeatureBits.PV_MMU;
  /** The paging state, once attached (a backend that enforces CR3 asks its `cr3Allowed`). */
  mmu: DirectPaging | undefined;

  /**
   * @param refreshPool refresh the backend's view of the pool before a released page is declared
   *   again (`vm.regionRefresh`, where the backend has it). Default true; false only to show the
   *   stale translations it prevents (tests).
   */
  constructor(private readonly refreshPool = true) {
    super();
  }

  /** Adds the pool. Guest RAM must end below it. */
  prepareVm(vm: Vm): void {
    for (const r of vm.memory.regions) {
      if (r.gpa < PtPool.BASE + PtPool.SIZE && PtPool.BASE < r.gpa + r.size) {
        throw new CompositionError(
          `memory facet 'direct-paging': its page-table pool at 0x${PtPool.BASE.toString(16)} overlaps memory region ${r.name} ` +
          `[0x${r.gpa.toString(16)}, 0x${(r.gpa + r.size).toString(16)}); give the guest at most ${PtPool.BASE / 2 ** 20} MiB of RAM`,
        );
      }
    }
    vm.addRegion(PT_POOL_REGION, PtPool.BASE, PtPool.SIZE, { readonly: true });
  }

  attach(ctx: MachineContext): Disposable | void {
    ctx.services.get(PV_DOMAIN);
    const vm = ctx.vm;
    const pool = vm.memory.regions.find((r) => r.name === PT_POOL_REGION);
    // Where the backend caches translations of guest page tables (kvm_pvm's shadow MMU), reusing
    // a released pool page first drops them: the VMM's writes to the pool are not tracked there.
    const regionRefresh = vm.regionRefresh;
    const refresh = this.refreshPool && pool !== undefined && regionRefresh !== undefined ? () => regionRefresh.refresh(pool) : undefined;
    const vcpus = ctx.vcpus;
    // CR3 is the VMM's (NEW_BASEPTR loads it); reads and loads are rare (pin/unpin, switches).
    const bases: BasePointers = {
      count: vcpus.length,
      read: (i) => {
        try {
          return Number(vcpus[i]!.getSpecialRegisters().cr3 & 0x000ffffffffff000n);
        } catch {
          return -1;
        }
      },
      load: (i, gpa) => {
        const v = vcpus[i]!;
        v.setSpecialRegisters({ ...v.getSpecialRegisters(), cr3: BigInt(gpa) });
      },
    };
    // Where the backend checks CR3 (the emulator), its cached translations are cheap to drop:
    // drop them at every release, so nothing a released table reached stays reachable. (On KVM the
    // pool-slot refresh above does it, batched, before a released page is declared again.)
    const invalidate = vm.cr3Policy !== undefined ? refresh : undefined;
    const mmu = new DirectPaging(vm.memory, ctx.ramSize, ctx.telemetry.counters, {
      ...(refresh ? { refresh } : {}), ...(invalidate ? { invalidate } : {}), bases,
    });
    ctx.mmio.register(PT_POOL_REGION, PtPool.BASE, PtPool.SIZE, new PoolWriteGuard(ctx.vm.memory, ctx.telemetry.counters));
    ctx.hypercalls.register(Hypercall.MMU_UPDATE, 'MMU_UPDATE', (a) => mmu.mmuUpdate(a.a0, a.a1));
    ctx.hypercalls.register(Hypercall.MMUEXT_OP, 'MMUEXT_OP', (a) => mmu.mmuextOp(a.a0, a.a1, a.a2, a.vcpu));
    this.mmu = mmu;
    // The guest starts on validated, pinned tables in the pool: CR3 never holds anything else.
    mmu.buildBootTables();
    // Where the backend can check CR3 loads (the emulator), the guest may load only what direct
    // paging allows (DirectPaging.cr3Allowed); a refusal is #GP(0) in the guest, counted here.
    if (vm.cr3Policy !== undefined) {
      const counters = ctx.telemetry.counters;
      const refused = counters.define('pv.mmu.cr3_refused', 'guest CR3 loads refused (#GP) because the table is not a pinned L4');
      vm.cr3Policy.set((gpa) => {
        if (mmu.cr3Allowed(gpa)) return true;
        counters.values[refused]!++;
        return false;
      });
    }
  }

  /** True if `gpa` is a pinned L4 (false before attach): what CR3 may hold once the guest has announced a base pointer. */
  isPinnedL4(gpa: number): boolean {
    return this.mmu?.isPinnedL4(gpa) ?? false;
  }

  /** The pool's levels, reference counts, pins and base pointers (the tables are in the pool region of guest memory). */
  saveState(): FacetState & { readonly pool: DirectPagingState } {
    return { version: 1, pool: this.mmu!.saveState() };
  }

  restoreState(state: FacetState): void {
    const s = state as { version?: number; pool?: DirectPagingState };
    if (s?.version !== 1) throw new Error(`direct-paging state version ${JSON.stringify(s?.version)} is not supported (expected 1)`);
    this.mmu!.restoreState(s.pool!);
  }
}
