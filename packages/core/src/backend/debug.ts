/**
 * {@link Vcpu.debug}: what a debugger (the GDB stub) asks of a backend's vCPU: breakpoints,
 * watchpoints and single steps that end {@link Vcpu.run} with a `Debug` exit. Present exactly
 * when the backend offers it (capability by presence). Addresses are guest-virtual (linear), as
 * bigints: this is the debugger's path, not the exit path. Setting them is never on the hot path,
 * and a backend keeps its hot path unchanged while no breakpoint, watchpoint or step is set.
 * @module
 */

/** What a watchpoint watches: writes (gdb's `watch`), reads (`rwatch`) or both (`awatch`). */
export type WatchKind = 'write' | 'read' | 'access';

/** One watchpoint: `length` bytes (1–8 on hardware; any on the emulator) at a guest-virtual address. */
export interface Watchpoint {
  readonly address: bigint;
  readonly length: number;
  readonly kind: WatchKind;
}

/** Why the last `Debug` exit happened. */
export type DebugStop =
  /** One instruction ran (or one exception or interrupt was delivered) after a single-step request. */
  | { readonly kind: 'step' }
  /** RIP reached a breakpoint, before the instruction there ran. */
  | { readonly kind: 'breakpoint'; readonly address: bigint }
  /** An instruction accessed a watched range; it has completed. `address` is the watchpoint's. */
  | { readonly kind: 'watchpoint'; readonly address: bigint; readonly access: WatchKind };

/**
 * Debug controls of one vCPU. A `Debug` exit leaves the vCPU at an instruction boundary; the next
 * {@link Vcpu.run} goes on from there, and a breakpoint at that very RIP does not fire again
 * before its instruction has run (the x86 resume flag), so "continue" from a breakpoint moves on.
 */
export interface VcpuDebug {
  /** Breakpoints the backend can hold at once (a hardware limit such as 4, or a large number). */
  readonly maxBreakpoints: number;
  /** Watchpoints the backend can hold at once; 0 when it has none. */
  readonly maxWatchpoints: number;
  /** Replaces the breakpoints with `addresses` (guest-virtual); throws BackendError past {@link maxBreakpoints}. */
  setBreakpoints(addresses: readonly bigint[]): void;
  /** Replaces the watchpoints; throws BackendError past {@link maxWatchpoints} or for a length it cannot watch. */
  setWatchpoints(watchpoints: readonly Watchpoint[]): void;
  /** On: every run() executes at most one instruction and returns a `Debug` exit (`step`) after it. */
  setSingleStep(on: boolean): void;
  /** Why the last `Debug` exit happened (undefined before the first). */
  readonly lastStop: DebugStop | undefined;
}
