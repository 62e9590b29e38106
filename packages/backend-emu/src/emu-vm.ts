/**
 * `EmuVm`: guest memory as plain ArrayBuffers (read-only regions supported: their writes exit as
 * MMIO) and emulated vCPUs. The emulator has no in-kernel interrupt controller and no ioeventfd;
 * asking for them is a {@link BackendError} that says so.
 * @module
 */
import {
  BackendError, DisposableStore, GuestMemory, WiringError,
  type BackendInfo, type IoEventFd, type IoEventSpec, type MemoryRegion, type RegionOptions, type Vm,
} from '@hyvisor/core';
import { EmuVcpu } from './emu-vcpu.js';

/** vCPUs per VM (each runs on the caller's thread when its run() is called). */
export const MAX_VCPUS = 64;

export class EmuVm implements Vm {
  readonly memory = new GuestMemory();
  private readonly store = new DisposableStore();
  private readonly vcpus = new Map<number, EmuVcpu>();
  private cr3Policy: ((cr3: number) => boolean) | undefined = undefined;

  /** @internal Created by {@link EmuBackend.createVm}. */
  constructor(readonly info: BackendInfo, readonly name: string, onDispose: () => void) {
    this.store.defer(onDispose);
  }

  private live(operation: string): void {
    if (this.store.isDisposed) throw new BackendError(`${operation}: VM ${this.name} is disposed`);
  }

  /** Allocates zeroed memory for `[gpa, gpa+size)` (4 KiB multiples, as on KVM). */
  addRegion(name: string, gpa: number, size: number, options: RegionOptions = {}): MemoryRegion {
    this.live(`addRegion ${name}`);
    if (!Number.isSafeInteger(gpa) || gpa < 0 || !Number.isSafeInteger(size) || size <= 0) {
      throw new WiringError(`memory region ${name}: bad range gpa=${gpa} size=${size}`);
    }
    if (gpa % 4096 !== 0 || size % 4096 !== 0) {
      throw new BackendError(`memory region ${name}: the emulator maps whole 4 KiB pages (as KVM does); gpa 0x${gpa.toString(16)} and size 0x${size.toString(16)} must be multiples of 0x1000`);
    }
    const region: MemoryRegion = { name, gpa, size, buffer: new ArrayBuffer(size), readonly: options.readonly === true };
    this.memory.addRegion(region);
    for (const v of this.vcpus.values()) v.memoryChanged();
    return region;
  }

  createVcpu(id: number): EmuVcpu {
    this.live(`createVcpu ${id}`);
    if (!Number.isInteger(id) || id < 0 || id >= MAX_VCPUS) {
      throw new BackendError(`createVcpu: vCPU id ${id} is out of range: the emulator accepts 0 to ${MAX_VCPUS - 1}`);
    }
    if (this.vcpus.has(id)) throw new BackendError(`createVcpu: VM ${this.name} already has vCPU ${id}`);
    const vcpu = new EmuVcpu(id, this.memory, () => this.vcpus.delete(id));
    vcpu.cpu.cr3Policy = this.cr3Policy;
    this.vcpus.set(id, vcpu);
    this.store.add(vcpu);
    return vcpu;
  }

  addIoEventFd(spec: IoEventSpec): IoEventFd {
    this.live('addIoEventFd');
    throw new BackendError(`addIoEventFd (${spec.space} 0x${spec.address.toString(16)}): the emulator backend lacks the ioeventfd capability; handle the access as a normal exit`);
  }

  createIrqchip(_options: { readonly pit: boolean }): void {
    this.live('createIrqchip');
    throw new BackendError('createIrqchip: the emulator backend lacks the in-kernel-irqchip capability; emulate the PIC/APIC in the VMM and inject vectors with Vcpu.queueInterrupt');
  }

  /**
   * The VM's guest time in ns, virtual: vCPU 0's instructions retired × `NS_PER_INSTRUCTION` plus
   * the time skipped while halted ({@link advanceTime}); 0 before vCPU 0 exists. Nothing here
   * reads the host clock, so timers the VMM runs on it fire at the same instruction every run.
   * (Other vCPUs keep their own counts; they are not synchronised yet.)
   */
  timeSource(): number {
    return this.vcpus.get(0)?.virtualNs() ?? 0;
  }

  /** Moves guest time forward to `ns` on every vCPU (the VMM does it for a guest halted until a timer event). */
  advanceTime(ns: number): void {
    for (const v of this.vcpus.values()) v.advanceTo(ns);
  }

  /**
   * Checks every guest MOV to CR3 from now on (current and future vCPUs): `allow` gets the new
   * PML4 address (bits 51:12; PCID, PWT and PCD dropped) and a false answer is #GP(0) in the
   * guest with CR3 kept. `undefined` removes the check; without a policy MOV to CR3 costs one
   * field test more. The VMM's `setSpecialRegisters` is never checked.
   */
  setCr3Policy(allow: ((cr3: number) => boolean) | undefined): void {
    this.live('setCr3Policy');
    this.cr3Policy = allow;
    for (const v of this.vcpus.values()) v.cpu.cr3Policy = allow;
  }

  setIrqLine(gsi: number, _level: boolean): void {
    this.live('setIrqLine');
    throw new BackendError(`setIrqLine(${gsi}): the emulator backend lacks the in-kernel-irqchip capability; inject vectors with Vcpu.queueInterrupt`);
  }

  dispose(): void {
    this.store.dispose();
  }
}
