/**
 * The hypercall table: number → handler. The transport (how the guest traps and where the
 * arguments live) belongs to the CPU facet; the table only routes and guards.
 * @module
 */
import { WiringError } from '../errors.js';
import { HypercallErrno } from '../abi/guest-abi.js';
import type { TelemetryProbes } from '../telemetry/probes.js';

/** Errno-style results returned to the guest, negated as in Xen and Linux (from the guest ABI). */
export const HypercallError = {
  /** No such hypercall. */
  ENOSYS: -HypercallErrno.ENOSYS,
  /** Bad argument (out-of-range address, bad count, …). */
  EINVAL: -HypercallErrno.EINVAL,
  /** Guest memory address outside guest RAM. */
  EFAULT: -HypercallErrno.EFAULT,
  /** Not allowed for this guest. */
  EPERM: -HypercallErrno.EPERM,
  /** The object is in use (a referenced table, a bound port). */
  EBUSY: -HypercallErrno.EBUSY,
  /** Out of a resource (pool pages, event channel ports). */
  ENOSPC: -HypercallErrno.ENOSPC,
} as const;

/**
 * The arguments of one hypercall. One object per vCPU is reused for every call; handlers must
 * not keep it.
 */
export interface HypercallArgs {
  /** vCPU making the call. */
  vcpu: number;
  a0: number; a1: number; a2: number; a3: number; a4: number; a5: number;
}

/** Handles one hypercall; returns the result for the guest (≥ 0 success, negative error). */
export type HypercallHandler = (args: HypercallArgs) => number;

/** Largest hypercall number the table accepts. */
export const MAX_HYPERCALL = 255;

/** Routes hypercalls by number. */
export class HypercallTable {
  /** Telemetry probes counting calls per number (set by the machine). */
  probes: TelemetryProbes | undefined;
  private readonly handlers: (HypercallHandler | undefined)[] = new Array(MAX_HYPERCALL + 1).fill(undefined);
  private readonly names: (string | undefined)[] = new Array(MAX_HYPERCALL + 1).fill(undefined);

  /** Registers `handler` for `nr`. Throws {@link WiringError} if taken or out of range. */
  register(nr: number, name: string, handler: HypercallHandler): void {
    if (!Number.isInteger(nr) || nr < 0 || nr > MAX_HYPERCALL) {
      throw new WiringError(`hypercall ${name}: number ${nr} is outside 0..${MAX_HYPERCALL}`, 'HypercallTable.register', { name, nr });
    }
    const taken = this.names[nr];
    if (taken !== undefined) throw new WiringError(`hypercall ${name}: number ${nr} is already taken by ${taken}`, 'HypercallTable.register', { name, nr, owner: taken });
    this.handlers[nr] = handler;
    this.names[nr] = name;
  }

  /** Name of hypercall `nr`, if registered. */
  nameOf(nr: number): string | undefined {
    return Number.isInteger(nr) && nr >= 0 && nr <= MAX_HYPERCALL ? this.names[nr] : undefined;
  }

  /**
   * Calls the handler for `nr`. A number the guest made up gets `ENOSYS`; a handler that throws
   * (a VMM bug) gets `EINVAL` for the guest rather than killing the VMM, and is reported via
   * `onHandlerError`.
   */
  call(nr: number, args: HypercallArgs, onHandlerError?: (nr: number, err: unknown) => void): number {
    this.probes?.hypercall(nr);
    const h = Number.isInteger(nr) && nr >= 0 && nr <= MAX_HYPERCALL ? this.handlers[nr] : undefined;
    if (h === undefined) return HypercallError.ENOSYS;
    try {
      return h(args);
    } catch (err) {
      onHandlerError?.(nr, err);
      return HypercallError.EINVAL;
    }
  }
}
