/**
 * `EmuVm`: guest memory as plain ArrayBuffers (read-only regions supported: their writes exit as
 * MMIO) and emulated vCPUs. Of the optional VM abilities it has a virtual clock
 * (`virtualClock`), a CR3 check (`cr3Policy`) and a cheap translation flush (`regionRefresh`); it has no in-kernel interrupt controller and no
 * ioeventfd, so `vm.irqchip` and `vm.ioEvents` are absent.
 * @module
 */
import {
  BackendError, DisposableStore, GuestMemory, assertLive, checkRegion, offerAbilities,
  type BackendInfo, type Cr3Policy, type MemoryRegion, type RegionRefresh, type RegionOptions, type Vm, type VirtualClock,
} from '@hyvisor/core';
import { EmuVcpu } from './emu-vcpu.js';

/** vCPUs per VM (each runs on the caller's thread when its run() is called). */
export const MAX_VCPUS = 64;

export class EmuVm implements Vm {
  readonly memory = new GuestMemory();
  /**
   * The VM's guest time in ns, virtual: vCPU 0's instructions retired × `NS_PER_INSTRUCTION` plus
   * the time skipped while halted (`advanceTo`); 0 before vCPU 0 exists. Nothing here reads the
   * host clock, so timers the VMM runs on it fire at the same instruction every run. `advanceTo`
   * moves every vCPU forward. (Other vCPUs keep their own counts; they are not synchronised yet.)
   */
  readonly virtualClock: VirtualClock;
  /**
   * Checks every guest MOV to CR3 from `set` on (current and future vCPUs): `allow` gets the new
   * PML4 address (bits 51:12; PCID, PWT and PCD dropped) and a false answer is #GP(0) in the guest
   * with CR3 kept. `undefined` removes the check; without a policy MOV to CR3 costs one field
   * test more. The VMM's `setSpecialRegisters` is never checked.
   */
  readonly cr3Policy: Cr3Policy;
  /**
   * Drops every vCPU's cached translations (TLB, decoded and compiled code): the emulator reads
   * guest memory afresh anyway, so the region's contents need nothing else. Cheap (a TLB flush per
   * vCPU), unlike KVM's: direct paging calls it at every page-table release.
   */
  readonly regionRefresh: RegionRefresh;
  private readonly store = new DisposableStore();
  private readonly vcpus = new Map<number, EmuVcpu>();
  private cr3Allow: ((cr3: number) => boolean) | undefined = undefined;

  /** @internal Created by {@link EmuBackend.createVm}. */
  constructor(readonly info: BackendInfo, readonly name: string, onDispose: () => void) {
    this.store.defer(onDispose);
    const abilities = offerAbilities(info, {
      virtualClock: () => ({
        now: () => this.vcpus.get(0)?.virtualNs() ?? 0,
        advanceTo: (ns: number) => { for (const v of this.vcpus.values()) v.advanceTo(ns); },
      }),
      cr3Policy: () => ({ set: (allow: ((cr3: number) => boolean) | undefined) => this.setCr3Policy(allow) }),
      regionRefresh: () => ({ refresh: (region: MemoryRegion) => this.refreshRegion(region) }),
    });
    this.virtualClock = abilities.virtualClock!;
    this.cr3Policy = abilities.cr3Policy!;
    this.regionRefresh = abilities.regionRefresh!;
  }

  private live(operation: string): void {
    assertLive(this.store, operation, `VM ${this.name}`);
  }

  /** Allocates zeroed memory for `[gpa, gpa+size)` (4 KiB multiples, as on KVM). */
  addRegion(name: string, gpa: number, size: number, options: RegionOptions = {}): MemoryRegion {
    this.live(`addRegion ${name}`);
    checkRegion(this.memory, this.info, name, gpa, size, options);
    const region: MemoryRegion = { name, gpa, size, buffer: new ArrayBuffer(size), readonly: options.readonly === true };
    this.memory.addRegion(region);
    for (const v of this.vcpus.values()) v.memoryChanged();
    return region;
  }

  /** See {@link regionRefresh}. */
  private refreshRegion(region: MemoryRegion): void {
    this.live(`regionRefresh.refresh ${region.name}`);
    for (const v of this.vcpus.values()) v.memoryChanged();
  }

  createVcpu(id: number): EmuVcpu {
    this.live(`createVcpu ${id}`);
    if (!Number.isInteger(id) || id < 0 || id >= MAX_VCPUS) {
      throw new BackendError(`createVcpu: vCPU id ${id} is out of range: the emulator accepts 0 to ${MAX_VCPUS - 1}`, { operation: 'createVcpu', values: { id } });
    }
    if (this.vcpus.has(id)) throw new BackendError(`createVcpu: VM ${this.name} already has vCPU ${id}`, { operation: 'createVcpu', values: { id } });
    const vcpu = new EmuVcpu(id, this.memory, () => this.vcpus.delete(id));
    vcpu.cpu.cr3Policy = this.cr3Allow;
    this.vcpus.set(id, vcpu);
    this.store.add(vcpu);
    return vcpu;
  }

  private setCr3Policy(allow: ((cr3: number) => boolean) | undefined): void {
    this.live('cr3Policy.set');
    this.cr3Allow = allow;
    for (const v of this.vcpus.values()) v.cpu.cr3Policy = allow;
  }

  dispose(): void {
    this.store.dispose();
  }
}
