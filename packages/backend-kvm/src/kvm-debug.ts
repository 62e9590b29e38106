/**
 * KVM's guest debugging ({@link VcpuDebug} through `KVM_SET_GUEST_DEBUG`): up to four hardware
 * breakpoints and watchpoints in the debug registers DR0–DR3 (the guest's own debug registers
 * are left alone: KVM switches them), and single steps (the trap flag, handled by KVM). A hit
 * comes back as `KVM_EXIT_DEBUG`, which the vCPU turns into a `Debug` exit ({@link decodeDebugExit}).
 * x86 has no read-only watchpoint: `read` is refused (gdb then offers `awatch`).
 *
 * The ABI numbers are Linux's (`include/uapi/linux/kvm.h`, stable): they are written here rather
 * than exported by the addon, so a build of the addon without them still loads.
 * @module
 */
import { BackendError, type DebugStop, type VcpuDebug, type Watchpoint } from '@hyvisor/core';

/** `KVM_SET_GUEST_DEBUG`: _IOW(KVMIO, 0x9b, struct kvm_guest_debug), 72 bytes. */
export const KVM_SET_GUEST_DEBUG = 0x4048ae9b;
/** `KVM_CAP_SET_GUEST_DEBUG`. */
export const KVM_CAP_SET_GUEST_DEBUG = 23;
const GUESTDBG_ENABLE = 0x1, GUESTDBG_SINGLESTEP = 0x2, GUESTDBG_USE_HW_BP = 0x20000;
/** struct kvm_guest_debug: control (u32), pad, debugreg[8] (u64) from offset 8. */
const SIZE = 72;
/** kvm_run.debug.arch from the exit union's start: exception (u32), pad, pc, dr6, dr7 (u64). */
const ARCH_EXCEPTION = 0, ARCH_DR6 = 16;
/** DR7 RW field: 00 execute, 01 write, 11 read or write. */
const RW_EXEC = 0, RW_WRITE = 1, RW_ACCESS = 3;
/** DR7 LEN field by length in bytes. */
const LEN: Readonly<Record<number, number>> = { 1: 0, 2: 1, 4: 3, 8: 2 };

interface Slot {
  readonly address: bigint;
  readonly rw: number;
  readonly len: number;
  readonly watch: Watchpoint | undefined;
}

/** The debug controls of one KVM vCPU. */
export class KvmDebug implements VcpuDebug {
  readonly maxBreakpoints = 4;
  /** 4 on hardware KVM; 0 on kvm_pvm, whose ring-0 emulation does not stop on data breakpoints (measured). */
  readonly maxWatchpoints: number;
  lastStop: DebugStop | undefined;
  private breakpoints: bigint[] = [];
  private watchpoints: Watchpoint[] = [];
  private stepping = false;
  private slots: Slot[] = [];
  private readonly arg = new Uint8Array(SIZE);

  constructor(
    /** Issues KVM_SET_GUEST_DEBUG with `arg`; returns the ioctl's result (negative errno). */
    private readonly ioctl: (arg: Uint8Array) => number,
    /** False where the host ignores data breakpoints (kvm_pvm). */
    watchpoints: boolean,
  ) {
    this.maxWatchpoints = watchpoints ? 4 : 0;
  }

  setBreakpoints(addresses: readonly bigint[]): void {
    this.program(addresses, this.watchpoints, this.stepping, 'setBreakpoints');
    this.breakpoints = [...addresses];
  }

  setWatchpoints(watchpoints: readonly Watchpoint[]): void {
    if (watchpoints.length > this.maxWatchpoints) throw new BackendError(`setWatchpoints: this KVM host offers ${this.maxWatchpoints} watchpoints`, { operation: 'setWatchpoints' });
    for (const w of watchpoints) {
      if (w.kind === 'read') throw new BackendError('setWatchpoints: x86 debug registers cannot watch reads alone (use an access watchpoint)', { operation: 'setWatchpoints' });
      if (LEN[w.length] === undefined || BigInt.asUintN(64, w.address) % BigInt(w.length) !== 0n) {
        throw new BackendError(`setWatchpoints: a hardware watchpoint is 1, 2, 4 or 8 bytes at an address aligned to its length, got ${w.length} bytes at 0x${BigInt.asUintN(64, w.address).toString(16)}`, { operation: 'setWatchpoints' });
      }
    }
    this.program(this.breakpoints, watchpoints, this.stepping, 'setWatchpoints');
    this.watchpoints = [...watchpoints];
  }

  setSingleStep(on: boolean): void {
    this.program(this.breakpoints, this.watchpoints, on, 'setSingleStep');
    this.stepping = on;
  }

  /** Reads a `KVM_EXIT_DEBUG` from kvm_run (`dv` at the exit union `at`) into {@link lastStop}. */
  decodeExit(dv: DataView, at: number): void {
    const exception = dv.getUint32(at + ARCH_EXCEPTION, true);
    const dr6 = Number(dv.getBigUint64(at + ARCH_DR6, true) & 0xffffn);
    const hit = this.slots.findIndex((_, i) => (dr6 & (1 << i)) !== 0);
    const slot = hit >= 0 ? this.slots[hit] : undefined;
    if (exception === 1 && slot !== undefined) {
      this.lastStop = slot.watch !== undefined
        ? { kind: 'watchpoint', address: slot.watch.address, access: slot.watch.kind }
        : { kind: 'breakpoint', address: slot.address };
    } else {
      this.lastStop = { kind: 'step' };
    }
  }

  private program(breakpoints: readonly bigint[], watchpoints: readonly Watchpoint[], step: boolean, operation: string): void {
    const slots: Slot[] = [
      ...breakpoints.map((a) => ({ address: BigInt.asUintN(64, a), rw: RW_EXEC, len: 0, watch: undefined })),
      ...watchpoints.map((w) => ({ address: BigInt.asUintN(64, w.address), rw: w.kind === 'write' ? RW_WRITE : RW_ACCESS, len: LEN[w.length]!, watch: w })),
    ];
    if (slots.length > 4) throw new BackendError(`${operation}: KVM has 4 debug registers for breakpoints and watchpoints together, ${slots.length} asked`, { operation });
    const v = new DataView(this.arg.buffer);
    this.arg.fill(0);
    let control = 0;
    // DR7: bits 9-10 as the SDM recommends (GE, reserved 1), a global enable per slot, RW and LEN.
    let dr7 = 0x600n;
    slots.forEach((s, i) => {
      v.setBigUint64(8 + 8 * i, s.address, true);
      dr7 |= (2n << BigInt(2 * i)) | (BigInt(s.rw) << BigInt(16 + 4 * i)) | (BigInt(s.len) << BigInt(18 + 4 * i));
    });
    if (slots.length > 0) { control |= GUESTDBG_ENABLE | GUESTDBG_USE_HW_BP; v.setBigUint64(8 + 8 * 7, dr7, true); }
    if (step) control |= GUESTDBG_ENABLE | GUESTDBG_SINGLESTEP;
    v.setUint32(0, control, true);
    const rc = this.ioctl(this.arg);
    if (rc < 0) throw new BackendError(`${operation}: KVM_SET_GUEST_DEBUG failed (errno ${-rc})`, { operation: 'KVM_SET_GUEST_DEBUG' });
    this.slots = slots;
  }
}
