/**
 * Exits: why a vCPU stopped running guest code. One mutable {@link VmExit} per vCPU is filled in
 * place on every exit (the hot path allocates nothing); `kind` says which fields are meaningful.
 * @module
 */

/** Every kind of exit, as small integers so telemetry can count them in a typed array. */
export const ExitKind = {
  /** Port I/O: `port`, `size`, `write`, `count`, data at `data[dataOffset…]`. */
  Io: 0,
  /** Memory-mapped I/O (or a write to a read-only region): `gpa`, `size`, `write`, data at `data[dataOffset…]`. */
  Mmio: 1,
  /** The guest executed HLT and nothing will wake it. */
  Hlt: 2,
  /** The guest reset or triple-faulted. */
  Shutdown: 3,
  /** The run deadline passed (or a signal interrupted the run): the VMM gets its turn, then resumes. */
  Deadline: 4,
  /** The backend could not run an instruction: `reason`, `rip`. */
  InternalError: 5,
  /** Entering the guest failed: `reason`, `rip`. */
  FailEntry: 6,
  /** The guest can now take an interrupt (requested interrupt window opened). */
  IrqWindow: 7,
  /** A hypercall through the backend's native transport: `hypercall`, arguments in registers. */
  Hypercall: 8,
  /** The backend reported an exit it does not know: `reason`, `rip`. */
  Unknown: 9,
  /**
   * The vCPU stopped for its debugger (a breakpoint, a watchpoint or a single step, see
   * `VcpuDebug`); the stop's detail is `vcpu.debug.lastStop`. Only with a debugger attached.
   */
  Debug: 10,
} as const;

/** One of {@link ExitKind}'s values. */
export type ExitKind = (typeof ExitKind)[keyof typeof ExitKind];

/** Number of exit kinds (the length of a per-kind counter array). */
export const EXIT_KIND_COUNT = 11;

/** Names of exit kinds, indexed by kind, for messages and telemetry. */
export const EXIT_KIND_NAMES: readonly string[] = [
  'io', 'mmio', 'hlt', 'shutdown', 'deadline', 'internal-error', 'fail-entry', 'irq-window', 'hypercall', 'unknown', 'debug',
];

/**
 * The reusable exit record. Backends fill it; the dispatcher reads it and, for reads, writes the
 * answer into `data` at `dataOffset`, from where the backend hands it back to the guest.
 */
export interface VmExit {
  kind: ExitKind;
  /** I/O port for `Io`. */
  port: number;
  /** Guest-physical address for `Mmio`. */
  gpa: number;
  /** Access width in bytes (1, 2, 4 or 8). */
  size: number;
  /** True for a guest write (OUT, store), false for a read. */
  write: boolean;
  /** Repetitions of a string I/O instruction (`rep outsb`); 1 otherwise. Element `i` is at `dataOffset + i*size`. */
  count: number;
  /** The backend's exit buffer (for KVM: the shared `kvm_run` page). */
  data: DataView;
  /** Where the access's bytes start in `data`. */
  dataOffset: number;
  /** Hypercall number for `Hypercall`. */
  hypercall: number;
  /** Guest RIP where known (errors), else 0n. */
  rip: bigint;
  /** Human-readable detail for error exits. */
  reason: string;
}

/** Makes an empty exit record over `data`. Called once per vCPU, never per exit. */
export function createExit(data: DataView): VmExit {
  return {
    kind: ExitKind.Deadline,
    port: 0,
    gpa: 0,
    size: 0,
    write: false,
    count: 1,
    data,
    dataOffset: 0,
    hypercall: 0,
    rip: 0n,
    reason: '',
  };
}

/** Reads element `i` of an I/O or MMIO access as an unsigned number (sizes 1, 2, 4; 8 → low 53 bits). */
export function exitValue(exit: VmExit, i = 0): number {
  const off = exit.dataOffset + i * exit.size;
  const d = exit.data;
  switch (exit.size) {
    case 1: return d.getUint8(off);
    case 2: return d.getUint16(off, true);
    case 4: return d.getUint32(off, true);
    default: return d.getUint32(off, true) + d.getUint32(off + 4, true) * 0x1_0000_0000;
  }
}

/** Writes element `i` of a read access (what the guest will see). */
export function setExitValue(exit: VmExit, value: number, i = 0): void {
  const off = exit.dataOffset + i * exit.size;
  const d = exit.data;
  switch (exit.size) {
    case 1: d.setUint8(off, value); break;
    case 2: d.setUint16(off, value, true); break;
    case 4: d.setUint32(off, value >>> 0, true); break;
    default:
      d.setUint32(off, value >>> 0, true);
      d.setUint32(off + 4, Math.floor(value / 0x1_0000_0000) >>> 0, true);
  }
}
