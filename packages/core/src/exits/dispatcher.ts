/**
 * The one place that routes an exit: `switch (exit.kind)` sends port I/O to the PIO bus, MMIO to
 * the MMIO bus, hypercalls to the CPU facet's transport, and tells the run loop what to do next.
 * This is the hot path: no allocation, no logging, telemetry is a counter increment.
 * @module
 */
import { ExitKind, exitValue, setExitValue, type VmExit } from './vm-exit.js';
import type { PioBus } from '../bus/pio-bus.js';
import type { MmioBus } from '../bus/mmio-bus.js';
import { CoreCounter, type Counters } from '../telemetry/counters.js';
import type { TelemetryProbes } from '../telemetry/probes.js';

/** What the run loop does after an exit. */
export const Disposition = {
  /** Re-enter the guest. */
  Continue: 0,
  /** Give the event loop its turn, then re-enter. */
  Yield: 1,
  /** The guest halted for good. */
  Halt: 2,
  /** The guest reset or triple-faulted. */
  Shutdown: 3,
  /** The backend could not go on (internal error, failed entry, unknown exit). */
  Error: 4,
} as const;
/** One of {@link Disposition}'s values. */
export type Disposition = (typeof Disposition)[keyof typeof Disposition];

/** Handles a hypercall exit (installed by the CPU facet that owns the transport). */
export type HypercallExitHandler = (exit: VmExit) => void;

/** Routes exits to buses and counts them. */
export class ExitDispatcher {
  /** Set by a CPU facet whose hypercall transport uses the backend's native hypercall exit. */
  onHypercall: HypercallExitHandler | undefined;


  constructor(
    private readonly pio: PioBus,
    private readonly mmio: MmioBus,
    private readonly counters: Counters,
    private readonly probes?: TelemetryProbes,
  ) {
    // The probes count MMIO exits per range index; this names the indexes (read at sample time).
    if (probes) probes.mmioRange = (index) => mmio.range(index);
  }

  /** Routes one exit and says what the loop should do next. */
  dispatch(exit: VmExit): Disposition {
    const counts = this.counters.values;
    counts[exit.kind]!++;
    switch (exit.kind) {
      case ExitKind.Io:
        this.portIo(exit, counts);
        return Disposition.Continue;
      case ExitKind.Mmio:
        this.mmioAccess(exit, counts);
        return Disposition.Continue;
      case ExitKind.IrqWindow:
        return Disposition.Continue;
      case ExitKind.Hypercall:
        if (this.onHypercall) this.onHypercall(exit);
        return Disposition.Continue;
      case ExitKind.Deadline:
        return Disposition.Yield;
      case ExitKind.Hlt:
        return Disposition.Halt;
      case ExitKind.Shutdown:
        return Disposition.Shutdown;
      default:
        return Disposition.Error;
    }
  }

  private portIo(exit: VmExit, counts: Float64Array): void {
    const { port, size, count } = exit;
    this.probes?.pio(port, size, count, exit.write);
    if (exit.write) {
      for (let i = 0; i < count; i++) {
        if (!this.pio.write(port, size, exitValue(exit, i))) counts[CoreCounter.PioUnhandled]!++;
      }
    } else {
      const ones = size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff;
      for (let i = 0; i < count; i++) {
        const v = this.pio.read(port, size);
        if (v < 0) counts[CoreCounter.PioUnhandled]!++;
        setExitValue(exit, v < 0 ? ones : v, i);
      }
    }
  }

  private mmioAccess(exit: VmExit, counts: Float64Array): void {
    const r = this.mmio.find(exit.gpa);
    this.probes?.mmio(exit.size, exit.write, r === undefined ? -1 : r.index);
    if (exit.write) {
      if (r === undefined) counts[CoreCounter.MmioUnhandled]!++;
      else this.mmio.writeIn(r, exit.gpa, exit.size, exitValue(exit));
    } else {
      const v = r === undefined ? -1 : this.mmio.readIn(r, exit.gpa, exit.size);
      if (v < 0) counts[CoreCounter.MmioUnhandled]!++;
      // Unowned MMIO reads as all ones, like an unclaimed PCI address.
      setExitValue(exit, v < 0 ? (exit.size >= 4 ? 0xffffffff : (1 << (exit.size * 8)) - 1) : v);
      // A number cannot hold 64 ones: set the high half of an 8-byte read directly.
      if (v < 0 && exit.size === 8) exit.data.setUint32(exit.dataOffset + 4, 0xffffffff, true);
    }
  }
}
