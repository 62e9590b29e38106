/**
 * `KvmVm`: one KVM virtual machine (a VM fd), its memory slots, vCPUs, ioeventfds and, if asked
 * for, the in-kernel interrupt controllers and PIT. Every
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

/** Inputs of the in-kernel IOAPIC (KVM_IOAPIC_NUM_PINS); GSIs 0-15 also reach the dual 8259. */
const IRQCHIP_GSIS = 24;

/** The in-kernel 8259 pair as KVM_GET_IRQCHIP reports it (one 8-bit mask per register). */
export interface KvmPicState {
  /** Interrupt request register: inputs seen and not yet acknowledged. */
  readonly irr: number;
  /** Interrupt mask register (1 = masked). */
  readonly imr: number;
  /** In-service register: acknowledged, awaiting EOI. */
  readonly isr: number;
  /** Vector of input 0, set by ICW2 (0 until the guest initialises the PIC). */
  readonly vectorBase: number;
  /** Edge/level control (ports 0x4d0/0x4d1; 1 = level-triggered). */
  readonly elcr: number;
}

/** A snapshot of the in-kernel interrupt controllers, for tests and `hyvisor` diagnostics. */
export interface KvmIrqchipState {
  readonly master: KvmPicState;
  readonly slave: KvmPicState;
  /** The IOAPIC's 24 redirection entries (64 bits each; bit 16 = masked). */
  readonly ioapicRedirection: readonly bigint[];
  /** PIT channel 0 (null without a PIT): mode, reload count (0 means 65536), gate. */
  readonly pit: { readonly mode: number; readonly count: number; readonly gate: number } | null;
}

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
  /** KVM slot and flags of each region, for {@link refreshRegion}. */
  private readonly slots = new Map<MemoryRegion, { slot: number; flags: number }>();
  /** KVM counts vCPUs ever created (KVM_CREATE_IRQCHIP is refused after the first), so do we. */
  private vcpusCreated = 0;
  private irqchipMode: 'none' | 'kernel' = 'none';
  private pitCreated = false;
  /** KVM_IRQ_LINE argument (`struct kvm_irq_level`), preallocated: setIrqLine does not allocate. */
  private irqLevelArg: Uint32Array | undefined;
  private oIrqLevelIrq = 0;
  private oIrqLevelLevel = 0;
  private iocIrqLine = 0;

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
    this.slots.set(region, { slot, flags });
    return region;
  }

  /**
   * Drops every translation KVM derived from `region`'s contents: deletes its memory slot
   * (KVM_SET_USER_MEMORY_REGION with size 0, which zaps the VM's shadow pages / TDP mappings of
   * the slot) and adds it again with the same host memory, address and flags. Guest-visible
   * contents do not change. The VMM writes guest page tables in the PV page-table pool through its
   * own mapping, which KVM's shadow MMU (kvm_pvm) does not track; direct paging calls this before
   * such a pool page is reused. Costs two ioctls plus the guest's shadow page faults afterwards.
   * Call only while the vCPU is outside KVM_RUN. Throws {@link BackendError} for a region that is
   * not this VM's, and if KVM refuses (the slot is then gone: the VM cannot go on).
   */
  refreshRegion(region: MemoryRegion): void {
    this.live(`refreshRegion ${region.name}`);
    const s = this.slots.get(region);
    if (s === undefined) throw new BackendError(`refreshRegion: ${region.name} is not a memory region of VM ${this.name}`);
    const { native } = this.host;
    check(`KVM_SET_USER_MEMORY_REGION (${region.name}, slot ${s.slot}, delete)`, native.setMemoryRegion(this.vmFd, s.slot, 0, region.gpa, null));
    check(`KVM_SET_USER_MEMORY_REGION (${region.name}, slot ${s.slot}, add again)`, native.setMemoryRegion(this.vmFd, s.slot, s.flags, region.gpa, region.buffer));
  }

  /**
   * Creates vCPU `id` (0 ≤ id < the host's KVM_CAP_MAX_VCPU_ID). It must be run on the thread
   * that creates it: its deadline timer signals that thread. After {@link createIrqchip} the vCPU
   * has an in-kernel local APIC and takes its interrupts from the kernel.
   */
  createVcpu(id: number): KvmVcpu {
    this.live(`createVcpu ${id}`);
    if (!Number.isInteger(id) || id < 0 || id >= this.host.maxVcpuId) {
      throw new BackendError(`createVcpu: vCPU id ${id} is out of range: this KVM accepts 0 to ${this.host.maxVcpuId - 1}`);
    }
    if (this.vcpus.has(id)) throw new BackendError(`createVcpu: VM ${this.name} already has vCPU ${id}`);
    this.vcpusCreated++;
    const vcpu = new KvmVcpu(this.host, this.vmFd, id, this.irqchipMode === 'kernel', () => this.vcpus.delete(id));
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

  // ------------------------------------------------------------------ in-kernel irqchip

  /** True once {@link createIrqchip} has succeeded: interrupts go through {@link setIrqLine}. */
  get hasIrqchip(): boolean {
    return this.irqchipMode === 'kernel';
  }

  /** True once {@link createIrqchip} created the in-kernel PIT. */
  get hasPit(): boolean {
    return this.pitCreated;
  }

  /**
   * Creates KVM's in-kernel interrupt controllers (KVM_CREATE_IRQCHIP: the dual 8259 PIC, the
   * IOAPIC and one local APIC per vCPU at 0xFEE00000) and, with `pit`, the in-kernel 8254
   * (KVM_CREATE_PIT2, flags 0), which then owns ports 0x40-0x43 and 0x61 (those accesses no longer
   * exit) and raises GSI 0 itself.
   *
   * Must be called once, before the first {@link createVcpu}: KVM refuses it afterwards (a
   * {@link WiringError} says so). Needs capability `in-kernel-irqchip` (and `details.pit2` for the
   * PIT), else {@link BackendError}. From then on device interrupts are raised with
   * {@link setIrqLine}; {@link KvmVcpu.queueInterrupt} throws; HLT no longer exits: the vCPU sleeps
   * in the kernel until an interrupt arrives, and its run deadline or a kick still returns it to
   * the VMM. The controllers live as long as the VM fd.
   */
  createIrqchip(options: { readonly pit: boolean }): void {
    this.live('createIrqchip');
    const { native } = this.host;
    if (this.irqchipMode === 'kernel') {
      throw new WiringError(`createIrqchip: VM ${this.name} already has its in-kernel irqchip${this.pitCreated ? ' and PIT' : ''}`);
    }
    if (this.vcpusCreated > 0) {
      throw new WiringError(
        `createIrqchip: VM ${this.name} already created ${this.vcpusCreated === 1 ? 'a vCPU' : `${this.vcpusCreated} vCPUs`}; KVM creates the in-kernel irqchip only before the first vCPU, so call createIrqchip() before createVcpu()`,
      );
    }
    if (!this.host.irqchip) {
      throw new BackendError('createIrqchip: this KVM lacks KVM_CAP_IRQCHIP (no in-kernel PIC/IOAPIC/LAPIC); inject interrupts with Vcpu.queueInterrupt instead');
    }
    if (options.pit && !this.host.pit2) {
      throw new BackendError('createIrqchip: this KVM lacks KVM_CAP_PIT2 (no in-kernel 8254 PIT); create the irqchip with { pit: false } and emulate the PIT in the VMM');
    }
    const ioc = native.ioctls;
    check(`KVM_CREATE_IRQCHIP (VM ${this.name})`, native.ioctlInt(this.vmFd, ioc['KVM_CREATE_IRQCHIP']!, 0));
    this.irqchipMode = 'kernel';
    const L = native.layout.irqLevel;
    this.irqLevelArg = new Uint32Array(L['size']! / 4);
    this.oIrqLevelIrq = L['irq']! / 4;
    this.oIrqLevelLevel = L['level']! / 4;
    this.iocIrqLine = ioc['KVM_IRQ_LINE']!;
    if (options.pit) {
      const P = native.layout.pitConfig;
      const config = new Uint32Array(P['size']! / 4); // flags 0: no speaker dummy
      config[P['flags']! / 4] = 0;
      check(`KVM_CREATE_PIT2 (VM ${this.name})`, native.ioctlBuf(this.vmFd, ioc['KVM_CREATE_PIT2']!, config));
      this.pitCreated = true;
    }
  }

  /**
   * Drives input `gsi` (0-23) of the in-kernel controllers to `level` (KVM_IRQ_LINE). GSIs 0-15
   * reach both the 8259 pair (IRQ n) and IOAPIC pin n; 16-23 only the IOAPIC. For an
   * edge-triggered input raise and then lower the line; a level-triggered one stays asserted
   * until the device lowers it. Allocates nothing (one ioctl). Needs {@link createIrqchip}.
   */
  setIrqLine(gsi: number, level: boolean): void {
    const arg = this.irqLevelArg;
    if (arg === undefined || this.store.isDisposed) {
      this.live('setIrqLine');
      throw new BackendError(
        `setIrqLine: VM ${this.name} has no in-kernel irqchip; call createIrqchip() before creating vCPUs, or inject vectors with Vcpu.queueInterrupt`,
      );
    }
    if (!Number.isInteger(gsi) || gsi < 0 || gsi >= IRQCHIP_GSIS) {
      throw new BackendError(`setIrqLine: gsi must be an integer 0-${IRQCHIP_GSIS - 1} (the in-kernel IOAPIC's inputs; 0-15 also reach the 8259 PIC), got ${gsi}`);
    }
    arg[this.oIrqLevelIrq] = gsi;
    arg[this.oIrqLevelLevel] = level ? 1 : 0;
    const rc = this.host.native.ioctlBuf(this.vmFd, this.iocIrqLine, arg);
    if (rc < 0) throw errnoError(`KVM_IRQ_LINE (gsi ${gsi}, level ${level ? 1 : 0})`, rc);
  }

  /**
   * Reads the in-kernel PIC pair, IOAPIC and PIT (KVM_GET_IRQCHIP, KVM_GET_PIT2): a diagnostic
   * snapshot, not for the hot path (several ioctls, allocates). Needs {@link createIrqchip}.
   */
  irqchipState(): KvmIrqchipState {
    this.live('irqchipState');
    if (this.irqchipMode !== 'kernel') throw new BackendError(`irqchipState: VM ${this.name} has no in-kernel irqchip`);
    const { native } = this.host;
    const C = native.layout.irqchip;
    const K = native.constants;
    const read = (chipId: number): DataView => {
      const buf = new ArrayBuffer(C['size']!);
      const dv = new DataView(buf);
      dv.setUint32(C['chipId']!, chipId, true);
      check(`KVM_GET_IRQCHIP (chip ${chipId})`, native.ioctlBuf(this.vmFd, native.ioctls['KVM_GET_IRQCHIP']!, buf));
      return dv;
    };
    const pic = (dv: DataView): KvmPicState => ({
      irr: dv.getUint8(C['picIrr']!),
      imr: dv.getUint8(C['picImr']!),
      isr: dv.getUint8(C['picIsr']!),
      vectorBase: dv.getUint8(C['picIrqBase']!),
      elcr: dv.getUint8(C['picElcr']!),
    });
    const ioapic = read(K['KVM_IRQCHIP_IOAPIC']!);
    const ioapicRedirection: bigint[] = [];
    for (let i = 0; i < IRQCHIP_GSIS; i++) ioapicRedirection.push(ioapic.getBigUint64(C['ioapicRedirtbl']! + 8 * i, true));
    let pit: KvmIrqchipState['pit'] = null;
    if (this.pitCreated) {
      const P = native.layout.pitState2;
      const buf = new ArrayBuffer(P['size']!);
      check('KVM_GET_PIT2', native.ioctlBuf(this.vmFd, native.ioctls['KVM_GET_PIT2']!, buf));
      const dv = new DataView(buf);
      const ch0 = P['channels']!;
      pit = { mode: dv.getUint8(ch0 + P['mode']!), count: dv.getUint32(ch0 + P['count']!, true), gate: dv.getUint8(ch0 + P['gate']!) };
    }
    return { master: pic(read(K['KVM_IRQCHIP_PIC_MASTER']!)), slave: pic(read(K['KVM_IRQCHIP_PIC_SLAVE']!)), ioapicRedirection, pit };
  }

  /** Releases vCPUs, ioeventfds, memory slots and mappings, then the VM fd, newest first. */
  dispose(): void {
    this.store.dispose();
  }
}
