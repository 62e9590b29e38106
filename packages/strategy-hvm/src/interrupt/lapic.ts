/**
 * A userspace local APIC in xAPIC mode (MMIO page at `PlatformMmio.LAPIC`, 0xFEE00000), after
 * the Intel SDM vol. 3A chapter 11 ("Advanced Programmable Interrupt Controller"), for one vCPU.
 *
 * Modelled: ID, version, TPR, PPR, EOI, LDR, DFR, SVR (software enable, spurious vector),
 * ISR/TMR/IRR (8 × 32 bits each), ESR (write-then-read latching; send/receive illegal vector and
 * illegal register address), ICR (fixed self-IPIs delivered; every other IPI counted and handed
 * to {@link Lapic.onIpi}), the six LVT entries (timer, thermal, performance, LINT0, LINT1,
 * error), and the timer: initial count, current count (computed from the {@link Clock}, never
 * decremented in a loop), divide configuration, one-shot and periodic modes.
 *
 * Not modelled: TSC-deadline mode (a timer LVT with mode 10b stops the timer, initial-count
 * writes are then ignored and the current count reads 0; CPUID must not advertise it), x2APIC,
 * the IA32_APIC_BASE MSR (see {@link Lapic.hardwareEnabled} for the one bit that matters), NMI,
 * SMI, INIT and SIPI delivery, LINT0/LINT1 as interrupt inputs other than LINT0's ExtINT (which
 * {@link PlatformInterrupts} implements), thermal and performance-counter interrupts (their LVT
 * entries are plain registers), the arbitration priority (APR reads 0) and remote read (RRD).
 * @module
 */
import type { Clock, Disposable, MmioDevice } from '@hyvisor/core';
import type { InterruptSource } from './interrupt-source.js';

/** Register offsets in the APIC page (each register is 32 bits on a 16-byte boundary). */
export const LapicReg = {
  ID: 0x020,
  VERSION: 0x030,
  TPR: 0x080,
  APR: 0x090,
  PPR: 0x0a0,
  EOI: 0x0b0,
  RRD: 0x0c0,
  LDR: 0x0d0,
  DFR: 0x0e0,
  SVR: 0x0f0,
  /** First of 8 in-service registers (vectors 0-31 … 224-255), 0x10 apart. */
  ISR: 0x100,
  /** First of 8 trigger-mode registers. */
  TMR: 0x180,
  /** First of 8 interrupt request registers. */
  IRR: 0x200,
  ESR: 0x280,
  ICR_LOW: 0x300,
  ICR_HIGH: 0x310,
  LVT_TIMER: 0x320,
  LVT_THERMAL: 0x330,
  LVT_PERF: 0x340,
  LVT_LINT0: 0x350,
  LVT_LINT1: 0x360,
  LVT_ERROR: 0x370,
  TIMER_INITIAL_COUNT: 0x380,
  TIMER_CURRENT_COUNT: 0x390,
  TIMER_DIVIDE: 0x3e0,
} as const;

/** The version register: version 0x14 (integrated APIC), 6 LVT entries (max LVT index 5). */
export const LAPIC_VERSION = 0x00050014;

/** LVT entry bits. */
export const Lvt = {
  VECTOR: 0xff,
  /** Delivery mode, bits 8-10 ({@link DeliveryMode}); LINT0, LINT1, thermal, performance only. */
  DELIVERY_MODE: 0x700,
  /** Send pending (always 0 here: delivery is instantaneous). */
  DELIVERY_STATUS: 0x1000,
  /** Input pin polarity (LINT0/LINT1). */
  PIN_POLARITY: 0x2000,
  /** Remote IRR (LINT0/LINT1, read-only, always 0 here). */
  REMOTE_IRR: 0x4000,
  /** Level trigger (LINT0/LINT1). */
  LEVEL: 0x8000,
  MASKED: 0x10000,
  /** Timer mode, bits 17-18 ({@link TimerMode}); timer entry only. */
  TIMER_MODE: 0x60000,
} as const;

/** Delivery modes (LVT bits 8-10, ICR bits 8-10). */
export const DeliveryMode = {
  FIXED: 0,
  LOWEST_PRIORITY: 1,
  SMI: 2,
  NMI: 4,
  INIT: 5,
  STARTUP: 6,
  /** LVT only: the interrupt comes from an external controller (the PIC) with its vector. */
  EXTINT: 7,
} as const;

/** Timer modes (LVT timer bits 17-18). */
export const TimerMode = {
  ONE_SHOT: 0,
  PERIODIC: 1,
  /** Not supported by this model. */
  TSC_DEADLINE: 2,
} as const;

/** Spurious-interrupt vector register bits. */
export const Svr = {
  VECTOR: 0xff,
  /** APIC software enable. */
  ENABLE: 0x100,
  /** Focus processor checking disabled (stored, no effect with one vCPU). */
  FOCUS_DISABLED: 0x200,
} as const;

/** Error status register bits. */
export const Esr = {
  SEND_ILLEGAL_VECTOR: 0x20,
  RECEIVE_ILLEGAL_VECTOR: 0x40,
  ILLEGAL_REGISTER: 0x80,
} as const;

/** ICR low-word bits beyond the vector and delivery mode. */
export const Icr = {
  /** Logical destination mode. */
  LOGICAL: 0x800,
  /** Delivery status (always reads 0: sent at once). */
  PENDING: 0x1000,
  LEVEL_ASSERT: 0x4000,
  LEVEL_TRIGGER: 0x8000,
  /** Destination shorthand, bits 18-19 ({@link IcrShorthand}). */
  SHORTHAND: 0xc0000,
} as const;

/** Destination shorthands (ICR bits 18-19). */
export const IcrShorthand = {
  NONE: 0,
  SELF: 1,
  ALL_INCLUDING_SELF: 2,
  ALL_EXCLUDING_SELF: 3,
} as const;

const LVT_MASKED_RESET = Lvt.MASKED;
/** Writable bits per LVT entry (indices as in {@link LVT_OFFSETS}). */
const LVT_WRITABLE = [
  Lvt.VECTOR | Lvt.MASKED | Lvt.TIMER_MODE, // timer
  Lvt.VECTOR | Lvt.DELIVERY_MODE | Lvt.MASKED, // thermal
  Lvt.VECTOR | Lvt.DELIVERY_MODE | Lvt.MASKED, // performance
  Lvt.VECTOR | Lvt.DELIVERY_MODE | Lvt.PIN_POLARITY | Lvt.LEVEL | Lvt.MASKED, // LINT0
  Lvt.VECTOR | Lvt.DELIVERY_MODE | Lvt.PIN_POLARITY | Lvt.LEVEL | Lvt.MASKED, // LINT1
  Lvt.VECTOR | Lvt.MASKED, // error
] as const;
const LVT_TIMER = 0;
const LVT_LINT0 = 3;
const LVT_ERROR = 5;
const ICR_LOW_WRITABLE = 0xff | 0x700 | Icr.LOGICAL | Icr.LEVEL_ASSERT | Icr.LEVEL_TRIGGER | Icr.SHORTHAND;
/** Rounding guard when converting elapsed ns to whole counts (floating-point period lengths). */
const EPS = 1e-9;
/**
 * Tolerance when deciding whether an expiry has passed: expiries are fractional ns and host
 * times near 1e15 ns carry rounding errors of ~0.1 ns.
 */
const SLACK_NS = 0.5;

/** Options of {@link Lapic}. */
export interface LapicOptions {
  /** APIC ID (ID register bits 24-31), default 0. */
  readonly apicId?: number;
  /**
   * Frequency the timer counts at before the divider, in Hz. Default 1 GHz, the APIC bus rate
   * KVM's and QEMU's APICs present, so a guest sees the same timer rate on every backend.
   */
  readonly busHz?: number;
  /**
   * Start with LINT0 unmasked in ExtINT mode (virtual-wire mode) so PIC interrupts reach a guest
   * that never touches the APIC, as KVM does for its boot vCPU (default true). False gives the
   * SDM's reset value (masked).
   */
  readonly lint0ExtIntAtReset?: boolean;
  /**
   * Shortest interval between two periodic timer interrupts, in ns (default 200 µs, KVM's
   * `min_timer_period_us`). A shorter period still counts at its programmed rate; interrupts
   * are then rate-limited and the periods in between count as {@link Lapic.timerLostTicks}.
   */
  readonly minPeriodNs?: number;
}

/**
 * The local APIC of one vCPU as an {@link MmioDevice} for its 4 KiB page (offsets 0-0xfff).
 *
 * Registers are 32 bits wide and 16-byte aligned. A read at any byte offset of a register's
 * first dword returns those bytes, as memory does; the rest of each 16-byte slot reads 0. Writes
 * must be 32-bit and aligned; others are ignored and counted in {@link ignoredWrites} (the SDM
 * leaves them undefined; KVM ignores them too).
 *
 * CPU side ({@link InterruptSource}): {@link hasPendingInterrupt} is true when the highest
 * vector in IRR has a higher priority class than PPR; {@link acknowledge} moves it to ISR;
 * a write to EOI clears the highest ISR bit. Devices deliver with {@link acceptInterrupt}.
 */
export class Lapic implements MmioDevice, InterruptSource, Disposable {
  /** Size of the register page. */
  static readonly PAGE_SIZE = 0x1000;

  private id: number;
  private tpr = 0;
  private ldr = 0;
  private dfr = 0xffffffff;
  private svr = 0xff;
  private readonly isr = new Uint32Array(8);
  private readonly tmr = new Uint32Array(8);
  private readonly irr = new Uint32Array(8);
  private esr = 0;
  private esrPending = 0;
  private icrLow = 0;
  private icrHigh = 0;
  private readonly lvt = new Uint32Array(6);
  private divideConfig = 0;
  private initialCount = 0;
  private hwEnabled = true;
  private pendingLevel = false;
  private extIntLevel: boolean;
  // Timer: counting started at timerStartNs with timerInitial counts of countNs each.
  private timerStartNs = 0;
  private timerRunning = false;
  /** Index (1-based, from timerStartNs) of the next period whose expiry is not yet delivered. */
  private timerNextK = 1;
  private timerEvent = 0;
  private lastTimerIrqNs = -Infinity;
  private readonly busHz: number;
  private readonly minPeriodNs: number;

  /** Interrupts accepted into IRR. */
  accepted = 0;
  /** Interrupts refused: APIC disabled (software or hardware) or an illegal vector. */
  dropped = 0;
  /** INTA cycles that returned a vector. */
  acknowledged = 0;
  /** INTA cycles with nothing deliverable (returned the spurious vector). */
  spurious = 0;
  /** EOI writes that cleared an in-service bit. */
  eois = 0;
  /** Self-IPIs delivered through the ICR. */
  selfIpis = 0;
  /** IPIs that were not a fixed interrupt to this APIC alone (recorded, see {@link onIpi}). */
  otherIpis = 0;
  /** Timer expiries that delivered an interrupt (or would have, had the LVT not been masked). */
  timerTicks = 0;
  /** Timer periods that expired while the VMM was late (coalesced into one interrupt). */
  timerLostTicks = 0;
  /** MMIO writes ignored because they were not 32-bit and aligned. */
  ignoredWrites = 0;

  onInterruptChange: ((asserted: boolean) => void) | undefined;
  /** Called when {@link passesExtInt} changes (LINT0 reprogrammed, APIC enabled or disabled). */
  onExtIntChange: ((passes: boolean) => void) | undefined;
  /** Called for each IPI other than a fixed self-IPI, with the ICR words (for a future SMP VMM). */
  onIpi: ((icrLow: number, icrHigh: number) => void) | undefined;
  /** Called when EOI retires a level-triggered vector (TMR bit set), for an I/O APIC's remote IRR. */
  onLevelEoi: ((vector: number) => void) | undefined;

  constructor(
    private readonly clock: Clock,
    options: LapicOptions = {},
  ) {
    this.id = ((options.apicId ?? 0) & 0xff) << 24;
    this.busHz = options.busHz ?? 1_000_000_000;
    this.minPeriodNs = options.minPeriodNs ?? 200_000;
    this.lvt.fill(LVT_MASKED_RESET);
    if (options.lint0ExtIntAtReset ?? true) this.lvt[LVT_LINT0] = DeliveryMode.EXTINT << 8;
    this.extIntLevel = this.passesExtInt();
  }

  /** Cancels the timer's pending clock event. */
  dispose(): void {
    this.stopTimer();
  }

  /** SVR.ENABLE: the APIC is software-enabled. */
  get softwareEnabled(): boolean {
    return (this.svr & Svr.ENABLE) !== 0;
  }

  /**
   * IA32_APIC_BASE.EN (default true). The VMM's MSR handler sets it. A hardware-disabled APIC
   * accepts nothing and presents nothing, and the PIC reaches the CPU directly; this model does
   * not reset its registers on the transition.
   */
  get hardwareEnabled(): boolean {
    return this.hwEnabled;
  }

  set hardwareEnabled(on: boolean) {
    this.hwEnabled = on;
    this.update();
  }

  /** The processor priority register (SDM 11.8.3.1). */
  get ppr(): number {
    const isrv = this.highest(this.isr);
    const isrClass = isrv < 0 ? 0 : isrv & 0xf0;
    return (this.tpr & 0xf0) >= isrClass ? this.tpr & 0xff : isrClass;
  }

  /**
   * True when an interrupt from an external controller (the 8259) may reach the CPU through
   * this APIC: the APIC is hardware-disabled, or LVT LINT0 is unmasked in ExtINT mode.
   */
  passesExtInt(): boolean {
    if (!this.hwEnabled) return true;
    const lint0 = this.lvt[LVT_LINT0]!;
    return (lint0 & Lvt.MASKED) === 0 && (lint0 & Lvt.DELIVERY_MODE) >>> 8 === DeliveryMode.EXTINT;
  }

  /**
   * A fixed interrupt arrives (from a device, an I/O APIC or an IPI): sets its IRR bit, and its
   * TMR bit if level-triggered. Refused (returns false, counts {@link dropped}) when the APIC is
   * disabled, or for vectors 0-15, which also sets ESR's receive-illegal-vector bit.
   */
  acceptInterrupt(vector: number, levelTriggered = false): boolean {
    const v = vector & 0xff;
    if (!this.hwEnabled || !this.softwareEnabled) {
      this.dropped++;
      return false;
    }
    if (v < 16) {
      this.dropped++;
      this.signalError(Esr.RECEIVE_ILLEGAL_VECTOR);
      return false;
    }
    this.setBit(this.irr, v);
    if (levelTriggered) this.setBit(this.tmr, v);
    else this.clearBit(this.tmr, v);
    this.accepted++;
    this.update();
    return true;
  }

  /**
   * A message-signalled interrupt (SDM 10.11): the address must be 0xFEExxxxx with this APIC as
   * its destination (bits 19:12; bit 2 selects logical mode, matched as for IPIs; 0xFF is
   * everyone); the data gives the vector (bits 7:0), the delivery mode (bits 10:8: fixed and
   * lowest priority are delivered, as fixed to the only CPU) and the trigger mode (bit 15).
   * Returns false for anything else (not an interrupt address, another CPU, SMI/NMI/INIT/ExtINT
   * messages, which no modelled device sends) and for what {@link acceptInterrupt} refuses.
   */
  acceptMessage(address: number, data: number): boolean {
    if (!Number.isSafeInteger(address) || Math.floor(address / 0x100000) !== 0xfee) return false;
    const mode = (data >>> 8) & 7;
    if (mode !== DeliveryMode.FIXED && mode !== DeliveryMode.LOWEST_PRIORITY) return false;
    if (!this.matchesDestination((address >>> 12) & 0xff, (address & 0x4) !== 0)) return false;
    return this.acceptInterrupt(data & 0xff, (data & 0x8000) !== 0);
  }

  hasPendingInterrupt(): boolean {
    if (!this.hwEnabled) return false;
    const v = this.highest(this.irr);
    return v >= 0 && (v & 0xf0) > (this.ppr & 0xf0);
  }

  /**
   * The INTA cycle: the highest-priority deliverable vector moves from IRR to ISR and is
   * returned. With nothing deliverable (TPR was raised meanwhile) it returns the spurious
   * vector from SVR and puts nothing in service, as the hardware does.
   */
  acknowledge(): number {
    if (!this.hasPendingInterrupt()) {
      this.spurious++;
      return this.svr & Svr.VECTOR;
    }
    const v = this.highest(this.irr);
    this.clearBit(this.irr, v);
    this.setBit(this.isr, v);
    this.acknowledged++;
    this.update();
    return v;
  }

  /** The timer's current count, computed from the clock. */
  currentCount(): number {
    if (!this.timerRunning) return 0;
    const elapsed = this.elapsedCounts(this.clock.now());
    if (this.timerMode() === TimerMode.PERIODIC) return this.initialCount - (elapsed % this.initialCount);
    return elapsed >= this.initialCount ? 0 : this.initialCount - elapsed;
  }

  /** The divisor selected by the divide configuration register (1, 2, 4, …, 128). */
  get timerDivisor(): number {
    const code = ((this.divideConfig & 0x8) >>> 1) | (this.divideConfig & 0x3);
    return code === 7 ? 1 : 2 << code;
  }

  read(offset: number, size: number): number {
    const byte = offset & 0xf;
    if (byte >= 4) return 0;
    const value = this.readRegister(offset & 0xff0);
    const shifted = value >>> (byte * 8);
    return size >= 4 ? shifted >>> 0 : shifted & ((1 << (size * 8)) - 1);
  }

  write(offset: number, size: number, value: number): void {
    if (size !== 4 || (offset & 0xf) !== 0) {
      this.ignoredWrites++;
      return;
    }
    this.writeRegister(offset & 0xff0, value >>> 0);
  }

  private readRegister(reg: number): number {
    if (reg >= LapicReg.ISR && reg < LapicReg.ISR + 0x80) return this.isr[(reg - LapicReg.ISR) >> 4]!;
    if (reg >= LapicReg.TMR && reg < LapicReg.TMR + 0x80) return this.tmr[(reg - LapicReg.TMR) >> 4]!;
    if (reg >= LapicReg.IRR && reg < LapicReg.IRR + 0x80) return this.irr[(reg - LapicReg.IRR) >> 4]!;
    if (reg >= LapicReg.LVT_TIMER && reg <= LapicReg.LVT_ERROR) return this.lvt[(reg - LapicReg.LVT_TIMER) >> 4]!;
    switch (reg) {
      case LapicReg.ID:
        return this.id;
      case LapicReg.VERSION:
        return LAPIC_VERSION;
      case LapicReg.TPR:
        return this.tpr;
      case LapicReg.APR:
      case LapicReg.EOI:
      case LapicReg.RRD:
        return 0;
      case LapicReg.PPR:
        return this.ppr;
      case LapicReg.LDR:
        return this.ldr;
      case LapicReg.DFR:
        return this.dfr;
      case LapicReg.SVR:
        return this.svr;
      case LapicReg.ESR:
        return this.esr;
      case LapicReg.ICR_LOW:
        return this.icrLow;
      case LapicReg.ICR_HIGH:
        return this.icrHigh;
      case LapicReg.TIMER_INITIAL_COUNT:
        return this.initialCount;
      case LapicReg.TIMER_CURRENT_COUNT:
        return this.currentCount();
      case LapicReg.TIMER_DIVIDE:
        return this.divideConfig;
      default:
        this.signalError(Esr.ILLEGAL_REGISTER);
        return 0;
    }
  }

  private writeRegister(reg: number, v: number): void {
    if (reg >= LapicReg.LVT_TIMER && reg <= LapicReg.LVT_ERROR) {
      this.writeLvt((reg - LapicReg.LVT_TIMER) >> 4, v);
      return;
    }
    switch (reg) {
      case LapicReg.ID:
        this.id = v & 0xff000000;
        return;
      case LapicReg.TPR:
        this.tpr = v & 0xff;
        this.update();
        return;
      case LapicReg.EOI:
        this.eoi();
        return;
      case LapicReg.LDR:
        this.ldr = v & 0xff000000;
        return;
      case LapicReg.DFR:
        this.dfr = (v & 0xf0000000) | 0x0fffffff;
        return;
      case LapicReg.SVR:
        this.writeSvr(v);
        return;
      case LapicReg.ESR:
        // Write-then-read: the write latches the errors seen since the previous write.
        this.esr = this.esrPending;
        this.esrPending = 0;
        return;
      case LapicReg.ICR_LOW:
        this.icrLow = v & ICR_LOW_WRITABLE;
        this.sendIpi();
        return;
      case LapicReg.ICR_HIGH:
        this.icrHigh = v & 0xff000000;
        return;
      case LapicReg.TIMER_INITIAL_COUNT:
        this.writeInitialCount(v);
        return;
      case LapicReg.TIMER_DIVIDE:
        this.writeDivide(v & 0xb);
        return;
      case LapicReg.VERSION:
      case LapicReg.APR:
      case LapicReg.PPR:
      case LapicReg.RRD:
      case LapicReg.TIMER_CURRENT_COUNT:
        return; // read-only
      default:
        if (reg >= LapicReg.ISR && reg < LapicReg.IRR + 0x80) return; // ISR/TMR/IRR: read-only
        this.signalError(Esr.ILLEGAL_REGISTER);
    }
  }

  private writeSvr(v: number): void {
    this.svr = v & (Svr.VECTOR | Svr.ENABLE | Svr.FOCUS_DISABLED);
    // Software disable masks every LVT entry (and keeps them masked until re-enabled).
    if (!this.softwareEnabled) for (let i = 0; i < this.lvt.length; i++) this.lvt[i]! |= Lvt.MASKED;
    this.update();
  }

  private writeLvt(index: number, v: number): void {
    let value = v & LVT_WRITABLE[index]!;
    if (!this.softwareEnabled) value |= Lvt.MASKED;
    if (index === LVT_TIMER) {
      const wasDeadline = this.timerMode() === TimerMode.TSC_DEADLINE;
      this.lvt[index] = value;
      // Entering or leaving TSC-deadline mode disarms the timer (as KVM does); one-shot and
      // periodic switch at the next expiry.
      if (wasDeadline !== (this.timerMode() === TimerMode.TSC_DEADLINE)) {
        this.initialCount = 0;
        this.stopTimer();
      }
      return;
    }
    this.lvt[index] = value;
    this.update();
  }

  private eoi(): void {
    const v = this.highest(this.isr);
    if (v < 0) return;
    this.clearBit(this.isr, v);
    this.eois++;
    if (this.testBit(this.tmr, v)) this.onLevelEoi?.(v);
    this.update();
  }

  private sendIpi(): void {
    const low = this.icrLow;
    const vector = low & 0xff;
    const mode = (low >>> 8) & 7;
    const shorthand = (low & Icr.SHORTHAND) >>> 18;
    const dest = this.icrHigh >>> 24;
    const logical = (low & Icr.LOGICAL) !== 0;
    const toSelf =
      shorthand === IcrShorthand.SELF ||
      shorthand === IcrShorthand.ALL_INCLUDING_SELF ||
      (shorthand === IcrShorthand.NONE && this.matchesDestination(dest, logical));
    const selfOnly =
      shorthand === IcrShorthand.SELF || (shorthand === IcrShorthand.NONE && !logical && dest === this.id >>> 24);
    const fixed = mode === DeliveryMode.FIXED || mode === DeliveryMode.LOWEST_PRIORITY;
    if (fixed && vector < 16) {
      this.signalError(Esr.SEND_ILLEGAL_VECTOR);
      return;
    }
    if (toSelf && fixed) {
      this.selfIpis++;
      this.acceptInterrupt(vector, (low & Icr.LEVEL_TRIGGER) !== 0);
    }
    if (!selfOnly || !fixed) {
      this.otherIpis++;
      this.onIpi?.(low, this.icrHigh);
    }
  }

  private matchesDestination(dest: number, logical: boolean): boolean {
    if (dest === 0xff) return true;
    if (!logical) return dest === this.id >>> 24;
    const mine = this.ldr >>> 24;
    if (this.dfr >>> 28 === 0xf) return (mine & dest) !== 0; // flat model
    // Cluster model: cluster in bits 4-7, member bitmap in bits 0-3.
    return (dest >>> 4 === mine >>> 4 || dest >>> 4 === 0xf) && (dest & mine & 0xf) !== 0;
  }

  private signalError(bits: number): void {
    const fresh = bits & ~this.esrPending;
    this.esrPending |= bits;
    if (fresh === 0) return;
    const lvt = this.lvt[LVT_ERROR]!;
    const vector = lvt & Lvt.VECTOR;
    // An error vector that is itself illegal is not delivered (no recursion).
    if (!(lvt & Lvt.MASKED) && vector >= 16 && this.hwEnabled && this.softwareEnabled) {
      this.setBit(this.irr, vector);
      this.clearBit(this.tmr, vector);
      this.update();
    }
  }

  // ---- timer --------------------------------------------------------------------------------

  private timerMode(): number {
    return (this.lvt[LVT_TIMER]! & Lvt.TIMER_MODE) >>> 17;
  }

  /** Nanoseconds per count at the current divisor. */
  private countNs(): number {
    return (this.timerDivisor * 1e9) / this.busHz;
  }

  private elapsedCounts(now: number): number {
    return Math.max(0, Math.floor((now - this.timerStartNs) / this.countNs() + EPS));
  }

  private writeInitialCount(v: number): void {
    if (this.timerMode() === TimerMode.TSC_DEADLINE) return;
    this.initialCount = v;
    this.stopTimer();
    if (v === 0) return;
    this.timerStartNs = this.clock.now();
    this.timerRunning = true;
    this.timerNextK = 1;
    this.scheduleTimer();
  }

  private writeDivide(v: number): void {
    if (!this.timerRunning) {
      this.divideConfig = v;
      return;
    }
    // The count continues from where it is, at the new rate.
    const now = this.clock.now();
    const done = this.elapsedCounts(now);
    const periodic = this.timerMode() === TimerMode.PERIODIC;
    const into = periodic ? done % this.initialCount : Math.min(done, this.initialCount);
    this.divideConfig = v;
    this.timerStartNs = now - into * this.countNs();
    this.timerNextK = 1;
    this.cancelTimerEvent();
    this.scheduleTimer();
  }

  private stopTimer(): void {
    this.timerRunning = false;
    this.cancelTimerEvent();
  }

  private cancelTimerEvent(): void {
    if (this.timerEvent !== 0) this.clock.cancel(this.timerEvent);
    this.timerEvent = 0;
  }

  /** Schedules the next expiry; never at or before `notAfter` (so a rounding error cannot spin). */
  private scheduleTimer(notAfter = -Infinity): void {
    const periodNs = this.initialCount * this.countNs();
    let at = this.timerStartNs + this.timerNextK * periodNs;
    if (this.timerMode() === TimerMode.PERIODIC) at = Math.max(at, this.lastTimerIrqNs + this.minPeriodNs);
    this.timerEvent = this.clock.schedule(Math.max(Math.ceil(at), notAfter + 1), (now) => this.timerExpired(now));
  }

  private timerExpired(now: number): void {
    this.timerEvent = 0;
    if (!this.timerRunning) return;
    const periodNs = this.initialCount * this.countNs();
    const k = Math.floor((now - this.timerStartNs + SLACK_NS) / periodNs);
    if (k < this.timerNextK) {
      // Early (rounding): wait for the real expiry, strictly later than now.
      this.scheduleTimer(now);
      return;
    }
    const periodic = this.timerMode() === TimerMode.PERIODIC;
    this.timerTicks++;
    if (periodic) this.timerLostTicks += k - this.timerNextK;
    this.lastTimerIrqNs = now;
    this.deliverLvt(LVT_TIMER);
    if (periodic) {
      // Expiries stay anchored at the start (start + k × period, one rounding each), so the
      // phase is kept and does not drift however long the timer runs.
      this.timerNextK = k + 1;
      this.scheduleTimer();
    } else {
      // One-shot: the count stays at 0 (the start time is kept so the count reads 0).
      this.timerRunning = false;
    }
  }

  private deliverLvt(index: number): void {
    const lvt = this.lvt[index]!;
    if (lvt & Lvt.MASKED) return;
    this.acceptInterrupt(lvt & Lvt.VECTOR);
  }

  // ---- bits and notification ----------------------------------------------------------------

  private update(): void {
    const level = this.hasPendingInterrupt();
    if (level !== this.pendingLevel) {
      this.pendingLevel = level;
      this.onInterruptChange?.(level);
    }
    const ext = this.passesExtInt();
    if (ext !== this.extIntLevel) {
      this.extIntLevel = ext;
      this.onExtIntChange?.(ext);
    }
  }

  private highest(regs: Uint32Array): number {
    for (let i = 7; i >= 0; i--) {
      const w = regs[i]!;
      if (w !== 0) return i * 32 + 31 - Math.clz32(w);
    }
    return -1;
  }

  private setBit(regs: Uint32Array, v: number): void {
    regs[v >>> 5]! |= 1 << (v & 31);
  }

  private clearBit(regs: Uint32Array, v: number): void {
    regs[v >>> 5]! &= ~(1 << (v & 31));
  }

  private testBit(regs: Uint32Array, v: number): boolean {
    return (regs[v >>> 5]! & (1 << (v & 31))) !== 0;
  }
}
