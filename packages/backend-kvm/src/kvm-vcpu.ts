/**
 * `KvmVcpu`: one KVM vCPU and the hot path. {@link KvmVcpu.run} issues exactly one ioctl
 * (KVM_RUN; KVM_INTERRUPT only when it actually injects), allocates nothing, and fills the
 * vCPU's reusable {@link VmExit} from typed views over the shared `kvm_run` page.
 *
 * Two interrupt modes, fixed when the vCPU is created: without an in-kernel irqchip the VMM
 * queues vectors ({@link KvmVcpu.queueInterrupt}) and run() injects them with KVM_INTERRUPT and
 * interrupt-window exits; after `KvmVm.irqchip.create()` the kernel's PIC/IOAPIC/LAPIC deliver
 * interrupts, run() never touches KVM_INTERRUPT or `request_interrupt_window`, and HLT sleeps in
 * the kernel (only the deadline, a kick or a signal return such a vCPU to the VMM).
 *
 * Registers travel through KVM_CAP_SYNC_REGS: KVM copies regs, sregs and events into `kvm_run`
 * on every exit, {@link KvmVcpu.getRegisters} reads that copy and {@link KvmVcpu.setRegisters}
 * writes it and sets `kvm_dirty_regs`, so KVM loads it on the next entry. Each of those would
 * otherwise be a ~9 µs ioctl on kvm_pvm. Without the capability the ioctls are used.
 * @module
 */
import {
  BackendError,
  DisposableStore,
  ExitKind,
  InterruptQueue,
  REGISTER_NAMES,
  assertLive,
  createExit,
  type CpuidEntry,
  type DescriptorTable,
  type RegisterName,
  type Registers,
  type Segment,
  type SpecialRegisters,
  type Vcpu,
  type VcpuDebug,
  type VcpuEvents,
  type VmExit,
  FXSAVE_SIZE,
} from '@hyvisor/core';
import type { KvmHost } from './kvm-backend.js';
import { KVM_SET_GUEST_DEBUG, KvmDebug } from './kvm-debug.js';
import { check, checkBuffer, errnoError, type KvmNative, type StructLayout } from './native.js';

/** errno values the run path compares against (Linux x86-64). */
const EINTR = 4, EEXIST = 17, E2BIG = 7;
const SEGMENTS = ['cs', 'ds', 'es', 'fs', 'gs', 'ss', 'tr', 'ldt'] as const;

/** A Linux KVM vCPU. Create it with {@link KvmVm.createVcpu}. */
export class KvmVcpu implements Vcpu {
  /** The reused exit record; `data` is a DataView over the whole kvm_run mapping. */
  readonly exit: VmExit;
  /** Hardware breakpoints, watchpoints and single steps (KVM_SET_GUEST_DEBUG), where the host offers them. */
  readonly debug: VcpuDebug | undefined;
  /** {@link debug} as its class (the exit path decodes KVM_EXIT_DEBUG through it). */
  private readonly kvmDebug: KvmDebug | undefined;
  private readonly native: KvmNative;
  private readonly store = new DisposableStore();
  private readonly fd: number;
  private readonly handle: number;
  private readonly dv: DataView;
  private readonly u8: Uint8Array;
  private readonly sync: boolean;
  /** Views of the synced `kvm_regs` / `kvm_sregs` inside kvm_run (with sync-regs), made once. */
  private syncRegsView: DataView | undefined;
  private syncSregsView: DataView | undefined;

  // kvm_run offsets, copied into fields once so the hot path reads plain numbers.
  private readonly oExitReason: number;
  private readonly oReqWindow: number;
  private readonly oReady: number;
  private readonly oIfFlag: number;
  private readonly oIoDir: number;
  private readonly oIoSize: number;
  private readonly oIoPort: number;
  private readonly oIoCount: number;
  private readonly oIoDataOffset: number;
  private readonly oMmioAddr: number;
  private readonly oMmioData: number;
  private readonly oMmioLen: number;
  private readonly oMmioWrite: number;
  private readonly oDirty: number;
  private readonly oSyncRegs: number;
  private readonly oSyncSregs: number;
  private readonly ioOut: number;
  private readonly exitIo: number;
  private readonly exitMmio: number;
  private readonly exitHlt: number;
  private readonly exitIrqWindow: number;
  private readonly exitShutdown: number;
  private readonly exitIntr: number;
  private readonly iocInterrupt: number;

  /** Vectors waiting for KVM_INTERRUPT (never used with an in-kernel irqchip). */
  private readonly irqs = new InterruptQueue();
  /** KVM_INTERRUPT argument, preallocated so injection does not allocate. */
  private readonly irqArg: Uint32Array;

  /** @internal Created by {@link KvmVm.createVcpu}. */
  constructor(
    private readonly host: KvmHost,
    vmFd: number,
    /** vCPU number (0-based). */
    readonly id: number,
    /**
     * True if the VM has an in-kernel irqchip: interrupts come from the kernel's LAPIC and
     * {@link queueInterrupt} is refused.
     */
    readonly inKernelIrqchip: boolean,
    onDispose: () => void,
  ) {
    const native = (this.native = host.native);
    const L = native.layout.run;
    const X = native.exitReasons;
    this.store.defer(onDispose);
    try {
      const fd = check(`KVM_CREATE_VCPU (vCPU ${id})`, native.ioctlInt(vmFd, native.ioctls['KVM_CREATE_VCPU']!, id));
      this.fd = fd;
      this.store.defer(() => native.close(fd));
      const run = checkBuffer(`mmap kvm_run of vCPU ${id}`, native.mmap(host.vcpuMmapSize, fd));
      this.store.defer(() => native.munmap(run));
      const handle = check(`deadline timer of vCPU ${id}`, native.vcpuAttach(fd, run));
      this.handle = handle;
      // Runs before the munmap above: the signal handler stops writing into kvm_run first.
      this.store.defer(() => native.vcpuDetach(handle));
      this.dv = new DataView(run);
      this.u8 = new Uint8Array(run);
    } catch (err) {
      this.store.dispose();
      throw err;
    }
    this.exit = createExit(this.dv);
    const debugFd = this.fd;
    this.debug = this.kvmDebug = host.guestDebug ? new KvmDebug((arg) => native.ioctlBuf(debugFd, KVM_SET_GUEST_DEBUG, arg), host.flavour !== 'kvm_pvm') : undefined;
    this.irqArg = new Uint32Array(native.layout.interrupt['size']! / 4);

    this.oExitReason = L['exitReason']!;
    this.oReqWindow = L['requestInterruptWindow']!;
    this.oReady = L['readyForInterruptInjection']!;
    this.oIfFlag = L['ifFlag']!;
    this.oIoDir = L['ioDirection']!;
    this.oIoSize = L['ioSize']!;
    this.oIoPort = L['ioPort']!;
    this.oIoCount = L['ioCount']!;
    this.oIoDataOffset = L['ioDataOffset']!;
    this.oMmioAddr = L['mmioPhysAddr']!;
    this.oMmioData = L['mmioData']!;
    this.oMmioLen = L['mmioLen']!;
    this.oMmioWrite = L['mmioIsWrite']!;
    this.oDirty = L['kvmDirtyRegs']!;
    this.oSyncRegs = L['syncRegs']!;
    this.oSyncSregs = L['syncSregs']!;
    this.ioOut = native.constants['KVM_EXIT_IO_OUT']!;
    this.exitIo = X['KVM_EXIT_IO']!;
    this.exitMmio = X['KVM_EXIT_MMIO']!;
    this.exitHlt = X['KVM_EXIT_HLT']!;
    this.exitIrqWindow = X['KVM_EXIT_IRQ_WINDOW_OPEN']!;
    this.exitShutdown = X['KVM_EXIT_SHUTDOWN']!;
    this.exitIntr = X['KVM_EXIT_INTR']!;
    this.iocInterrupt = native.ioctls['KVM_INTERRUPT']!;

    this.sync = host.syncRegs;
    if (this.sync) {
      // Seed the synced copy once (set-up path), then ask KVM to refresh it on every exit. Only
      // the general registers: the exit path needs them (hypercall arguments), while having KVM
      // store the special registers and events on every exit as well costs ~0.7 µs per exit on
      // kvm_pvm (measured with bench exit-cost) for state the VMM reads only on rare paths.
      const K = native.constants;
      const ioc = native.ioctls;
      const u8 = this.u8;
      check('KVM_GET_REGS', native.ioctlBuf(this.fd, ioc['KVM_GET_REGS']!, u8.subarray(this.oSyncRegs)));
      this.dv.setBigUint64(L['kvmValidRegs']!, BigInt(K['KVM_SYNC_X86_REGS']!), true);
      this.dv.setBigUint64(this.oDirty, 0n, true);
      this.syncRegsView = new DataView(this.dv.buffer, this.oSyncRegs, native.layout.regs['size']);
    }
  }

  /** True once {@link dispose} has run. */
  get isDisposed(): boolean {
    return this.store.isDisposed;
  }

  private live(operation: string): void {
    assertLive(this.store, operation, `vCPU ${this.id}`);
  }

  // ------------------------------------------------------------------ hot path

  /**
   * Enters the guest until the next exit and returns {@link exit}, filled in place. A deadline,
   * a kick or any signal (e.g. SIGINT) returns a `Deadline` exit so the event loop gets its turn,
   * also while the vCPU sleeps in the kernel after HLT (in-kernel irqchip: KVM_RUN returns EINTR).
   * Allocates nothing on the common exits; error exits build a `reason` string.
   */
  run(): VmExit {
    if (this.store.isDisposed) throw new BackendError(`run: vCPU ${this.id} is disposed`, { operation: 'run' });
    // Never true with an in-kernel irqchip (queueInterrupt refuses), so such a vCPU never issues
    // KVM_INTERRUPT nor touches request_interrupt_window: KVM injects from its own LAPIC.
    if (this.irqs.size > 0) this.injectPending();
    const exit = this.exit;
    const rc = this.native.vcpuRun(this.handle);
    if (rc < 0) {
      if (rc === -EINTR) {
        exit.kind = ExitKind.Deadline;
        return exit;
      }
      throw errnoError(`KVM_RUN (vCPU ${this.id})`, rc);
    }
    const dv = this.dv;
    const reason = dv.getUint32(this.oExitReason, true);
    if (reason === this.exitIo) {
      exit.kind = ExitKind.Io;
      exit.port = dv.getUint16(this.oIoPort, true);
      exit.size = dv.getUint8(this.oIoSize);
      exit.write = dv.getUint8(this.oIoDir) === this.ioOut;
      exit.count = dv.getUint32(this.oIoCount, true);
      // data_offset is a u64 but always within the mapping: the low word is enough.
      exit.dataOffset = dv.getUint32(this.oIoDataOffset, true);
    } else if (reason === this.exitMmio) {
      exit.kind = ExitKind.Mmio;
      exit.gpa = dv.getUint32(this.oMmioAddr, true) + dv.getUint32(this.oMmioAddr + 4, true) * 0x1_0000_0000;
      exit.size = dv.getUint32(this.oMmioLen, true);
      exit.write = dv.getUint8(this.oMmioWrite) !== 0;
      exit.count = 1;
      exit.dataOffset = this.oMmioData;
    } else if (reason === this.exitHlt) {
      exit.kind = ExitKind.Hlt;
    } else if (reason === this.exitIrqWindow) {
      exit.kind = ExitKind.IrqWindow;
    } else if (reason === this.exitIntr) {
      exit.kind = ExitKind.Deadline;
    } else if (reason === this.exitShutdown) {
      exit.kind = ExitKind.Shutdown;
    } else {
      this.rareExit(reason);
    }
    return exit;
  }

  /**
   * Injects the oldest pending vector if the guest can take it now (the flags KVM reported at
   * the last exit); otherwise asks KVM for an interrupt-window exit.
   */
  private injectPending(): void {
    const u8 = this.u8;
    const irqs = this.irqs;
    if (u8[this.oReady] !== 0 && u8[this.oIfFlag] !== 0) {
      this.irqArg[0] = irqs.peek();
      const rc = this.native.ioctlBuf(this.fd, this.iocInterrupt, this.irqArg);
      if (rc >= 0) {
        irqs.drop();
      } else if (rc !== -EEXIST) {
        // EEXIST: KVM still holds the previous vector; retry after the next exit.
        throw errnoError(`KVM_INTERRUPT (vCPU ${this.id})`, rc);
      }
    }
    u8[this.oReqWindow] = irqs.size > 0 ? 1 : 0;
  }

  /** Fills the exit for the rare exit reasons; strings are built only here. */
  private rareExit(reason: number): void {
    const exit = this.exit;
    const X = this.native.exitReasons;
    const L = this.native.layout.run;
    const dv = this.dv;
    exit.rip = this.currentRip();
    if (reason === X['KVM_EXIT_INTERNAL_ERROR']) {
      const sub = dv.getUint32(L['internalSuberror']!, true);
      const n = Math.min(dv.getUint32(L['internalNdata']!, true), L['internalDataMax']!);
      const words: string[] = [];
      for (let i = 0; i < n; i++) words.push('0x' + dv.getBigUint64(L['internalData']! + 8 * i, true).toString(16));
      exit.kind = ExitKind.InternalError;
      exit.reason = `KVM internal error: suberror ${sub}${SUBERRORS[sub] ? ` (${SUBERRORS[sub]})` : ''}, data [${words.join(', ')}] at rip 0x${exit.rip.toString(16)}`;
    } else if (reason === X['KVM_EXIT_FAIL_ENTRY']) {
      const hw = dv.getBigUint64(L['failEntryReason']!, true);
      exit.kind = ExitKind.FailEntry;
      exit.reason = `KVM entry failed: hardware_entry_failure_reason 0x${hw.toString(16)} on cpu ${dv.getUint32(L['failEntryCpu']!, true)} at rip 0x${exit.rip.toString(16)}`;
    } else if (reason === X['KVM_EXIT_DEBUG'] && this.kvmDebug !== undefined) {
      exit.kind = ExitKind.Debug;
      this.kvmDebug.decodeExit(dv, L['hwExitReason']!);
    } else if (reason === X['KVM_EXIT_HYPERCALL']) {
      exit.kind = ExitKind.Hypercall;
      exit.hypercall = Number(dv.getBigUint64(L['hypercallNr']!, true));
    } else if (reason === X['KVM_EXIT_SYSTEM_EVENT']) {
      exit.kind = ExitKind.Shutdown;
      exit.reason = `KVM system event (type ${dv.getUint32(L['hwExitReason']!, true)})`;
    } else {
      exit.kind = ExitKind.Unknown;
      const name = Object.keys(X).find((k) => X[k] === reason) ?? 'unnamed';
      exit.reason = `unknown KVM exit reason ${reason} (${name}), hardware exit reason 0x${dv.getBigUint64(L['hwExitReason']!, true).toString(16)}, at rip 0x${exit.rip.toString(16)}`;
    }
  }

  private currentRip(): bigint {
    try {
      return this.reg('rip');
    } catch {
      return 0n;
    }
  }

  // ------------------------------------------------------------------ deadline and kick

  /** Arms a one-shot deadline `ms` from now (0 disarms); re-arming replaces it. */
  setDeadline(ms: number): void {
    this.live('setDeadline');
    if (!(ms >= 0)) throw new BackendError(`setDeadline: expected milliseconds >= 0, got ${ms}`, { operation: 'setDeadline' });
    check('timer_settime (vCPU deadline)', this.native.vcpuSetDeadline(this.handle, ms));
  }

  /**
   * Makes the running or next {@link run} return a `Deadline` exit. From the vCPU's own thread it
   * only sets `immediate_exit`; from another thread it also signals the vCPU's thread, so a
   * KVM_RUN in progress returns.
   */
  kick(): void {
    this.live('kick');
    check('kick', this.native.vcpuKick(this.handle));
  }

  // ------------------------------------------------------------------ interrupts

  /**
   * Queues external interrupt `vector` (0–255). Returns false when the 16-entry queue is full.
   * Throws {@link BackendError} if the VM has an in-kernel irqchip (`KvmVm.irqchip.create()`):
   * KVM then owns injection and device interrupts go through `vm.irqchip.setLine`.
   */
  queueInterrupt(vector: number): boolean {
    this.live('queueInterrupt');
    if (this.inKernelIrqchip) {
      throw new BackendError(
        `queueInterrupt(${vector}): vCPU ${this.id} belongs to a VM with an in-kernel irqchip, where KVM injects interrupts itself (KVM_INTERRUPT is refused); raise the device's input with vm.irqchip.setLine(gsi, level) instead`,
        { operation: 'queueInterrupt', values: { vector } },
      );
    }
    return this.irqs.push(vector);
  }

  /** Vectors queued but not yet handed to KVM. */
  get pendingInterrupts(): number {
    return this.irqs.size;
  }

  /**
   * The vCPU's multiprocessing state (KVM_GET_MP_STATE): `halted` while it sleeps in the kernel
   * after HLT with an in-kernel irqchip, `runnable` otherwise. Diagnostic: one ioctl, allocates.
   */
  /** True if the guest could take an interrupt at the last exit (IF=1, no shadow) and none is queued. */
  get interruptWindowOpen(): boolean {
    const u8 = this.u8;
    return this.irqs.size === 0 && u8[this.oReady] !== 0 && u8[this.oIfFlag] !== 0;
  }

  /** Sets or clears `request_interrupt_window` in kvm_run for the next entry (no ioctl). */
  setInterruptWindowRequest(on: boolean): void {
    if (this.inKernelIrqchip) return;
    this.u8[this.oReqWindow] = on ? 1 : 0;
  }

  /** True if KVM holds the vCPU halted, waiting for an interrupt (in-kernel irqchip only). */
  isHalted(): boolean {
    return this.inKernelIrqchip && this.mpState() === 'halted';
  }

  mpState(): 'runnable' | 'halted' | `other(${number})` {
    this.live('mpState');
    const M = this.native.layout.mpState;
    const buf = new Uint32Array(M['size']! / 4);
    check('KVM_GET_MP_STATE', this.native.ioctlBuf(this.fd, this.native.ioctls['KVM_GET_MP_STATE']!, buf));
    const state = buf[M['mpState']! / 4]!;
    const K = this.native.constants;
    if (state === K['KVM_MP_STATE_RUNNABLE']) return 'runnable';
    if (state === K['KVM_MP_STATE_HALTED']) return 'halted';
    return `other(${state})`;
  }

  /**
   * Reads one 32-bit register of the in-kernel local APIC (KVM_GET_LAPIC) at `offset` into the
   * xAPIC page (0x20 ID, 0xF0 SVR, 0x320 LVT timer, 0x390 current count, …). Diagnostic.
   */
  lapicRegister(offset: number): number {
    this.live('lapicRegister');
    if (!this.inKernelIrqchip) throw new BackendError(`lapicRegister: vCPU ${this.id} has no in-kernel local APIC (irqchip.create() was not called)`, { operation: 'lapicRegister' });
    if (!Number.isInteger(offset) || offset < 0 || offset > 0x3fc || offset % 4 !== 0) {
      throw new BackendError(`lapicRegister: offset must be a multiple of 4 in 0-0x3fc, got ${offset}`, { operation: 'lapicRegister' });
    }
    const A = this.native.layout.lapicState;
    const buf = new ArrayBuffer(A['size']!);
    check('KVM_GET_LAPIC', this.native.ioctlBuf(this.fd, this.native.ioctls['KVM_GET_LAPIC']!, buf));
    return new DataView(buf).getUint32(A['regs']! + offset, true);
  }

  // ------------------------------------------------------------------ registers

  /** A view of `struct kvm_regs`: the synced copy in kvm_run, or a fresh KVM_GET_REGS. */
  private regsView(): DataView {
    if (this.syncRegsView) return this.syncRegsView;
    const buf = new ArrayBuffer(this.native.layout.regs['size']!);
    check('KVM_GET_REGS', this.native.ioctlBuf(this.fd, this.native.ioctls['KVM_GET_REGS']!, buf));
    return new DataView(buf);
  }

  private commitRegs(view: DataView): void {
    if (this.sync) this.markDirty(this.native.constants['KVM_SYNC_X86_REGS']!);
    else check('KVM_SET_REGS', this.native.ioctlBuf(this.fd, this.native.ioctls['KVM_SET_REGS']!, view));
  }

  private markDirty(bit: number): void {
    const lo = this.dv.getUint32(this.oDirty, true);
    this.dv.setUint32(this.oDirty, lo | bit, true);
  }

  /** One general register as a number (exact below 2^53); the synced copy, no ioctl, no allocation. */
  readRegister(name: RegisterName): number {
    const view = this.regsView();
    const off = this.native.layout.regs[name]!;
    return view.getUint32(off, true) + view.getUint32(off + 4, true) * 0x1_0000_0000;
  }

  /** Sets one general register from a number (two's complement for negatives); applied on the next run. */
  writeRegister(name: RegisterName, value: number): void {
    const view = this.regsView();
    const off = this.native.layout.regs[name]!;
    view.setUint32(off, value >>> 0, true);
    view.setUint32(off + 4, Math.floor(value / 0x1_0000_0000) >>> 0, true);
    this.commitRegs(view);
  }

  /** One general register (the synced copy with sync-regs: no ioctl). */
  reg(name: RegisterName): bigint {
    this.live('reg');
    return this.regsView().getBigUint64(this.native.layout.regs[name]!, true);
  }

  /** Sets one general register; it reaches the vCPU on the next {@link run}. */
  setReg(name: RegisterName, value: bigint): void {
    this.live('setReg');
    const view = this.regsView();
    view.setBigUint64(this.native.layout.regs[name]!, BigInt.asUintN(64, value), true);
    this.commitRegs(view);
  }

  /** General registers (after an exit: KVM's synced copy, no ioctl). */
  getRegisters(): Registers {
    this.live('getRegisters');
    const view = this.regsView();
    const L = this.native.layout.regs;
    const out = {} as Registers;
    for (const name of REGISTER_NAMES) out[name] = view.getBigUint64(L[name]!, true);
    return out;
  }

  /** Sets general registers; with sync-regs they are written to kvm_run and loaded on the next entry. */
  setRegisters(regs: Registers): void {
    this.live('setRegisters');
    const view = this.regsView();
    const L = this.native.layout.regs;
    for (const name of REGISTER_NAMES) view.setBigUint64(L[name]!, BigInt.asUintN(64, regs[name]), true);
    this.commitRegs(view);
  }

  private sregsView(): DataView {
    if (this.syncSregsView) return this.syncSregsView;
    const size = this.native.layout.sregs['size']!;
    const buf = new ArrayBuffer(size);
    check('KVM_GET_SREGS', this.native.ioctlBuf(this.fd, this.native.ioctls['KVM_GET_SREGS']!, buf));
    return new DataView(buf);
  }

  /** Segment, control and descriptor-table registers. */
  getSpecialRegisters(): SpecialRegisters {
    this.live('getSpecialRegisters');
    const v = this.sregsView();
    const S = this.native.layout.sregs;
    const seg = (name: string): Segment => readSegment(v, S[name]!, this.native.layout.segment);
    const dt = (name: string): DescriptorTable => ({
      base: v.getBigUint64(S[name]! + this.native.layout.dtable['base']!, true),
      limit: v.getUint16(S[name]! + this.native.layout.dtable['limit']!, true),
    });
    const u64 = (name: string): bigint => v.getBigUint64(S[name]!, true);
    return {
      cs: seg('cs'), ds: seg('ds'), es: seg('es'), fs: seg('fs'), gs: seg('gs'), ss: seg('ss'),
      tr: seg('tr'), ldt: seg('ldt'),
      gdt: dt('gdt'), idt: dt('idt'),
      cr0: u64('cr0'), cr2: u64('cr2'), cr3: u64('cr3'), cr4: u64('cr4'), cr8: u64('cr8'),
      efer: u64('efer'), apicBase: u64('apicBase'),
    };
  }

  /** Sets segment, control and descriptor-table registers (the pending-interrupt bitmap is kept). */
  setSpecialRegisters(sregs: SpecialRegisters): void {
    this.live('setSpecialRegisters');
    const v = this.sregsView();
    const S = this.native.layout.sregs;
    for (const name of SEGMENTS) writeSegment(v, S[name]!, this.native.layout.segment, sregs[name]);
    for (const name of ['gdt', 'idt'] as const) {
      v.setBigUint64(S[name]! + this.native.layout.dtable['base']!, BigInt.asUintN(64, sregs[name].base), true);
      v.setUint16(S[name]! + this.native.layout.dtable['limit']!, sregs[name].limit, true);
    }
    for (const name of ['cr0', 'cr2', 'cr3', 'cr4', 'cr8', 'efer', 'apicBase'] as const) {
      v.setBigUint64(S[name]!, BigInt.asUintN(64, sregs[name]), true);
    }
    if (this.syncSregsView) this.markDirty(this.native.constants['KVM_SYNC_X86_SREGS']!);
    else check('KVM_SET_SREGS', this.native.ioctlBuf(this.fd, this.native.ioctls['KVM_SET_SREGS']!, v));
  }

  // ------------------------------------------------------------------ CPUID and MSRs

  /** The CPUID leaves KVM can offer on this host (KVM_GET_SUPPORTED_CPUID). */
  supportedCpuid(): CpuidEntry[] {
    this.live('supportedCpuid');
    const C = this.native.layout.cpuid;
    for (let nent = 128; nent <= 4096; nent *= 2) {
      const buf = new ArrayBuffer(C['headerSize']! + nent * C['entrySize']!);
      const dv = new DataView(buf);
      dv.setUint32(C['nent']!, nent, true);
      const rc = this.native.ioctlBuf(this.host.kvmFd, this.native.ioctls['KVM_GET_SUPPORTED_CPUID']!, buf);
      if (rc === -E2BIG) continue;
      check('KVM_GET_SUPPORTED_CPUID', rc);
      const n = dv.getUint32(C['nent']!, true);
      const out: CpuidEntry[] = [];
      for (let i = 0; i < n; i++) {
        const o = C['headerSize']! + i * C['entrySize']!;
        const u = (f: string): number => dv.getUint32(o + C[f]!, true);
        out.push({ function: u('function'), index: u('index'), flags: u('flags'), eax: u('eax'), ebx: u('ebx'), ecx: u('ecx'), edx: u('edx') });
      }
      return out;
    }
    throw new BackendError('KVM_GET_SUPPORTED_CPUID failed: more than 4096 leaves', { operation: 'KVM_GET_SUPPORTED_CPUID' });
  }

  /**
   * Sets the CPUID leaves the guest sees (KVM_SET_CPUID2). Call it before the first {@link run}:
   * recent kernels refuse to change CPUID once the vCPU has run.
   */
  setCpuid(entries: readonly CpuidEntry[]): void {
    this.live('setCpuid');
    const C = this.native.layout.cpuid;
    const buf = new ArrayBuffer(C['headerSize']! + entries.length * C['entrySize']!);
    const dv = new DataView(buf);
    dv.setUint32(C['nent']!, entries.length, true);
    entries.forEach((e, i) => {
      const o = C['headerSize']! + i * C['entrySize']!;
      for (const f of ['function', 'index', 'flags', 'eax', 'ebx', 'ecx', 'edx'] as const) {
        dv.setUint32(o + C[f]!, e[f] >>> 0, true);
      }
    });
    check(`KVM_SET_CPUID2 (${entries.length} leaves)`, this.native.ioctlBuf(this.fd, this.native.ioctls['KVM_SET_CPUID2']!, buf));
  }

  private msrBuffer(index: number, value: bigint): { buf: ArrayBuffer; dv: DataView; data: number } {
    if (!Number.isInteger(index) || index < 0 || index > 0xffff_ffff) {
      throw new BackendError(`MSR index must be a 32-bit integer, got ${index}`, { operation: 'msr', values: { index } });
    }
    const M = this.native.layout.msrs;
    const buf = new ArrayBuffer(M['headerSize']! + M['entrySize']!);
    const dv = new DataView(buf);
    dv.setUint32(M['nmsrs']!, 1, true);
    dv.setUint32(M['headerSize']! + M['index']!, index, true);
    const data = M['headerSize']! + M['data']!;
    dv.setBigUint64(data, BigInt.asUintN(64, value), true);
    return { buf, dv, data };
  }

  /** Reads MSR `index` (KVM_GET_MSRS). */
  getMsr(index: number): bigint {
    this.live('getMsr');
    const { buf, dv, data } = this.msrBuffer(index, 0n);
    const n = check(`KVM_GET_MSRS 0x${index.toString(16)}`, this.native.ioctlBuf(this.fd, this.native.ioctls['KVM_GET_MSRS']!, buf));
    if (n !== 1) throw new BackendError(`KVM_GET_MSRS failed: MSR 0x${index.toString(16)} is not readable on this KVM`, { operation: 'KVM_GET_MSRS', values: { index } });
    return dv.getBigUint64(data, true);
  }

  /** Writes MSR `index` (KVM_SET_MSRS). */
  setMsr(index: number, value: bigint): void {
    this.live('setMsr');
    const { buf } = this.msrBuffer(index, value);
    const n = check(`KVM_SET_MSRS 0x${index.toString(16)}`, this.native.ioctlBuf(this.fd, this.native.ioctls['KVM_SET_MSRS']!, buf));
    if (n !== 1) throw new BackendError(`KVM_SET_MSRS failed: MSR 0x${index.toString(16)} rejected the value 0x${value.toString(16)}`, { operation: 'KVM_SET_MSRS', values: { index, value } });
  }

  // ------------------------------------------------------------------ FPU and events

  /**
   * The x87/SSE state as an FXSAVE64 image: the legacy region of KVM_GET_XSAVE, which is that
   * image byte for byte. (KVM_GET_FPU/KVM_SET_FPU would be smaller, but the kernel's SET_FPU
   * ignores MXCSR and GET_FPU reads it back as 0 on this host.)
   */
  getFpu(): Uint8Array {
    this.live('getFpu');
    return this.xsaveArea().slice(0, FXSAVE_SIZE);
  }

  /**
   * Loads an FXSAVE64 image: KVM_GET_XSAVE, the legacy region replaced (MXCSR_MASK kept as the
   * CPU reports it) and XSTATE_BV's x87 and SSE bits set so the image is used, KVM_SET_XSAVE.
   * Other XSAVE components (AVX upper halves, …) are kept.
   */
  setFpu(image: Uint8Array): void {
    this.live('setFpu');
    if (image.length !== FXSAVE_SIZE) throw new BackendError(`setFpu: expected a ${FXSAVE_SIZE}-byte FXSAVE image, got ${image.length} bytes`, { operation: 'setFpu' });
    const area = this.xsaveArea();
    const dv = new DataView(area.buffer);
    const mask = dv.getUint32(28, true) || 0xffff;
    const mxcsr = new DataView(image.buffer, image.byteOffset).getUint32(24, true);
    if ((mxcsr & ~mask) !== 0) {
      throw new BackendError(`setFpu: MXCSR 0x${mxcsr.toString(16)} sets bits this CPU does not implement (mask 0x${mask.toString(16)})`, { operation: 'setFpu' });
    }
    area.set(image.subarray(0, 28), 0);
    area.set(image.subarray(32, 416), 32);
    dv.setBigUint64(512, dv.getBigUint64(512, true) | 3n, true); // XSTATE_BV: x87, SSE
    check('KVM_SET_XSAVE', this.native.ioctlBuf(this.fd, this.native.ioctls['KVM_SET_XSAVE']!, area));
  }

  private xsaveArea(): Uint8Array {
    const area = new Uint8Array(this.native.layout.xsave['size']!);
    check('KVM_GET_XSAVE', this.native.ioctlBuf(this.fd, this.native.ioctls['KVM_GET_XSAVE']!, area));
    return area;
  }

  /** Events (KVM_GET_VCPU_EVENTS) plus the vectors still in this vCPU's userspace queue. */
  getEvents(): VcpuEvents {
    this.live('getEvents');
    const E = this.native.layout.vcpuEvents;
    const buf = new ArrayBuffer(E['size']!);
    check('KVM_GET_VCPU_EVENTS', this.native.ioctlBuf(this.fd, this.native.ioctls['KVM_GET_VCPU_EVENTS']!, buf));
    const v = new DataView(buf);
    const u8 = (f: string): number => v.getUint8(E[f]!);
    const exception = u8('exceptionInjected') !== 0 || u8('exceptionPending') !== 0
      ? { vector: u8('exceptionNr'), errorCode: u8('exceptionHasErrorCode') !== 0 ? v.getUint32(E['exceptionErrorCode']!, true) : null }
      : null;
    return {
      exception,
      interrupt: u8('interruptInjected') !== 0 && u8('interruptSoft') === 0 ? u8('interruptNr') : null,
      shadow: u8('interruptShadow') !== 0,
      nmiPending: u8('nmiPending') !== 0 || u8('nmiInjected') !== 0,
      nmiMasked: u8('nmiMasked') !== 0,
      queued: this.irqs.toArray(),
    };
  }

  /** Loads events (KVM_SET_VCPU_EVENTS, with the shadow and NMI-pending fields) and replaces the userspace queue. */
  setEvents(events: VcpuEvents): void {
    this.live('setEvents');
    if (events.queued.length > 0 && this.inKernelIrqchip) {
      throw new BackendError(`setEvents: vCPU ${this.id} has an in-kernel irqchip, which cannot take ${events.queued.length} userspace-queued vector(s)`, { operation: 'setEvents' });
    }
    const E = this.native.layout.vcpuEvents;
    const buf = new ArrayBuffer(E['size']!);
    const v = new DataView(buf);
    const set = (f: string, n: number): void => v.setUint8(E[f]!, n);
    if (events.exception) {
      set('exceptionInjected', 1);
      set('exceptionNr', events.exception.vector);
      set('exceptionHasErrorCode', events.exception.errorCode === null ? 0 : 1);
      v.setUint32(E['exceptionErrorCode']!, events.exception.errorCode ?? 0, true);
    }
    if (events.interrupt !== null) { set('interruptInjected', 1); set('interruptNr', events.interrupt); }
    set('interruptShadow', events.shadow ? 1 : 0);
    set('nmiPending', events.nmiPending ? 1 : 0);
    set('nmiMasked', events.nmiMasked ? 1 : 0);
    v.setUint32(E['flags']!, E['VALID_NMI_PENDING']! | E['VALID_SHADOW']!, true);
    check('KVM_SET_VCPU_EVENTS', this.native.ioctlBuf(this.fd, this.native.ioctls['KVM_SET_VCPU_EVENTS']!, buf));
    this.irqs.clear();
    for (const vector of events.queued) this.irqs.push(vector);
  }

  // ------------------------------------------------------------------ lifecycle

  /** Stops the deadline timer, unmaps kvm_run and closes the vCPU fd. */
  dispose(): void {
    this.store.dispose();
  }
}

/** Names of KVM_INTERNAL_ERROR suberrors, for messages. */
const SUBERRORS: Readonly<Record<number, string>> = {
  1: 'emulation failure',
  2: 'simultaneous exceptions',
  3: 'delivery event',
  4: 'unexpected exit reason',
};

function readSegment(v: DataView, base: number, L: StructLayout): Segment {
  const b = (f: string): boolean => v.getUint8(base + L[f]!) !== 0;
  return {
    base: v.getBigUint64(base + L['base']!, true),
    limit: v.getUint32(base + L['limit']!, true),
    selector: v.getUint16(base + L['selector']!, true),
    type: v.getUint8(base + L['type']!),
    present: b('present'),
    dpl: v.getUint8(base + L['dpl']!),
    db: b('db'), s: b('s'), l: b('l'), g: b('g'), avl: b('avl'), unusable: b('unusable'),
  };
}

function writeSegment(v: DataView, base: number, L: StructLayout, s: Segment): void {
  const b = (f: string, x: boolean): void => v.setUint8(base + L[f]!, x ? 1 : 0);
  v.setBigUint64(base + L['base']!, BigInt.asUintN(64, s.base), true);
  v.setUint32(base + L['limit']!, s.limit >>> 0, true);
  v.setUint16(base + L['selector']!, s.selector, true);
  v.setUint8(base + L['type']!, s.type);
  v.setUint8(base + L['dpl']!, s.dpl);
  b('present', s.present); b('db', s.db); b('s', s.s); b('l', s.l); b('g', s.g); b('avl', s.avl); b('unusable', s.unusable);
}
