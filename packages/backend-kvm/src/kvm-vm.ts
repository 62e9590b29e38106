/**
 * `KvmVm`: one KVM virtual machine (a VM fd), its memory slots, vCPUs and ioeventfds. Every
 * resource is registered with the VM's {@link DisposableStore} the moment it exists, so
 * {@link KvmVm.dispose} releases all of them newest first (vCPUs and eventfds, then slots before
 * their mappings, then the VM fd).
 * @module
 */
import {
  BackendError,
  DisposableStore,
  GuestMemory,
  WiringError,
  type BackendInfo,
  type IoEventFd,
  type IoEventSpec,
  type MemoryRegion,
  type RegionOptions,
  type Vm,
} from '@hyvisor/core';
import type { KvmHost } from './kvm-backend.js';
import { check, checkBuffer, errnoError } from './native.js';
import { KvmVcpu } from './kvm-vcpu.js';

/** KVM maps guest memory in whole pages. */
const PAGE = 4096;
/** Where the VMX real-mode TSS (3 pages) and identity-map page go: just below the 4 GiB BIOS area. */
const TSS_ADDR = 0xfffb_d000;
const IDENTITY_MAP_ADDR = 0xfffb_c000;

/** A Linux KVM virtual machine. Create it with {@link KvmBackend.createVm}. */
export class KvmVm implements Vm {
  /** Guest-physical memory; {@link addRegion} adds to it. */
  readonly memory = new GuestMemory();
  /** The backend's info. */
  readonly info: BackendInfo;
  private readonly store = new DisposableStore();
  private readonly vmFd: number;
  private readonly vcpus = new Map<number, KvmVcpu>();
  private nextSlot = 0;

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
    if (this.store.isDisposed) throw new BackendError(`${operation}: VM ${this.name} is disposed`);
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
    if (!Number.isSafeInteger(gpa) || gpa < 0 || !Number.isSafeInteger(size) || size <= 0) {
      throw new WiringError(`memory region ${name}: bad range gpa=${gpa} size=${size}`);
    }
    if (gpa % PAGE !== 0 || size % PAGE !== 0) {
      throw new BackendError(`memory region ${name}: KVM maps whole 4 KiB pages; gpa 0x${gpa.toString(16)} and size 0x${size.toString(16)} must be multiples of 0x1000`);
    }
    for (const r of this.memory.regions) {
      if (gpa < r.gpa + r.size && r.gpa < gpa + size) {
        throw new WiringError(
          `memory region ${name} [0x${gpa.toString(16)}, 0x${(gpa + size).toString(16)}) overlaps ${r.name} [0x${r.gpa.toString(16)}, 0x${(r.gpa + r.size).toString(16)})`,
        );
      }
    }
    if (readonly && !this.host.readonlyMemory) {
      throw new BackendError(`memory region ${name}: read-only memory needs KVM_CAP_READONLY_MEM, which this KVM lacks`);
    }
    if (this.nextSlot >= this.host.memslots) {
      throw new BackendError(`memory region ${name}: all ${this.host.memslots} KVM memory slots are in use`);
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
    return region;
  }

  /**
   * Creates vCPU `id` (0 ≤ id < the host's KVM_CAP_MAX_VCPU_ID). It must be run on the thread
   * that creates it: its deadline timer signals that thread.
   */
  createVcpu(id: number): KvmVcpu {
    this.live(`createVcpu ${id}`);
    if (!Number.isInteger(id) || id < 0 || id >= this.host.maxVcpuId) {
      throw new BackendError(`createVcpu: vCPU id ${id} is out of range: this KVM accepts 0 to ${this.host.maxVcpuId - 1}`);
    }
    if (this.vcpus.has(id)) throw new BackendError(`createVcpu: VM ${this.name} already has vCPU ${id}`);
    const vcpu = new KvmVcpu(this.host, this.vmFd, id, () => this.vcpus.delete(id));
    this.vcpus.set(id, vcpu);
    this.store.add(vcpu);
    return vcpu;
  }

  /**
   * Counts guest writes to a port or MMIO address in the kernel (KVM_IOEVENTFD): the guest does
   * not exit to userspace; {@link IoEventFd.take} reads and resets the count without blocking.
   */
  addIoEventFd(spec: IoEventSpec): IoEventFd {
    this.live('addIoEventFd');
    const { native } = this.host;
    if (!this.host.ioeventfd) throw new BackendError('addIoEventFd: this KVM lacks KVM_CAP_IOEVENTFD');
    if (![1, 2, 4, 8].includes(spec.size)) {
      throw new BackendError(`addIoEventFd: size must be 1, 2, 4 or 8 bytes, got ${spec.size}`);
    }
    if (!Number.isSafeInteger(spec.address) || spec.address < 0 || (spec.space === 'pio' && spec.address > 0xffff)) {
      throw new BackendError(`addIoEventFd: bad ${spec.space} address ${spec.address}`);
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
          if (store.isDisposed) throw new BackendError(`IoEventFd.take: ioeventfd ${spec.space} 0x${spec.address.toString(16)} is disposed`);
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
