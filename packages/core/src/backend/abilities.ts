/**
 * The optional parts of a {@link Vm}, after Cloud Hypervisor's optional traits: each is a
 * sub-object that is present exactly when the backend offers it, so a caller writes
 * `vm.irqchip?.setLine(4, true)` or `if (vm.virtualClock)`, and no backend carries methods that
 * only throw "not supported". Each ability stands for one {@link Capability} (the list
 * composition checks before any VM exists); {@link offerAbilities} builds a VM's abilities from
 * its backend's capability set, so the two cannot disagree.
 * @module
 */
import { BackendError } from '../errors.js';
import type { Disposable } from '../lifecycle/disposable.js';
import type { MemoryRegion } from '../memory/guest-memory.js';
import type { BackendInfo, Capability } from './backend.js';

/** Selects the accesses an {@link IoEventFd} counts. */
export interface IoEventSpec {
  /** `pio` for a port, `mmio` for a guest-physical address. */
  readonly space: 'pio' | 'mmio';
  readonly address: number;
  /** Access size in bytes (1, 2, 4 or 8). */
  readonly size: number;
  /** Count only writes of this value (otherwise any value). */
  readonly match?: number;
}

/** Counts guest writes that completed without a userspace exit. */
export interface IoEventFd extends Disposable {
  readonly spec: IoEventSpec;
  /** Returns the writes counted since the last call and resets the count (never blocks). */
  take(): number;
}

/** {@link Vm.ioEvents} (capability `ioeventfd`): guest writes counted without a userspace exit. */
export interface IoEvents {
  /** Starts counting the writes `spec` selects; they no longer exit to the VMM. */
  add(spec: IoEventSpec): IoEventFd;
}

/**
 * {@link Vm.irqchip} (capability `in-kernel-irqchip`): interrupt controllers emulated inside the
 * backend (for KVM the in-kernel dual 8259 PIC, IOAPIC and local APICs, optionally the 8254 PIT).
 */
export interface InKernelIrqchip {
  /** True if {@link create} can add the in-kernel 8254 PIT (`{ pit: true }`). */
  readonly offersPit: boolean;
  /** True once {@link create} has succeeded. */
  readonly created: boolean;
  /**
   * Creates the controllers (with `pit`, also the in-kernel PIT on ports 0x40-0x43 and 0x61).
   * Call once, before creating vCPUs. Afterwards device interrupts are raised with
   * {@link setLine}, the backend injects and acknowledges them itself, a halted vCPU waits in the
   * backend for its next interrupt, and {@link Vcpu.queueInterrupt} is not available.
   */
  create(options: { readonly pit: boolean }): void;
  /** Sets the level of input `gsi` (after {@link create}). Allocates nothing. */
  setLine(gsi: number, level: boolean): void;
  /**
   * Sends a message-signalled interrupt to the in-kernel local APICs (after {@link create}):
   * `address` 0xFEExxxxx and `data` as a PCI device writes them. Returns false if the backend
   * delivered it to no CPU (KVM_SIGNAL_MSI returned 0) or cannot send MSIs. Allocates nothing.
   */
  signalMsi(address: number, data: number): boolean;
  /**
   * The controllers' state (PICs, IOAPIC, PIT, each vCPU's local APIC and run state) as a plain
   * JSON-serialisable record for snapshots, between runs; absent where the backend cannot save
   * it. Backend-specific: only the same backend's {@link restoreState} takes it.
   */
  saveState?(): Record<string, unknown>;
  /** Loads what {@link saveState} returned, after {@link create} and the vCPUs exist. */
  restoreState?(state: unknown): void;
}

/**
 * {@link Vm.virtualClock} (capability `virtual-clock`): guest time is counted by the backend (the
 * emulator: instructions retired × ns per instruction, plus time skipped while halted), not read
 * from the host. The VMM runs its emulated timers on it, and on such a backend
 * {@link Vcpu.setDeadline} counts guest time (the backend documents its host-time guard).
 * Without it, guest time is host monotonic time.
 */
export interface VirtualClock {
  /** Guest-visible time in ns. */
  now(): number;
  /**
   * Moves guest time forward to `ns` (never back). The VMM calls it instead of sleeping when the
   * guest halts waiting for a timer event due at `ns`.
   */
  advanceTo(ns: number): void;
}

/**
 * {@link Vm.cr3Policy} (capability `cr3-policy`): a check of the guest's CR3 loads. A backend
 * that offers it runs the guest's MOV to CR3 itself (the emulator); KVM cannot (the guest's ring 0
 * runs on the CPU).
 */
export interface Cr3Policy {
  /**
   * Installs (or, with `undefined`, removes) the check: the backend calls
   * `allow(cr3 & physical-address mask)` on every guest write to CR3 (MOV to CR3; not the VMM's
   * own {@link Vcpu.setSpecialRegisters}) and raises #GP(0) in the guest when it returns false,
   * leaving CR3 unchanged. `allow` runs inside the instruction: it must be pure VMM bookkeeping
   * (no guest-memory writes, no throwing). Applies to the VM's current and future vCPUs.
   */
  set(allow: ((cr3: number) => boolean) | undefined): void;
}

/**
 * {@link Vm.regionRefresh} (capability `region-refresh`): for a backend that caches translations
 * derived from guest memory (KVM with shadow paging, e.g. kvm_pvm: shadow page tables built from
 * guest page tables).
 */
export interface RegionRefresh {
  /**
   * Drops every translation the backend derived from the contents of `region`, so that what the
   * VMM wrote into the region's host memory behind the guest's back is read afresh. Contents and
   * mapping stay. Call only while no vCPU is in the guest (from an exit handler). Costly (KVM: the
   * memory slot is deleted and added again, which drops every shadow page of the VM), so callers
   * batch it.
   */
  refresh(region: MemoryRegion): void;
}

/** The optional sub-objects of a {@link Vm}; each is present exactly when its capability is. */
export interface VmAbilities {
  readonly irqchip?: InKernelIrqchip | undefined;
  readonly ioEvents?: IoEvents | undefined;
  readonly virtualClock?: VirtualClock | undefined;
  readonly cr3Policy?: Cr3Policy | undefined;
  readonly regionRefresh?: RegionRefresh | undefined;
}

/** The names of the optional sub-objects of a {@link Vm}. */
export type VmAbilityName = keyof VmAbilities;

/** The capability each optional VM sub-object stands for. */
export const VM_ABILITY_CAPABILITY: { readonly [K in VmAbilityName]-?: Capability } = {
  irqchip: 'in-kernel-irqchip',
  ioEvents: 'ioeventfd',
  virtualClock: 'virtual-clock',
  cr3Policy: 'cr3-policy',
  regionRefresh: 'region-refresh',
};

/** Every ability name, in a fixed order. */
export const VM_ABILITY_NAMES = Object.keys(VM_ABILITY_CAPABILITY) as readonly VmAbilityName[];

/** Factories for the abilities a backend implements (possibly more than one host offers). */
export type AbilityFactories = { readonly [K in VmAbilityName]?: () => NonNullable<VmAbilities[K]> };

/** The abilities {@link offerAbilities} built: one field per factory, undefined where not offered. */
export type OfferedAbilities<F extends AbilityFactories> = {
  readonly [K in keyof F]: F[K] extends () => infer T ? T | undefined : never;
};

/**
 * Builds a VM's abilities from its backend's capability set: calls the factory of each ability
 * whose capability `info` lists and leaves the others undefined. A capability listed without a
 * factory is a backend bug and throws {@link BackendError} naming it, so composition (which reads
 * the capability set) and the VM (which has the sub-objects) cannot disagree.
 */
export function offerAbilities<F extends AbilityFactories>(info: BackendInfo, factories: F): OfferedAbilities<F> {
  const out: Record<string, unknown> = {};
  for (const name of VM_ABILITY_NAMES) {
    const capability = VM_ABILITY_CAPABILITY[name];
    const factory = factories[name] as (() => unknown) | undefined;
    const offered = info.capabilities.has(capability);
    if (offered && factory === undefined) {
      throw new BackendError(`backend ${info.name} lists capability ${capability} but its VMs have no ${name}`, { operation: 'createVm', values: { backend: info.name, capability } });
    }
    if (factory !== undefined) out[name] = offered ? factory() : undefined;
  }
  return out as OfferedAbilities<F>;
}

/**
 * Where a VM's sub-objects and its backend's capability set disagree, one line each (empty when
 * they agree): for conformance tests of a backend and of test doubles.
 */
export function abilityMismatches(vm: VmAbilities & { readonly info: BackendInfo }): string[] {
  const out: string[] = [];
  for (const name of VM_ABILITY_NAMES) {
    const capability = VM_ABILITY_CAPABILITY[name];
    const listed = vm.info.capabilities.has(capability);
    const present = vm[name] !== undefined;
    if (listed !== present) out.push(`${name} is ${present ? 'present' : 'absent'} but capability ${capability} is ${listed ? 'listed' : 'not listed'}`);
  }
  return out;
}
