/**
 * pvclock: `struct pvclock_vcpu_time_info` in the shared-info page, the layout Linux's kvm-clock
 * and Xen share. The guest computes
 * `system_time + (((tsc - tsc_timestamp) << shift, or >> -shift) * mul) >> 32` from its own
 * `rdtsc`, so reading the time never exits.
 *
 * **Where the TSC comes from.** Node has no `rdtsc`, and the value that matters is the TSC the
 * *guest* sees (on KVM host TSC × ratio + offset; on kvm_pvm the host TSC itself; on the emulator
 * its virtual TSC). So the VMM reads it through the vCPU: MSR `IA32_TSC` (0x10, `Vcpu.getMsr`,
 * one `KVM_GET_MSRS` ioctl, ~9 µs on kvm_pvm). Capability `msr`.
 *
 * **Calibration.** At attach, {@link calibrate} brackets several MSR reads between two host clock
 * reads and keeps the tightest: the pair (tsc, host ns) is known to ± half that bracket. pvclock
 * system time 0 is that TSC; the rate is `KVM_GET_TSC_KHZ` from the backend's `info.tscKhz` (or, when
 * the backend does not give it, measured over 20 ms with two such pairs). Guest time is then
 * defined by the TSC alone: it never jumps and never drifts against the TSC. Host time only
 * decides when one-shot timers fire, and those check the guest's own clock before firing, so a
 * timer never fires early (see {@link OneShotTimer}).
 * @module
 */
import { PvClock, SharedInfo, type Clock, type Vcpu } from '@hyvisor/core';

/** `IA32_TSC`: reads the TSC the guest sees. */
export const MSR_IA32_TSC = 0x10;
/** `flags` bit 0: the TSC is stable (constant rate, synchronized). */
export const PVCLOCK_TSC_STABLE = 1;

/** Reads the guest-visible TSC now. */
export interface TscSource {
  readTsc(): bigint;
}

/** The guest-visible TSC of `vcpu`, through MSR IA32_TSC. */
export function vcpuTscSource(vcpu: Vcpu): TscSource {
  return { readTsc: () => vcpu.getMsr(MSR_IA32_TSC) };
}

/** Multiplier and shift that turn TSC ticks into ns: ns = ((ticks << shift) * mul) >> 32. */
export interface TimeScale {
  readonly mul: number;
  readonly shift: number;
}

/**
 * The pvclock scale for a TSC running at `tscHz` (Linux's `kvm_get_time_scale` with
 * scaled_hz = 1e9): the largest precision with `mul` in 32 bits.
 */
export function timeScale(tscHz: number): TimeScale {
  if (!(tscHz > 0) || !Number.isFinite(tscHz)) throw new RangeError(`pvclock: bad TSC rate ${tscHz} Hz`);
  let scaled = 1_000_000_000n;
  let tps = BigInt(Math.round(tscHz));
  let shift = 0;
  while (tps > scaled * 2n || tps >> 32n !== 0n) {
    tps >>= 1n;
    shift--;
  }
  while (tps <= scaled || scaled >> 32n !== 0n) {
    if (scaled >> 32n !== 0n || (tps & 0x80000000n) !== 0n) scaled >>= 1n;
    else tps <<= 1n;
    shift++;
  }
  const mul = Number((scaled << 32n) / tps);
  return { mul, shift };
}

/** `struct pvclock_vcpu_time_info` (without version and flags). */
export interface PvClockRecord {
  readonly tscTimestamp: bigint;
  readonly systemTime: bigint;
  readonly mul: number;
  readonly shift: number;
}

/** The guest's formula: ns of system time at `tsc` (exact, 128-bit product as `mul_u64_u32_shr`). */
export function pvclockTimeAt(record: PvClockRecord, tsc: bigint): bigint {
  let delta = BigInt.asUintN(64, tsc - record.tscTimestamp);
  delta = record.shift >= 0 ? BigInt.asUintN(64, delta << BigInt(record.shift)) : delta >> BigInt(-record.shift);
  return BigInt.asUintN(64, record.systemTime + ((delta * BigInt(record.mul)) >> 32n));
}

/** Reads the pvclock record the guest would see in `page` (shared-info bytes); also the version. */
export function readPvClock(page: Uint8Array): PvClockRecord & { version: number; flags: number } {
  const dv = new DataView(page.buffer, page.byteOffset + SharedInfo.TIME, PvClock.SIZE);
  return {
    version: dv.getUint32(PvClock.VERSION, true),
    tscTimestamp: dv.getBigUint64(PvClock.TSC_TIMESTAMP, true),
    systemTime: dv.getBigUint64(PvClock.SYSTEM_TIME, true),
    mul: dv.getUint32(PvClock.TSC_TO_SYSTEM_MUL, true),
    shift: dv.getInt8(PvClock.TSC_SHIFT),
    flags: dv.getUint8(PvClock.FLAGS),
  };
}

/** A (TSC, host time) pair and the TSC rate. */
export interface Calibration {
  /** Guest-visible TSC at {@link hostNs}. */
  readonly tsc: bigint;
  /** Host time (ns on the machine's clock) at which the TSC read {@link tsc}. */
  readonly hostNs: number;
  /** Half the tightest bracket: the pair is right to within this many ns. */
  readonly uncertaintyNs: number;
  /** TSC rate used, in kHz. */
  readonly tscKhz: number;
  /** True if the rate was measured here rather than given by the backend. */
  readonly measuredRate: boolean;
}

const SLEEPER = new Int32Array(new SharedArrayBuffer(4));

function bracket(tsc: TscSource, clock: Clock, samples: number): { tsc: bigint; hostNs: number; halfWidth: number } {
  let best = { tsc: 0n, hostNs: 0, halfWidth: Infinity };
  for (let i = 0; i < samples; i++) {
    const before = clock.now();
    const t = tsc.readTsc();
    const after = clock.now();
    const half = (after - before) / 2;
    if (half < best.halfWidth) best = { tsc: t, hostNs: before + half, halfWidth: half };
  }
  return best;
}

/**
 * Pairs the guest-visible TSC with host time: the tightest of `samples` bracketed reads. With
 * `tscKhz` 0 (unknown), measures the rate over `rateWindowMs` (blocking, at attach only).
 */
export function calibrate(tsc: TscSource, clock: Clock, tscKhz: number, samples = 7, rateWindowMs = 20): Calibration {
  const a = bracket(tsc, clock, samples);
  if (tscKhz > 0) return { tsc: a.tsc, hostNs: a.hostNs, uncertaintyNs: a.halfWidth, tscKhz, measuredRate: false };
  Atomics.wait(SLEEPER, 0, 0, rateWindowMs);
  const b = bracket(tsc, clock, samples);
  const khz = Math.round((Number(b.tsc - a.tsc) / (b.hostNs - a.hostNs)) * 1e6);
  if (!(khz > 0)) throw new RangeError('pvclock: the guest TSC does not advance; cannot calibrate its rate');
  return { tsc: b.tsc, hostNs: b.hostNs, uncertaintyNs: b.halfWidth, tscKhz: khz, measuredRate: true };
}

/**
 * The VM's pvclock: system time 0 at the calibration TSC, advancing at the TSC rate. Writes the
 * record into a shared-info page with the seqlock protocol, and maps system time to host time
 * for timers.
 */
export class PvClockSource {
  private rec: PvClockRecord;

  constructor(private readonly tsc: TscSource, public calibration: Calibration) {
    const { mul, shift } = timeScale(calibration.tscKhz * 1000);
    this.rec = { tscTimestamp: calibration.tsc, systemTime: 0n, mul, shift };
  }

  /** The record the guest sees (after the next {@link write}). */
  get record(): PvClockRecord {
    return this.rec;
  }

  /** System time (ns) now, from the guest-visible TSC: what the guest would read. */
  systemTimeNow(): number {
    return Number(pvclockTimeAt(this.rec, this.tsc.readTsc()));
  }

  /** Host time (ns on the machine's clock) at which system time reaches `systemNs` (estimate). */
  hostNsFor(systemNs: number): number {
    return this.calibration.hostNs + systemNs;
  }

  /** System time at host time `hostNs` (estimate from the calibration; no TSC read). */
  systemNsAtHost(hostNs: number): number {
    return hostNs - this.calibration.hostNs;
  }

  /**
   * Moves `tsc_timestamp` up to the TSC now, with `system_time` computed by the guest's own
   * formula, so the guest's deltas (and its 64-bit products, for a guest without a 128-bit
   * multiply) stay small. Time stays continuous and monotonic (the formula truncates, so the new
   * origin is never ahead of the old curve).
   */
  refresh(): void {
    const now = this.tsc.readTsc();
    if (now <= this.rec.tscTimestamp) return;
    this.rec = { ...this.rec, tscTimestamp: now, systemTime: pvclockTimeAt(this.rec, now) };
  }

  /** The guest-visible TSC now. */
  readTsc(): bigint {
    return this.tsc.readTsc();
  }

  /**
   * After a restore (snapshots): the guest's system time is `systemNs` at guest TSC `tsc` and
   * host time `hostNs`. With the same TSC rate the saved `record` stays (the page in guest memory
   * already holds it: the guest sees no change); with another rate (another backend) a new record
   * starts at (`tsc`, `systemNs`) with this rate's scale, so the guest's clock continues without a
   * jump. Returns true if the record changed (the caller writes it to the page).
   */
  restore(record: PvClockRecord, tscKhz: number, tsc: bigint, systemNs: number, hostNs: number): boolean {
    const sameRate = tscKhz === this.calibration.tscKhz;
    this.calibration = { ...this.calibration, tsc, hostNs: hostNs - systemNs, uncertaintyNs: 0 };
    if (sameRate) {
      this.rec = record;
      return false;
    }
    this.rec = { ...this.rec, tscTimestamp: tsc, systemTime: BigInt(Math.round(systemNs)) };
    return true;
  }

  /** Writes the record at `SharedInfo.TIME` of `page`: version odd, fields, version even. */
  write(page: Uint8Array): void {
    const dv = new DataView(page.buffer, page.byteOffset + SharedInfo.TIME, PvClock.SIZE);
    const version = dv.getUint32(PvClock.VERSION, true);
    const odd = (version | 1) >>> 0;
    dv.setUint32(PvClock.VERSION, odd, true);
    dv.setBigUint64(PvClock.TSC_TIMESTAMP, this.rec.tscTimestamp, true);
    dv.setBigUint64(PvClock.SYSTEM_TIME, this.rec.systemTime, true);
    dv.setUint32(PvClock.TSC_TO_SYSTEM_MUL, this.rec.mul, true);
    dv.setInt8(PvClock.TSC_SHIFT, this.rec.shift);
    dv.setUint8(PvClock.FLAGS, PVCLOCK_TSC_STABLE);
    dv.setUint32(PvClock.VERSION, (odd + 1) >>> 0, true);
  }
}
