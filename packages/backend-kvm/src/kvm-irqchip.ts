/**
 * `KvmIrqchip`: a KVM VM's {@link InKernelIrqchip} (`vm.irqchip`, present when this KVM has
 * KVM_CAP_IRQCHIP): the in-kernel dual 8259 PIC, IOAPIC and local APICs, and optionally the 8254
 * PIT.
 * @module
 */
import { BackendError, WiringError, assertLive, type InKernelIrqchip } from '@hyvisor/core';
import type { KvmHost } from './kvm-backend.js';
import { check, errnoError, type StructLayout } from './native.js';

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

/** What the irqchip needs from its VM. */
export interface KvmIrqchipOwner {
  readonly name: string;
  readonly vmFd: number;
  readonly isDisposed: boolean;
  /** vCPUs ever created (KVM refuses KVM_CREATE_IRQCHIP after the first). */
  readonly vcpusCreated: number;
}

/** The in-kernel interrupt controllers of one KVM VM. Reached as `KvmVm.irqchip`. */
export class KvmIrqchip implements InKernelIrqchip {
  private pitCreated = false;
  /** KVM_IRQ_LINE argument (`struct kvm_irq_level`), preallocated: setLine does not allocate. */
  private irqLevelArg: Uint32Array | undefined;
  private oIrqLevelIrq = 0;
  private oIrqLevelLevel = 0;
  private iocIrqLine = 0;
  /** KVM_SIGNAL_MSI argument (`struct kvm_msi`), preallocated: signalMsi does not allocate. */
  private msiArg: Uint32Array | undefined;
  private oMsi = { lo: 0, hi: 0, data: 0 };
  private iocSignalMsi = 0;

  /** @internal Created by `KvmVm` when the host has KVM_CAP_IRQCHIP. */
  constructor(private readonly host: KvmHost, private readonly vm: KvmIrqchipOwner) {}

  /** True if this KVM has KVM_CAP_PIT2 (the in-kernel 8254). */
  get offersPit(): boolean {
    return this.host.pit2;
  }

  /** True once {@link create} has succeeded: interrupts go through {@link setLine}. */
  get created(): boolean {
    return this.irqLevelArg !== undefined;
  }

  /** True once {@link create} created the in-kernel PIT. */
  get hasPit(): boolean {
    return this.pitCreated;
  }

  /**
   * Creates KVM's in-kernel interrupt controllers (KVM_CREATE_IRQCHIP: the dual 8259 PIC, the
   * IOAPIC and one local APIC per vCPU at 0xFEE00000) and, with `pit`, the in-kernel 8254
   * (KVM_CREATE_PIT2, flags 0), which then owns ports 0x40-0x43 and 0x61 (those accesses no longer
   * exit) and raises GSI 0 itself.
   *
   * Must be called once, before the VM's first vCPU: KVM refuses it afterwards (a
   * {@link WiringError} says so). `pit` needs {@link offersPit}, else {@link BackendError}. From
   * then on device interrupts are raised with {@link setLine}; `KvmVcpu.queueInterrupt` throws;
   * HLT no longer exits: the vCPU sleeps in the kernel until an interrupt arrives, and its run
   * deadline or a kick still returns it to the VMM. The controllers live as long as the VM fd.
   */
  create(options: { readonly pit: boolean }): void {
    const vm = this.vm;
    assertLive(vm, 'irqchip.create', `VM ${vm.name}`);
    const { native } = this.host;
    if (this.created) {
      throw new WiringError(`irqchip.create: VM ${vm.name} already has its in-kernel irqchip${this.pitCreated ? ' and PIT' : ''}`);
    }
    if (vm.vcpusCreated > 0) {
      throw new WiringError(
        `irqchip.create: VM ${vm.name} already created ${vm.vcpusCreated === 1 ? 'a vCPU' : `${vm.vcpusCreated} vCPUs`}; KVM creates the in-kernel irqchip only before the first vCPU, so call irqchip.create() before createVcpu()`,
      );
    }
    if (options.pit && !this.host.pit2) {
      throw new BackendError('irqchip.create: this KVM lacks KVM_CAP_PIT2 (no in-kernel 8254 PIT); create the irqchip with { pit: false } and emulate the PIT in the VMM', { operation: 'irqchip.create' });
    }
    const ioc = native.ioctls;
    check(`KVM_CREATE_IRQCHIP (VM ${vm.name})`, native.ioctlInt(vm.vmFd, ioc['KVM_CREATE_IRQCHIP']!, 0));
    const L = native.layout.irqLevel;
    this.oIrqLevelIrq = L['irq']! / 4;
    this.oIrqLevelLevel = L['level']! / 4;
    this.iocIrqLine = ioc['KVM_IRQ_LINE']!;
    this.irqLevelArg = new Uint32Array(L['size']! / 4);
    // An addon built before KVM_SIGNAL_MSI was added lacks the layout: MSIs are then refused.
    const M = native.layout.msi as StructLayout | undefined;
    if (M !== undefined && ioc['KVM_SIGNAL_MSI'] !== undefined) {
      this.msiArg = new Uint32Array(M['size']! / 4);
      this.oMsi = { lo: M['address_lo']! / 4, hi: M['address_hi']! / 4, data: M['data']! / 4 };
      this.iocSignalMsi = ioc['KVM_SIGNAL_MSI'];
    }
    if (options.pit) {
      const P = native.layout.pitConfig;
      const config = new Uint32Array(P['size']! / 4); // flags 0: no speaker dummy
      config[P['flags']! / 4] = 0;
      check(`KVM_CREATE_PIT2 (VM ${vm.name})`, native.ioctlBuf(vm.vmFd, ioc['KVM_CREATE_PIT2']!, config));
      this.pitCreated = true;
    }
  }

  /**
   * Sends an MSI to the in-kernel local APICs (KVM_SIGNAL_MSI). KVM returns how many CPUs took
   * it: 0 (a destination no APIC has, a disabled APIC) is false; an error from KVM is false too,
   * since the message is the guest's doing, not the VMM's failure. Allocates nothing.
   */
  signalMsi(address: number, data: number): boolean {
    const arg = this.msiArg;
    if (arg === undefined || this.vm.isDisposed) return false;
    arg[this.oMsi.lo] = address >>> 0;
    arg[this.oMsi.hi] = Math.floor(address / 0x1_0000_0000) >>> 0;
    arg[this.oMsi.data] = data >>> 0;
    return this.host.native.ioctlBuf(this.vm.vmFd, this.iocSignalMsi, arg) > 0;
  }

  /**
   * Drives input `gsi` (0-23) of the in-kernel controllers to `level` (KVM_IRQ_LINE). GSIs 0-15
   * reach both the 8259 pair (IRQ n) and IOAPIC pin n; 16-23 only the IOAPIC. For an
   * edge-triggered input raise and then lower the line; a level-triggered one stays asserted
   * until the device lowers it. Allocates nothing (one ioctl). Needs {@link create}.
   */
  setLine(gsi: number, level: boolean): void {
    const arg = this.irqLevelArg;
    if (arg === undefined || this.vm.isDisposed) {
      assertLive(this.vm, 'irqchip.setLine', `VM ${this.vm.name}`);
      throw new BackendError(
        `irqchip.setLine: VM ${this.vm.name} has no in-kernel irqchip yet; call irqchip.create() before creating vCPUs, or inject vectors with Vcpu.queueInterrupt`,
        { operation: 'irqchip.setLine', values: { gsi } },
      );
    }
    if (!Number.isInteger(gsi) || gsi < 0 || gsi >= IRQCHIP_GSIS) {
      throw new BackendError(`irqchip.setLine: gsi must be an integer 0-${IRQCHIP_GSIS - 1} (the in-kernel IOAPIC's inputs; 0-15 also reach the 8259 PIC), got ${gsi}`, { operation: 'irqchip.setLine', values: { gsi } });
    }
    arg[this.oIrqLevelIrq] = gsi;
    arg[this.oIrqLevelLevel] = level ? 1 : 0;
    const rc = this.host.native.ioctlBuf(this.vm.vmFd, this.iocIrqLine, arg);
    if (rc < 0) throw errnoError(`KVM_IRQ_LINE (gsi ${gsi}, level ${level ? 1 : 0})`, rc);
  }

  /**
   * Reads the in-kernel PIC pair, IOAPIC and PIT (KVM_GET_IRQCHIP, KVM_GET_PIT2): a diagnostic
   * snapshot, not for the hot path (several ioctls, allocates). Needs {@link create}.
   */
  state(): KvmIrqchipState {
    const vm = this.vm;
    assertLive(vm, 'irqchip.state', `VM ${vm.name}`);
    if (!this.created) throw new BackendError(`irqchip.state: VM ${vm.name} has no in-kernel irqchip yet`, { operation: 'irqchip.state' });
    const { native } = this.host;
    const C = native.layout.irqchip;
    const K = native.constants;
    const read = (chipId: number): DataView => {
      const buf = new ArrayBuffer(C['size']!);
      const dv = new DataView(buf);
      dv.setUint32(C['chipId']!, chipId, true);
      check(`KVM_GET_IRQCHIP (chip ${chipId})`, native.ioctlBuf(vm.vmFd, native.ioctls['KVM_GET_IRQCHIP']!, buf));
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
      check('KVM_GET_PIT2', native.ioctlBuf(vm.vmFd, native.ioctls['KVM_GET_PIT2']!, buf));
      const dv = new DataView(buf);
      const ch0 = P['channels']!;
      pit = { mode: dv.getUint8(ch0 + P['mode']!), count: dv.getUint32(ch0 + P['count']!, true), gate: dv.getUint8(ch0 + P['gate']!) };
    }
    return { master: pic(read(K['KVM_IRQCHIP_PIC_MASTER']!)), slave: pic(read(K['KVM_IRQCHIP_PIC_SLAVE']!)), ioapicRedirection, pit };
  }
}
