/**
 * The one place that routes an exit: `switch (exit.kind)` sends port I/O to the PIO bus, MMIO to
 * the MMIO bus, hypercalls to the CPU facet's transport, and tells the run loop what to do next.
 * This is the hot path: no allocation, no logging, telemetry is a counter increment.
 * @module
 */
import { EXIT_KIND_NAMES, ExitKind, exitValue, setExitValue, type VmExit } from './vm-exit.js';
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
  /** The vCPU stopped for its debugger (a `Debug` exit): the run loop pauses and tells the debugger. */
  Debug: 5,
} as const;
/** One of {@link Disposition}'s values. */
export type Disposition = (typeof Disposition)[keyof typeof Disposition];

/** Handles a hypercall exit (installed by the CPU facet that owns the transport). */
export type HypercallExitHandler = (exit: VmExit) => void;

/** Routes exits to buses and counts them. */
export class ExitDispatcher {
  /** Set by a CPU facet whose hypercall transport uses the backend's native hypercall exit. */
  onHypercall: HypercallExitHandler | undefined;
  /**
   * Why the last {@link dispatch} returned {@link Disposition.Error} because a device or handler
   * threw: names the device and the exit (a VMM bug, never the guest's doing). Undefined until then.
   */
  fault: string | undefined;

  constructor(
    private readonly pio: PioBus,
    private readonly mmio: MmioBus,
    private readonly counters: Counters,
    private readonly probes?: TelemetryProbes,
  ) {
    // The probes count MMIO exits per range index; this names the indexes (read at sample time).
    if (probes) probes.mmioRange = (index) => mmio.range(index);
  }

  /**
   * Routes one exit and says what the loop should do next. A device or handler that throws is a
   * VMM bug: the exception stops here, {@link fault} says which device and exit, and the answer
   * is {@link Disposition.Error} (the run ends; nothing escapes into the event loop).
   */
  dispatch(exit: VmExit): Disposition {
    const counts = this.counters.values;
    counts[exit.kind]!++;
    try {
      return this.route(exit, counts);
    } catch (err) {
      this.fault = this.describeFault(exit, err);
      return Disposition.Error;
    }
  }

  private route(exit: VmExit, counts: Float64Array): Disposition {
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
      case ExitKind.Debug:
        return Disposition.Debug;
      default:
        return Disposition.Error;
    }
  }

  /** The message for a throwing device: which device, which access, what it threw. Off the hot path. */
  private describeFault(exit: VmExit, err: unknown): string {
    const what = err instanceof Error ? err.message : String(err);
    const dir = exit.write ? 'write' : 'read';
    switch (exit.kind) {
      case ExitKind.Io: {
        const name = this.pio.find(exit.port)?.name;
        return `device ${name ? `'${name}'` : '(none)'} failed on a ${exit.size}-byte port ${dir} at 0x${exit.port.toString(16)}` +
          `${exit.count > 1 ? ` (×${exit.count})` : ''}: ${what}`;
      }
      case ExitKind.Mmio: {
        const r = this.mmio.find(exit.gpa);
        return `device ${r ? `'${r.name}'` : '(none)'} failed on a ${exit.size}-byte MMIO ${dir} at 0x${exit.gpa.toString(16)}: ${what}`;
      }
      case ExitKind.Hypercall:
        return `the handler of hypercall ${exit.hypercall} failed: ${what}`;
      default:
        return `the handler of a ${EXIT_KIND_NAMES[exit.kind] ?? exit.kind} exit failed: ${what}`;
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
