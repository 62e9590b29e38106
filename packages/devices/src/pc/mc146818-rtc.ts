/**
 * The Motorola MC146818A real-time clock and CMOS RAM as a PC wires it: index port 0x70 (bit 7
 * masks NMI), data port 0x71, interrupt on ISA IRQ 8.
 *
 * Time is never ticked by a loop: the clock keeps the instant (on the injected {@link Clock})
 * at which its current second began, and every register, flag and interrupt is computed from
 * that. Under a backend with virtual time (the emulator) the RTC follows virtual time, so two
 * runs read the same dates; the wall time it starts from is a constructor option.
 *
 * Datasheet behaviour modelled (MC146818A, Motorola, registers A–D):
 * - Time, calendar and alarm registers 0x00–0x09 in BCD or binary (B.DM) and 12 or 24 hours
 *   (B.24/12; in 12-hour mode bit 7 of the hours is PM); alarm bytes 0xC0–0xFF match any value.
 * - One update cycle per second: A.UIP reads 1 from 244 µs before the update until the update
 *   cycle ends 1984 µs after it began (32.768 kHz time base); the update-ended (UF) and alarm
 *   (AF) flags are set when it ends; B.SET stops updates, clears UIP and clears B.UIE.
 * - Periodic flag PF at the rate A.RS selects (256 Hz … 2 Hz, 8192 Hz for 3), kept in phase with
 *   the second boundaries; C.IRQF and the IRQ line follow (PF·PIE + AF·AIE + UF·UIE); reading C
 *   returns and clears the flags and releases the line.
 * - A.DV = 11x holds the divider in reset (no updates, no periodic flags); releasing it to 010
 *   starts the first update 500 ms later. D reads 0x80 (valid RAM and time).
 * - Bytes 0x0E–0x7F are plain CMOS RAM; 0x32 starts with the century (the IBM PC convention).
 *
 * Simplified: the time registers are rendered from one seconds counter, so changing B.DM or
 * B.24/12 changes how the current time reads at once (the part would keep the old bytes until
 * the next update), and the day of the week is a stored offset from the computed weekday.
 * The daylight-saving bit (B.DSE) and the square-wave pin are stored only.
 * @module
 */
import type { Clock, Disposable, IrqLine, PioDevice } from '@hyvisor/core';

/** Register indexes. */
export const RtcReg = {
  SECONDS: 0x00, SECONDS_ALARM: 0x01, MINUTES: 0x02, MINUTES_ALARM: 0x03, HOURS: 0x04, HOURS_ALARM: 0x05,
  DAY_OF_WEEK: 0x06, DAY_OF_MONTH: 0x07, MONTH: 0x08, YEAR: 0x09,
  A: 0x0a, B: 0x0b, C: 0x0c, D: 0x0d,
  /** The IBM PC's century byte in CMOS RAM. */
  CENTURY: 0x32,
} as const;

/** Register A bits. */
export const RtcA = { UIP: 0x80, DV_MASK: 0x70, DV_32KHZ: 0x20, RS_MASK: 0x0f } as const;
/** Register B bits. */
export const RtcB = { SET: 0x80, PIE: 0x40, AIE: 0x20, UIE: 0x10, SQWE: 0x08, DM_BINARY: 0x04, HOURS_24: 0x02, DSE: 0x01 } as const;
/** Register C bits. */
export const RtcC = { IRQF: 0x80, PF: 0x40, AF: 0x20, UF: 0x10 } as const;
/** Register D: valid RAM and time. */
export const RTC_D_VRT = 0x80;
/** Bit 7 of the index port: NMI disabled. */
export const RTC_NMI_DISABLE = 0x80;
/** Base port on a PC. */
export const RTC_PORT = 0x70;
/** ISA interrupt on a PC. */
export const RTC_IRQ = 8;

/** UIP rises this long before an update begins (datasheet t_BUC, every time base). */
export const RTC_UIP_LEAD_NS = 244_000;
/** An update cycle lasts this long with the 32.768 kHz time base (datasheet t_UC). */
export const RTC_UPDATE_NS = 1_984_000;

const NS_PER_S = 1_000_000_000;
/** One period of the 32.768 kHz time base's 65.536 kHz tap, in ns: the periodic rates are powers of two of it. */
const TAP_NS = NS_PER_S / 65_536;

/** Options of {@link Mc146818Rtc}. */
export interface RtcOptions {
  /** Wall time, in ms since the Unix epoch (UTC), that the clock shows at `clock.now()` when built. Default: `Date.now()`. */
  readonly epochMs?: number;
}

/**
 * The RTC on the port-I/O bus (2 ports at {@link RTC_PORT}: index, data). Register reset values
 * are those firmware leaves: A = 0x26 (32.768 kHz, 1024 Hz periodic rate), B = 0x02 (24 hours,
 * BCD, no interrupts), C = 0, D = 0x80.
 */
export class Mc146818Rtc implements PioDevice, Disposable {
  /** Number of ports the device decodes. */
  static readonly PORT_COUNT = 2;

  private index = 0;
  private nmiDisabled = false;
  private readonly ram = new Uint8Array(128);
  /** Clock instant at which second number {@link anchorSec} began (an update cycle started). */
  private anchorNs: number;
  /** RTC time, in whole seconds since the Unix epoch, at {@link anchorNs}. */
  private anchorSec: number;
  /** While stopped (SET or divider reset): the time, frozen. */
  private frozenSec: number | undefined;
  /** Flags are up to date for everything that happened until this instant. */
  private seenNs: number;
  private flags = 0;
  private lineHigh = false;
  private event = 0;
  /** Day-of-week register minus the computed weekday, mod 7 (if the guest set it differently). */
  private dowOffset = 0;

  constructor(private readonly clock: Clock, private readonly irq: IrqLine, options: RtcOptions = {}) {
    const epochMs = options.epochMs ?? Date.now();
    const now = clock.now();
    this.anchorSec = Math.floor(epochMs / 1000);
    this.anchorNs = now - (epochMs - this.anchorSec * 1000) * 1e6;
    this.seenNs = now;
    this.ram[RtcReg.A] = RtcA.DV_32KHZ | 0x06;
    this.ram[RtcReg.B] = RtcB.HOURS_24;
    this.ram[RtcReg.CENTURY] = toBcd(Math.floor(new Date(epochMs).getUTCFullYear() / 100));
  }

  /** True while the guest keeps NMI masked (bit 7 of the last index write). */
  get nmiMasked(): boolean {
    return this.nmiDisabled;
  }

  /** The RTC's current time, in ms since the Unix epoch (whole seconds while it is stopped). */
  timeMs(): number {
    const now = this.clock.now();
    return this.frozenSec !== undefined ? this.frozenSec * 1000 : this.anchorSec * 1000 + (now - this.anchorNs) / 1e6;
  }

  dispose(): void {
    this.cancelEvent();
  }

  read(offset: number, _size: number): number {
    if (offset !== 1) return 0xff; // the index port is write-only
    const now = this.clock.now();
    const r = this.index;
    switch (r) {
      case RtcReg.A:
        return (this.ram[RtcReg.A]! & 0x7f) | (this.updateInProgress(now) ? RtcA.UIP : 0);
      case RtcReg.C: {
        this.evaluate(now);
        const value = this.flags | (this.irqf() ? RtcC.IRQF : 0);
        this.flags = 0;
        this.setLine(false);
        this.reschedule(now);
        return value;
      }
      case RtcReg.D:
        return RTC_D_VRT;
      default:
        if (r <= RtcReg.YEAR) return this.timeRegister(r, now);
        return this.ram[r]!;
    }
  }

  write(offset: number, _size: number, value: number): void {
    const v = value & 0xff;
    if (offset === 0) {
      this.index = v & 0x7f;
      this.nmiDisabled = (v & RTC_NMI_DISABLE) !== 0;
      return;
    }
    if (offset !== 1) return;
    const now = this.clock.now();
    const r = this.index;
    switch (r) {
      case RtcReg.A: return this.writeA(v, now);
      case RtcReg.B: return this.writeB(v, now);
      case RtcReg.C: case RtcReg.D: return; // read-only
      default:
        if (r <= RtcReg.YEAR) this.writeTime(r, v, now);
        else this.ram[r] = v;
    }
  }

  // ---- time ----------------------------------------------------------------------------------

  private running(): boolean {
    return this.frozenSec === undefined;
  }

  /** Whole seconds the clock shows now. */
  private seconds(now: number): number {
    return this.frozenSec ?? this.anchorSec + Math.floor((now - this.anchorNs) / NS_PER_S);
  }

  private updateInProgress(now: number): boolean {
    if (!this.running()) return false;
    const phase = mod(now - this.anchorNs, NS_PER_S); // ns since the last update began
    return phase < RTC_UPDATE_NS || phase >= NS_PER_S - RTC_UIP_LEAD_NS;
  }

  private timeRegister(r: number, now: number): number {
    if (r === RtcReg.SECONDS_ALARM || r === RtcReg.MINUTES_ALARM || r === RtcReg.HOURS_ALARM) return this.ram[r]!;
    const f = fields(this.seconds(now));
    switch (r) {
      case RtcReg.SECONDS: return this.encode(f.second);
      case RtcReg.MINUTES: return this.encode(f.minute);
      case RtcReg.HOURS: return this.encodeHours(f.hour);
      case RtcReg.DAY_OF_WEEK: return this.encode(((f.weekday + this.dowOffset) % 7) + 1);
      case RtcReg.DAY_OF_MONTH: return this.encode(f.day);
      case RtcReg.MONTH: return this.encode(f.month);
      default: return this.encode(f.year % 100);
    }
  }

  /** A write to a time or alarm register: the clock keeps its phase within the second. */
  private writeTime(r: number, v: number, now: number): void {
    if (r === RtcReg.SECONDS_ALARM || r === RtcReg.MINUTES_ALARM || r === RtcReg.HOURS_ALARM) {
      this.ram[r] = v;
      return;
    }
    this.evaluate(now);
    const current = this.seconds(now);
    const f = fields(current);
    if (r === RtcReg.DAY_OF_WEEK) {
      this.dowOffset = mod(this.decode(v) - 1 - f.weekday, 7);
      return;
    }
    const n = r === RtcReg.HOURS ? this.decodeHours(v) : this.decode(v);
    const next = { ...f, [FIELD_OF[r]!]: r === RtcReg.YEAR ? f.year - (f.year % 100) + n : n };
    const sec = Math.floor(Date.UTC(next.year, next.month - 1, next.day, next.hour, next.minute, next.second) / 1000);
    if (!Number.isFinite(sec)) return;
    if (this.frozenSec !== undefined) this.frozenSec = sec;
    else this.anchorSec += sec - current;
  }

  private writeA(v: number, now: number): void {
    this.evaluate(now);
    const wasReset = dividerStopped(this.ram[RtcReg.A]!);
    this.ram[RtcReg.A] = v & 0x7f;
    const reset = dividerStopped(v);
    if (!wasReset && reset) this.stop(now);
    else if (wasReset && !reset && !(this.ram[RtcReg.B]! & RtcB.SET)) {
      // Out of divider reset: the first update begins half a second later.
      this.resume(now, NS_PER_S / 2);
    }
    this.reschedule(now);
  }

  private writeB(v: number, now: number): void {
    this.evaluate(now);
    if (v & RtcB.SET) v &= ~RtcB.UIE; // SET clears UIE
    const wasSet = (this.ram[RtcReg.B]! & RtcB.SET) !== 0;
    this.ram[RtcReg.B] = v;
    if (!wasSet && v & RtcB.SET) this.stop(now);
    else if (wasSet && !(v & RtcB.SET) && !dividerStopped(this.ram[RtcReg.A]!)) this.resume(now, mod(now - this.anchorNs, NS_PER_S));
    this.setLine(this.irqf());
    this.reschedule(now);
  }

  private stop(now: number): void {
    if (this.frozenSec === undefined) this.frozenSec = this.seconds(now);
  }

  /** Restarts counting from the frozen time, `phaseNs` into the current second. */
  private resume(now: number, phaseNs: number): void {
    if (this.frozenSec === undefined) return;
    this.anchorSec = this.frozenSec;
    this.anchorNs = now - phaseNs;
    this.frozenSec = undefined;
    this.seenNs = now;
  }

  // ---- flags and interrupts ------------------------------------------------------------------

  private periodNs(): number {
    const rs = this.ram[RtcReg.A]! & RtcA.RS_MASK;
    if (rs === 0) return 0;
    return (1 << (rs <= 2 ? rs + 7 : rs)) * TAP_NS; // 1 and 2 repeat 8 and 9 with this time base
  }

  /** Sets PF, UF and AF for what happened between {@link seenNs} and `now`. */
  private evaluate(now: number): void {
    const from = this.seenNs;
    this.seenNs = now;
    if (!this.running() || now <= from) return;
    const p = this.periodNs();
    if (p > 0 && Math.floor((now - this.anchorNs) / p) > Math.floor((from - this.anchorNs) / p)) this.flags |= RtcC.PF;
    // Update k (second anchorSec + k) ends at anchorNs + k s + t_UC.
    const endK = (t: number) => Math.floor((t - this.anchorNs - RTC_UPDATE_NS) / NS_PER_S);
    const first = endK(from) + 1, last = endK(now);
    if (last < first) return;
    this.flags |= RtcC.UF;
    if (!(this.flags & RtcC.AF) && this.alarmBetween(this.anchorSec + first, this.anchorSec + last)) this.flags |= RtcC.AF;
  }

  /** True if the alarm matches any second in [a, b] (one day covers every combination). */
  private alarmBetween(a: number, b: number): boolean {
    const s = this.alarmField(RtcReg.SECONDS_ALARM), m = this.alarmField(RtcReg.MINUTES_ALARM), h = this.alarmField(RtcReg.HOURS_ALARM);
    for (let t = Math.max(a, b - 86_399); t <= b; t++) {
      const sec = mod(t, 60), min = mod(Math.floor(t / 60), 60), hour = mod(Math.floor(t / 3600), 24);
      if ((s < 0 || s === sec) && (m < 0 || m === min) && (h < 0 || h === hour)) return true;
    }
    return false;
  }

  /** An alarm register as a number, or -1 for "don't care" (0xC0–0xFF). */
  private alarmField(r: number): number {
    const v = this.ram[r]!;
    if (v >= 0xc0) return -1;
    return r === RtcReg.HOURS_ALARM ? this.decodeHours(v) : this.decode(v);
  }

  private irqf(): boolean {
    const b = this.ram[RtcReg.B]!;
    return ((this.flags & RtcC.PF) !== 0 && (b & RtcB.PIE) !== 0) ||
      ((this.flags & RtcC.AF) !== 0 && (b & RtcB.AIE) !== 0) ||
      ((this.flags & RtcC.UF) !== 0 && (b & RtcB.UIE) !== 0);
  }

  private setLine(level: boolean): void {
    if (level === this.lineHigh) return;
    this.lineHigh = level;
    if (level) this.irq.raise();
    else this.irq.lower();
  }

  /** One clock event at the next instant an enabled interrupt can fire; none when none can. */
  private reschedule(now: number): void {
    this.cancelEvent();
    if (!this.running() || this.lineHigh) return; // a raised line stays up until C is read
    const b = this.ram[RtcReg.B]!;
    let at = Infinity;
    const p = this.periodNs();
    if (b & RtcB.PIE && p > 0) at = this.anchorNs + (Math.floor((now - this.anchorNs) / p) + 1) * p;
    if (b & (RtcB.UIE | RtcB.AIE)) at = Math.min(at, this.anchorNs + (Math.floor((now - this.anchorNs - RTC_UPDATE_NS) / NS_PER_S) + 1) * NS_PER_S + RTC_UPDATE_NS);
    if (at === Infinity) return;
    this.event = this.clock.schedule(Math.ceil(at), (t) => this.fire(t));
  }

  private fire(now: number): void {
    this.event = 0;
    this.evaluate(now);
    this.setLine(this.irqf());
    this.reschedule(now);
  }

  private cancelEvent(): void {
    if (this.event !== 0) this.clock.cancel(this.event);
    this.event = 0;
  }

  // ---- formats --------------------------------------------------------------------------------

  private binary(): boolean {
    return (this.ram[RtcReg.B]! & RtcB.DM_BINARY) !== 0;
  }

  private encode(n: number): number {
    return this.binary() ? n : toBcd(n);
  }

  private decode(v: number): number {
    return this.binary() ? v : (v >> 4) * 10 + (v & 0x0f);
  }

  private encodeHours(h: number): number {
    if (this.ram[RtcReg.B]! & RtcB.HOURS_24) return this.encode(h);
    const pm = h >= 12;
    return this.encode(h % 12 === 0 ? 12 : h % 12) | (pm ? 0x80 : 0);
  }

  private decodeHours(v: number): number {
    if (this.ram[RtcReg.B]! & RtcB.HOURS_24) return this.decode(v);
    const h = this.decode(v & 0x7f) % 12;
    return v & 0x80 ? h + 12 : h;
  }
}

const FIELD_OF: Record<number, keyof Fields> = {
  [RtcReg.SECONDS]: 'second', [RtcReg.MINUTES]: 'minute', [RtcReg.HOURS]: 'hour',
  [RtcReg.DAY_OF_MONTH]: 'day', [RtcReg.MONTH]: 'month', [RtcReg.YEAR]: 'year',
};

interface Fields { year: number; month: number; day: number; hour: number; minute: number; second: number; weekday: number }

/** Calendar fields (UTC) of a time in seconds since the epoch; weekday 0 = Sunday. */
function fields(sec: number): Fields {
  const d = new Date(sec * 1000);
  return {
    year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(),
    hour: d.getUTCHours(), minute: d.getUTCMinutes(), second: d.getUTCSeconds(), weekday: d.getUTCDay(),
  };
}

function toBcd(n: number): number {
  return ((Math.floor(n / 10) % 10) << 4) | (n % 10);
}

function mod(a: number, m: number): number {
  return ((a % m) + m) % m;
}

/** DV = 11x (divider reset) or 011/10x (test modes): the time base does not reach the counters. */
function dividerStopped(a: number): boolean {
  return (a & RtcA.DV_MASK) > RtcA.DV_32KHZ;
}
