/**
 * The Intel 8254 programmable interval timer after its datasheet (order no. 231164), as wired in
 * a PC: three channels at ports 0x40-0x42 with the control word at 0x43, an input clock of
 * 1.193182 MHz, channel 0's output on IRQ0, channel 2's gate and output on port 0x61 (port B,
 * `SystemControlPort` from `@hyvisor/devices`, reached through {@link Pit8254.channel2}).
 *
 * Counters are never decremented by a loop: a channel remembers when its count was loaded and
 * computes its value and output from the {@link Clock}. Channel 0 schedules a clock event for its
 * next output edge only.
 *
 * Modelled: control words (channel, access lobyte/hibyte/both, mode 0-5), the counter-latch
 * command, the read-back command (count and status), the read and write byte flip-flops, count 0
 * meaning 65536, modes 0 (interrupt on terminal count), 2 (rate generator) and 3 (square wave),
 * with 1, 4 and 5 counted too; in modes 2 and 3 a count written while counting takes effect at
 * the end of the current period.
 *
 * Simplified, and documented where it shows:
 * - BCD counting (control word bit 0) is stored and read back in the status but counting is
 *   always binary.
 * - Modes 1 and 5 start counting when the count is written (as if the gate rose then) and a rising
 *   gate restarts them; modes 2 and 3 restart on a rising gate and their output is high while the
 *   gate is low; in modes 0 and 4 the gate does not pause counting (as in QEMU).
 * - Mode 3 with an odd count counts down by two like an even one (as QEMU), and a reload takes
 *   effect at the end of the period, not of the half-period.
 * - IRQ0 follows the output's rising edges, which is all a PC's edge-triggered PIC input sees:
 *   in modes 2 and 3 the line is lowered and raised again at each period boundary (mode 3's low
 *   half-period is not driven onto the line); in mode 0 it goes low on the control word or count
 *   write and high at terminal count; in modes 4 and 5 it pulses at terminal count. The output
 *   as the guest reads it (read-back status, port B bit 5) follows the datasheet exactly.
 *
 * Lost ticks: when the VMM runs the clock callback late (a stall), channel 0 delivers ONE edge
 * for all the periods that ended meanwhile and counts the others in {@link Pit8254.lostTicks}.
 * The next edge is the next period boundary after the current time: the counter's phase is
 * kept, so counter reads stay consistent with the interrupts. This is the behaviour of emulated
 * PITs with a "discard" lost-tick policy, and what the paper's timer-drift experiment measures.
 * @module
 */
import type { Clock, Disposable, IrqLine, PioDevice } from '@hyvisor/core';
import { PortB as SystemControlBits, SYSTEM_CONTROL_PORT, SystemControlPort, type TimerChannel2 } from '@hyvisor/devices';

/** The PIT's input clock in Hz. */
export const PIT_HZ = 1_193_182;

/** Nanoseconds per PIT input clock (≈ 838.1 ns). */
export const PIT_TICK_NS = 1e9 / PIT_HZ;

/** Port offsets from `Ports.PIT` (0x40). */
export const PitReg = {
  CHANNEL0: 0,
  CHANNEL1: 1,
  CHANNEL2: 2,
  /** Write: control word (or counter-latch / read-back command). Reads return 0xff. */
  CONTROL: 3,
} as const;

/** Access modes (control word bits 4-5). */
export const PitAccess = {
  /** Counter-latch command. */
  LATCH: 0,
  LOBYTE: 1,
  HIBYTE: 2,
  /** Low byte then high byte. */
  LOHI: 3,
} as const;

/** Operating modes (control word bits 1-3; 6 and 7 alias 2 and 3). */
export const PitMode = {
  INTERRUPT_ON_TERMINAL_COUNT: 0,
  HW_RETRIGGERABLE_ONE_SHOT: 1,
  RATE_GENERATOR: 2,
  SQUARE_WAVE: 3,
  SW_TRIGGERED_STROBE: 4,
  HW_TRIGGERED_STROBE: 5,
} as const;

/** Read-back command (control word 0b11xxxxxx) bits; the count/status bits are active low. */
export const PitReadBack = {
  COMMAND: 0xc0,
  /** Clear to latch the count of the selected channels. */
  NO_COUNT: 0x20,
  /** Clear to latch the status of the selected channels. */
  NO_STATUS: 0x10,
  /** Selects channel n: bit (n + 1). */
  CHANNEL0: 0x02,
  CHANNEL1: 0x04,
  CHANNEL2: 0x08,
} as const;

/** Status byte (read-back) bits beyond access (4-5), mode (1-3) and BCD (0). */
export const PitStatus = {
  OUTPUT: 0x80,
  /** The last count written has not been loaded into the counter yet. */
  NULL_COUNT: 0x40,
} as const;

/** Port B (0x61) bits: the system control port's (`@hyvisor/devices`). */
export const PortB = SystemControlBits;

/** I/O port of the PIT's port B device. */
export const PORT_B = SYSTEM_CONTROL_PORT;

/** Rounding guard when converting elapsed ns to whole ticks. */
const EPS = 1e-7;
/**
 * Tolerance when deciding whether a period boundary has passed: boundaries are fractional ns
 * and host times near 1e15 ns carry rounding errors of ~0.1 ns.
 */
const SLACK_NS = 0.5;

/** What the next data-port access of a channel means. */
const enum ByteState {
  LOW = 1,
  HIGH = 2,
  /** LOHI: the low byte comes next. */
  WORD_LOW = 3,
  /** LOHI: the high byte comes next. */
  WORD_HIGH = 4,
}

/** Options of {@link Pit8254}. */
export interface Pit8254Options {
  /**
   * Shortest interval between two IRQ0 edges in modes 2 and 3, in ns (default 200 µs, as KVM's
   * PIT). A faster rate still counts at its programmed rate; its edges are rate-limited and the
   * periods in between count as {@link Pit8254.lostTicks}.
   */
  readonly minPeriodNs?: number;
}

class Channel {
  mode = 0;
  access: number = PitAccess.LOHI;
  bcd = false;
  /** Reload value, 1..65536. */
  count = 0x10000;
  running = false;
  /** Counter value shown while not running. */
  frozen = 0;
  /** When counting started (or a reload took over), in ns; may be fractional. */
  loadNs = 0;
  /** Modes 2/3: a count waiting for the end of the current period. */
  pendingCount: number | undefined;
  /** Boundary index (from loadNs) at which {@link pendingCount} takes over. */
  switchK = 0;
  /** Channel 0 bookkeeping: index (from loadNs) of the next boundary not yet delivered. */
  nextK = 1;
  /** Channel 0: boundaries passed but not yet delivered (across a reload). */
  owed = 0;
  gate: boolean;
  nullCount = true;
  writeState = ByteState.WORD_LOW;
  readState = ByteState.WORD_LOW;
  lowByte = 0;
  /** Latched count and which byte of it comes next (0 = not latched). */
  latchState = 0;
  latched = 0;
  statusLatched = false;
  status = 0;

  constructor(gate: boolean) {
    this.gate = gate;
  }

  periodic(): boolean {
    return this.mode === PitMode.RATE_GENERATOR || this.mode === PitMode.SQUARE_WAVE;
  }

  periodNs(): number {
    return this.count * PIT_TICK_NS;
  }

  /** Whole input clocks since {@link loadNs}. */
  ticks(now: number): number {
    return Math.max(0, Math.floor((now - this.loadNs) / PIT_TICK_NS + EPS));
  }

  /** Applies a pending reload whose period boundary has passed. */
  settle(now: number): void {
    if (this.pendingCount === undefined || !this.running) return;
    const switchNs = this.loadNs + this.switchK * this.periodNs();
    if (now + SLACK_NS < switchNs) return;
    if (this.switchK >= this.nextK) this.owed += this.switchK - this.nextK + 1;
    this.loadNs = switchNs;
    this.count = this.pendingCount;
    this.pendingCount = undefined;
    this.nextK = 1;
  }

  value(now: number): number {
    if (!this.running) return this.frozen;
    this.settle(now);
    const d = this.ticks(now);
    switch (this.mode) {
      case PitMode.RATE_GENERATOR:
        return (this.count - (d % this.count)) & 0xffff;
      case PitMode.SQUARE_WAVE:
        return (this.count - ((2 * d) % this.count)) & 0xffff;
      default:
        return (this.count - d) & 0xffff;
    }
  }

  output(now: number): boolean {
    if (!this.running) return this.mode !== PitMode.INTERRUPT_ON_TERMINAL_COUNT;
    if (this.periodic() && !this.gate) return true;
    this.settle(now);
    const d = this.ticks(now);
    switch (this.mode) {
      case PitMode.INTERRUPT_ON_TERMINAL_COUNT:
      case PitMode.HW_RETRIGGERABLE_ONE_SHOT:
        return d >= this.count;
      case PitMode.RATE_GENERATOR:
        return d % this.count !== this.count - 1;
      case PitMode.SQUARE_WAVE:
        return d % this.count < (this.count + 1) >> 1;
      default:
        return d !== this.count;
    }
  }
}

/**
 * The 8254 on the port-I/O bus (4 ports at `Ports.PIT`); {@link portB} is the 1-port device for
 * `Ports.PORT_B` (0x61). Channel 0's output drives the {@link IrqLine} given (ISA IRQ0).
 *
 * Accesses wider than a byte act on the low byte. Reads of the control port return 0xff. At
 * reset no channel counts; channel 2's gate is low.
 */
export class Pit8254 implements PioDevice, Disposable {
  /** Number of ports the PIT decodes. */
  static readonly PORT_COUNT = 4;

  private readonly channels = [new Channel(true), new Channel(true), new Channel(false)] as const;
  private event = 0;
  private lineHigh = false;
  private lastEdgeNs = -Infinity;
  private readonly minPeriodNs: number;

  /** IRQ0 rising edges delivered. */
  ticks = 0;
  /** Channel 0 periods that ended while the VMM was late and were coalesced (no edge of their own). */
  lostTicks = 0;

  /** Channel 2's gate and output, as the system control port (0x61) drives and reads them. */
  readonly channel2: TimerChannel2 = {
    setGate: (level) => this.setGate(2, level),
    output: () => this.channels[2].output(this.clock.now()),
  };

  /** Port B (0x61) wired to {@link channel2}, for guests that calibrate their clocks with it. */
  readonly portB: PioDevice;

  constructor(
    private readonly clock: Clock,
    private readonly irq: IrqLine,
    options: Pit8254Options = {},
  ) {
    this.minPeriodNs = options.minPeriodNs ?? 200_000;
    this.portB = new SystemControlPort(clock, this.channel2);
  }

  /** Channel 0's period in ns (the tick length the guest programmed). */
  channel0PeriodNs(): number {
    return this.channels[0].periodNs();
  }

  /** Cancels the pending clock event; the PIT stops interrupting. */
  dispose(): void {
    this.cancelEvent();
    this.channels[0].running = false;
  }

  read(offset: number, _size: number): number {
    const ch = this.channels[offset as 0 | 1 | 2];
    return ch ? this.readChannel(ch) : 0xff;
  }

  write(offset: number, _size: number, value: number): void {
    const v = value & 0xff;
    if (offset === PitReg.CONTROL) this.writeControl(v);
    else if (offset >= 0 && offset < 3) this.writeChannel(offset, v);
  }

  /** Drives a channel's gate (channel 2's comes from port B; 0 and 1 are tied high on a PC). */
  setGate(channel: number, level: boolean): void {
    const ch = this.channels[channel as 0 | 1 | 2];
    if (!ch || ch.gate === level) return;
    const now = this.clock.now();
    ch.settle(now);
    const rising = level && !ch.gate;
    ch.gate = level;
    if (!rising || !ch.running) return;
    if (ch.mode === PitMode.INTERRUPT_ON_TERMINAL_COUNT || ch.mode === PitMode.SW_TRIGGERED_STROBE) return;
    // Modes 1, 2, 3, 5: a rising gate (re)starts the count from the reload value.
    if (ch.pendingCount !== undefined) ch.count = ch.pendingCount;
    ch.pendingCount = undefined;
    this.startCounting(channel, now);
  }

  private readChannel(ch: Channel): number {
    if (ch.statusLatched) {
      ch.statusLatched = false;
      return ch.status;
    }
    if (ch.latchState !== 0) {
      switch (ch.latchState) {
        case ByteState.LOW:
          ch.latchState = 0;
          return ch.latched & 0xff;
        case ByteState.HIGH:
          ch.latchState = 0;
          return ch.latched >>> 8;
        case ByteState.WORD_LOW:
          ch.latchState = ByteState.HIGH;
          return ch.latched & 0xff;
      }
    }
    const value = ch.value(this.clock.now());
    switch (ch.readState) {
      case ByteState.LOW:
        return value & 0xff;
      case ByteState.HIGH:
        return value >>> 8;
      case ByteState.WORD_LOW:
        ch.readState = ByteState.WORD_HIGH;
        return value & 0xff;
      default:
        ch.readState = ByteState.WORD_LOW;
        return value >>> 8;
    }
  }

  private writeChannel(index: number, v: number): void {
    const ch = this.channels[index as 0 | 1 | 2];
    switch (ch.writeState) {
      case ByteState.LOW:
        this.loadCount(index, v);
        return;
      case ByteState.HIGH:
        this.loadCount(index, v << 8);
        return;
      case ByteState.WORD_LOW:
        ch.lowByte = v;
        ch.writeState = ByteState.WORD_HIGH;
        // Mode 0: writing the first byte stops the count.
        if (ch.mode === PitMode.INTERRUPT_ON_TERMINAL_COUNT) this.stop(index);
        return;
      default:
        ch.writeState = ByteState.WORD_LOW;
        this.loadCount(index, ch.lowByte | (v << 8));
    }
  }

  private writeControl(v: number): void {
    const select = v >>> 6;
    if (select === 3) {
      this.readBack(v);
      return;
    }
    const ch = this.channels[select as 0 | 1 | 2];
    const access = (v >>> 4) & 3;
    if (access === PitAccess.LATCH) {
      this.latchCount(ch);
      return;
    }
    this.stop(select);
    let mode = (v >>> 1) & 7;
    if (mode > 5) mode -= 4;
    ch.mode = mode;
    ch.access = access;
    ch.bcd = (v & 1) !== 0;
    ch.nullCount = true;
    ch.latchState = 0;
    const state = access === PitAccess.LOBYTE ? ByteState.LOW : access === PitAccess.HIBYTE ? ByteState.HIGH : ByteState.WORD_LOW;
    ch.readState = state;
    ch.writeState = state;
    // Mode 0's output goes low on the control word; the other modes' goes high, which this model
    // does not drive onto IRQ0 (it would be a spurious edge; see the module comment).
    if (select === 0 && mode === PitMode.INTERRUPT_ON_TERMINAL_COUNT) this.setLine(false);
  }

  private readBack(v: number): void {
    const now = this.clock.now();
    for (let i = 0; i < 3; i++) {
      if (!(v & (2 << i))) continue;
      const ch = this.channels[i as 0 | 1 | 2];
      if (!(v & PitReadBack.NO_COUNT)) this.latchCount(ch);
      if (!(v & PitReadBack.NO_STATUS) && !ch.statusLatched) {
        ch.status =
          (ch.output(now) ? PitStatus.OUTPUT : 0) |
          (ch.nullCount ? PitStatus.NULL_COUNT : 0) |
          (ch.access << 4) |
          (ch.mode << 1) |
          (ch.bcd ? 1 : 0);
        ch.statusLatched = true;
      }
    }
  }

  private latchCount(ch: Channel): void {
    // A second latch before the first is read is ignored.
    if (ch.latchState !== 0) return;
    ch.latched = ch.value(this.clock.now());
    ch.latchState = ch.access === PitAccess.LOBYTE ? ByteState.LOW : ch.access === PitAccess.HIBYTE ? ByteState.HIGH : ByteState.WORD_LOW;
  }

  private loadCount(index: number, raw: number): void {
    const ch = this.channels[index as 0 | 1 | 2];
    const count = raw === 0 ? 0x10000 : raw;
    const now = this.clock.now();
    ch.nullCount = false;
    if (ch.running && ch.periodic()) {
      // Rate generator and square wave: the new count takes over at the end of this period.
      ch.settle(now);
      ch.pendingCount = count;
      ch.switchK = Math.floor((now - ch.loadNs) / ch.periodNs() + EPS) + 1;
      return;
    }
    ch.count = count;
    ch.pendingCount = undefined;
    if (index === 0 && ch.mode === PitMode.INTERRUPT_ON_TERMINAL_COUNT) this.setLine(false);
    // Modes 1 and 5 wait for a gate edge on real parts; see the module comment.
    this.startCounting(index, now);
  }

  private startCounting(index: number, now: number): void {
    const ch = this.channels[index as 0 | 1 | 2];
    ch.running = true;
    ch.loadNs = now;
    ch.nextK = 1;
    ch.owed = 0;
    if (index === 0) {
      this.cancelEvent();
      this.schedule();
    }
  }

  private stop(index: number): void {
    const ch = this.channels[index as 0 | 1 | 2];
    if (ch.running) ch.frozen = ch.value(this.clock.now());
    ch.running = false;
    ch.pendingCount = undefined;
    if (index === 0) this.cancelEvent();
  }

  // ---- channel 0 events ---------------------------------------------------------------------

  private cancelEvent(): void {
    if (this.event !== 0) this.clock.cancel(this.event);
    this.event = 0;
  }

  /** Schedules channel 0's next edge; never at or before `notAfter` (so a rounding error cannot spin). */
  private schedule(notAfter = -Infinity): void {
    const ch = this.channels[0];
    let at: number;
    if (ch.periodic()) {
      at = Math.max(ch.loadNs + ch.nextK * ch.periodNs(), this.lastEdgeNs + this.minPeriodNs);
    } else {
      if (ch.nextK > 1) return; // one-shot already delivered
      at = ch.loadNs + ch.periodNs();
    }
    this.event = this.clock.schedule(Math.max(Math.ceil(at), notAfter + 1), (now) => this.expired(now));
  }

  private expired(now: number): void {
    this.event = 0;
    const ch = this.channels[0];
    if (!ch.running) return;
    ch.settle(now);
    const k = Math.floor((now - ch.loadNs + SLACK_NS) / ch.periodNs());
    if (k >= ch.nextK) {
      ch.owed += ch.periodic() ? k - ch.nextK + 1 : 1;
      ch.nextK = k + 1;
    }
    if (ch.owed === 0) {
      this.schedule(now); // woken early by rounding
      return;
    }
    this.ticks++;
    this.lostTicks += ch.owed - 1;
    ch.owed = 0;
    this.lastEdgeNs = now;
    switch (ch.mode) {
      case PitMode.INTERRUPT_ON_TERMINAL_COUNT:
      case PitMode.HW_RETRIGGERABLE_ONE_SHOT:
        this.setLine(true);
        return; // stays high until reprogrammed; no further event
      case PitMode.SW_TRIGGERED_STROBE:
      case PitMode.HW_TRIGGERED_STROBE:
        this.pulse();
        return;
      default:
        this.pulse();
        // Boundaries stay anchored at loadNs (loadNs + k × period, one rounding each), so the
        // phase does not drift however long the channel runs.
        this.schedule();
    }
  }

  /** A rising edge on IRQ0 (low for an instant first if it was high). */
  private pulse(): void {
    if (this.lineHigh) this.irq.lower();
    this.irq.raise();
    this.lineHigh = true;
  }

  private setLine(level: boolean): void {
    if (level === this.lineHigh) return;
    this.lineHigh = level;
    if (level) this.irq.raise();
    else this.irq.lower();
  }
}
