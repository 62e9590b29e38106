/**
 * `KvmVm`: one KVM virtual machine (a VM fd), its memory slots, vCPUs and, as optional
 * sub-objects, ioeventfds (`ioEvents`), the in-kernel interrupt controllers and PIT (`irqchip`) and
 * slot refresh (`regionRefresh`). Every
 * resource is registered with the VM's {@link DisposableStore} the moment it exists, so
 * {@link KvmVm.dispose} releases all of them newest first (vCPUs and eventfds, then slots before
 * their mappings, then the VM fd).
 * @module
 */
import {
  BackendError,
  DisposableStore,
  GuestMemory,
  assertLive,
  checkRegion,
  offerAbilities,
  type BackendInfo,
  type IoEventFd,
  type IoEventSpec,
  type IoEvents,
  type MemoryRegion,
  type RegionOptions,
  type RegionRefresh,
  type Vm,
} from '@hyvisor/core';
import type { KvmHost } from './kvm-backend.js';
import { KvmIrqchip } from './kvm-irqchip.js';
import { check, checkBuffer, errnoError } from './native.js';
import { KvmVcpu } from './kvm-vcpu.js';

/** Where the VMX real-mode TSS (3 pages) and identity-map page go: just below the 4 GiB BIOS area. */
const TSS_ADDR = 0xfffb_d000;
const IDENTITY_MAP_ADDR = 0xfffb_c000;

/** A Linux KVM virtual machine. Create it with {@link KvmBackend.createVm}. */
export class KvmVm implements Vm {
  /** Guest-physical memory; {@link addRegion} adds to it. */
  readonly memory = new GuestMemory();
  /** The backend's info. */
  readonly info: BackendInfo;
  /** In-kernel PIC/IOAPIC/LAPIC (and PIT): present when this KVM has KVM_CAP_IRQCHIP. */
  readonly irqchip: KvmIrqchip | undefined;
  /** ioeventfds: present when this KVM has KVM_CAP_IOEVENTFD. */
  readonly ioEvents: IoEvents | undefined;
  /** Memory slot delete + add, dropping shadow pages built from a region: always on KVM. */
  readonly regionRefresh: RegionRefresh | undefined;
  private readonly store = new DisposableStore();
  /** @internal The VM fd (for the irqchip). */
  readonly vmFd: number;
  private readonly vcpus = new Map<number, KvmVcpu>();
  private nextSlot = 0;
  /** KVM slot and flags of each region, for {@link refreshRegion}. */
  private readonly slots = new Map<MemoryRegion, { slot: number; flags: number }>();
  /** KVM counts vCPUs ever created (KVM_CREATE_IRQCHIP is refused after the first), so do we. */
  private vcpuCount = 0;

  /** @internal Created by {@link KvmBackend.createVm}. */
  constructor(
    private readonly host: KvmHost,
    /** Name for messages. */
    readonly name: string,
    onDispose: () => void,
  ) {
    const { native } = host;
    this.info = host.info;
    this.store.defer(onDispose);
    this.vmFd = check('KVM_CREATE_VM', native.ioctlInt(host.kvmFd, native.ioctls['KVM_CREATE_VM']!, 0));
    const vmFd = this.vmFd;
    this.store.defer(() => native.close(vmFd));
    try {
      this.setVmxAddresses();
    } catch (err) {
      this.store.dispose();
      throw err;
    }
    const abilities = offerAbilities(this.info, {
      irqchip: () => new KvmIrqchip(host, this),
      ioEvents: () => ({ add: (spec: IoEventSpec) => this.addIoEventFd(spec) }),
      regionRefresh: () => ({ refresh: (region: MemoryRegion) => this.refreshRegion(region) }),
    });
    this.irqchip = abilities.irqchip;
    this.ioEvents = abilities.ioEvents;
    this.regionRefresh = abilities.regionRefresh;
  }

  /** @internal vCPUs ever created in this VM (the irqchip must come first). */
  get vcpusCreated(): number {
    return this.vcpuCount;
  }

  /**
   * VMX needs a TSS and an identity-mapped page table for real mode, placed where no RAM is.
   * Elsewhere (SVM, kvm_pvm) these ioctls may be absent or meaningless, so a failure only
   * matters on VMX.
   */
  private setVmxAddresses(): void {
    const { native, flavour } = this.host;
    const ioc = native.ioctls;
    const idmap = native.ioctlBuf(this.vmFd, ioc['KVM_SET_IDENTITY_MAP_ADDR']!, new BigUint64Array([BigInt(IDENTITY_MAP_ADDR)]));
    if (idmap < 0 && flavour === 'kvm-vmx') throw errnoError('KVM_SET_IDENTITY_MAP_ADDR', idmap);
    const tss = native.ioctlInt(this.vmFd, ioc['KVM_SET_TSS_ADDR']!, TSS_ADDR);
    if (tss < 0 && flavour === 'kvm-vmx') throw errnoError('KVM_SET_TSS_ADDR', tss);
  }

  /** True once {@link dispose} has run. */
  get isDisposed(): boolean {
    return this.store.isDisposed;
  }

  private live(operation: string): void {
    assertLive(this.store, operation, `VM ${this.name}`);
  }

  /**
   * Allocates `size` bytes of zeroed host memory (an mmap shared with the guest, no copies),
   * maps it at guest-physical `gpa` and adds it to {@link memory}. `gpa` and `size` must be
   * multiples of 4 KiB. Read-only regions need the `readonly-memory` capability; guest writes to
   * them exit as MMIO.
   */
  addRegion(name: string, gpa: number, size: number, options: RegionOptions = {}): MemoryRegion {
    this.live(`addRegion ${name}`);
    const { native } = this.host;
    const readonly = options.readonly === true;
    checkRegion(this.memory, this.info, name, gpa, size, options);
    if (this.nextSlot >= this.host.memslots) {
      throw new BackendError(`memory region ${name}: all ${this.host.memslots} KVM memory slots are in use`, { operation: 'addRegion', values: { name, slots: this.host.memslots } });
    }

    const buffer = checkBuffer(`mmap ${size} bytes for memory region ${name}`, native.mmap(size, -1));
    this.store.defer(() => native.munmap(buffer));
    const slot = this.nextSlot++;
    const flags = readonly ? native.constants['KVM_MEM_READONLY']! : 0;
    check(`KVM_SET_USER_MEMORY_REGION (${name}, slot ${slot})`, native.setMemoryRegion(this.vmFd, slot, flags, gpa, buffer));
    // Deleting the slot (size 0) runs before the munmap above: the guest never sees freed memory.
    const vmFd = this.vmFd;
    this.store.defer(() => native.setMemoryRegion(vmFd, slot, 0, gpa, null));
    const region: MemoryRegion = { name, gpa, size, buffer, readonly };
    this.memory.addRegion(region);
    this.slots.set(region, { slot, flags });
    return region;
  }

  /**
   * `regionRefresh.refresh`: drops every translation KVM derived from `region`'s contents: deletes its memory slot
   * (KVM_SET_USER_MEMORY_REGION with size 0, which zaps the VM's shadow pages / TDP mappings of
   * the slot) and adds it again with the same host memory, address and flags. Guest-visible
   * contents do not change. The VMM writes guest page tables in the PV page-table pool through its
   * own mapping, which KVM's shadow MMU (kvm_pvm) does not track; direct paging calls this before
   * such a pool page is reused. Costs two ioctls plus the guest's shadow page faults afterwards.
   * Call only while the vCPU is outside KVM_RUN. Throws {@link BackendError} for a region that is
   * not this VM's, and if KVM refuses (the slot is then gone: the VM cannot go on).
   */
  private refreshRegion(region: MemoryRegion): void {
    this.live(`regionRefresh.refresh ${region.name}`);
    const s = this.slots.get(region);
    if (s === undefined) throw new BackendError(`regionRefresh.refresh: ${region.name} is not a memory region of VM ${this.name}`, { operation: 'regionRefresh.refresh' });
    const { native } = this.host;
    check(`KVM_SET_USER_MEMORY_REGION (${region.name}, slot ${s.slot}, delete)`, native.setMemoryRegion(this.vmFd, s.slot, 0, region.gpa, null));
    check(`KVM_SET_USER_MEMORY_REGION (${region.name}, slot ${s.slot}, add again)`, native.setMemoryRegion(this.vmFd, s.slot, s.flags, region.gpa, region.buffer));
  }

  /**
   * Creates vCPU `id` (0 ≤ id < the host's KVM_CAP_MAX_VCPU_ID). It must be run on the thread
   * that creates it: its deadline timer signals that thread. After `irqchip.create()` the vCPU
   * has an in-kernel local APIC and takes its interrupts from the kernel.
   */
  createVcpu(id: number): KvmVcpu {
    this.live(`createVcpu ${id}`);
    if (!Number.isInteger(id) || id < 0 || id >= this.host.maxVcpuId) {
      throw new BackendError(`createVcpu: vCPU id ${id} is out of range: this KVM accepts 0 to ${this.host.maxVcpuId - 1}`, { operation: 'createVcpu', values: { id } });
    }
    if (this.vcpus.has(id)) throw new BackendError(`createVcpu: VM ${this.name} already has vCPU ${id}`, { operation: 'createVcpu', values: { id } });
    this.vcpuCount++;
    const vcpu = new KvmVcpu(this.host, this.vmFd, id, this.irqchip?.created === true, () => this.vcpus.delete(id));
    this.vcpus.set(id, vcpu);
    this.store.add(vcpu);
    return vcpu;
  }

  /**
   * `ioEvents.add`: counts guest writes to a port or MMIO address in the kernel (KVM_IOEVENTFD):
   * the guest does not exit to userspace; {@link IoEventFd.take} reads and resets the count
   * without blocking.
   */
  private addIoEventFd(spec: IoEventSpec): IoEventFd {
    this.live('ioEvents.add');
    const { native } = this.host;
    if (![1, 2, 4, 8].includes(spec.size)) {
      throw new BackendError(`ioEvents.add: size must be 1, 2, 4 or 8 bytes, got ${spec.size}`, { operation: 'ioEvents.add' });
    }
    if (!Number.isSafeInteger(spec.address) || spec.address < 0 || (spec.space === 'pio' && spec.address > 0xffff)) {
      throw new BackendError(`ioEvents.add: bad ${spec.space} address ${spec.address}`, { operation: 'ioEvents.add' });
    }
    const store = new DisposableStore();
    this.store.add(store);
    try {
      const efd = check('eventfd', native.eventfd());
      store.defer(() => native.close(efd));

      const L = native.layout.ioeventfd;
      const K = native.constants;
      const buf = new ArrayBuffer(L['size']!);
      const dv = new DataView(buf);
      let flags = spec.space === 'pio' ? K['KVM_IOEVENTFD_FLAG_PIO']! : 0;
      if (spec.match !== undefined) {
        flags |= K['KVM_IOEVENTFD_FLAG_DATAMATCH']!;
        dv.setBigUint64(L['datamatch']!, BigInt.asUintN(64, BigInt(spec.match)), true);
      }
      dv.setBigUint64(L['addr']!, BigInt(spec.address), true);
      dv.setUint32(L['len']!, spec.size, true);
      dv.setInt32(L['fd']!, efd, true);
      dv.setUint32(L['flags']!, flags, true);
      const ioc = native.ioctls['KVM_IOEVENTFD']!;
      check(`KVM_IOEVENTFD (${spec.space} 0x${spec.address.toString(16)})`, native.ioctlBuf(this.vmFd, ioc, buf));
      const vmFd = this.vmFd;
      store.defer(() => {
        dv.setUint32(L['flags']!, flags | K['KVM_IOEVENTFD_FLAG_DEASSIGN']!, true);
        native.ioctlBuf(vmFd, ioc, buf);
      });
      return {
        spec,
        take(): number {
          if (store.isDisposed) throw new BackendError(`IoEventFd.take: ioeventfd ${spec.space} 0x${spec.address.toString(16)} is disposed`, { operation: 'IoEventFd.take' });
          return check('read eventfd', native.eventfdRead(efd));
        },
        dispose: () => store.dispose(),
      };
    } catch (err) {
      store.dispose();
      throw err;
    }
  }

  /** Releases vCPUs, ioeventfds, memory slots and mappings, then the VM fd, newest first. */
  dispose(): void {
    this.store.dispose();
  }
}
