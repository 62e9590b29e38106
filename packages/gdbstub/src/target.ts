/**
 * What the stub debugs: a vCPU (registers, `vcpu.debug`), its guest memory, and run control. The
 * protocol code sees only {@link DebugTarget}; {@link machineTarget} builds one over a running
 * Hyvisor machine on any backend.
 * @module
 */
import type { Disposable, GuestMemory, Vcpu } from '@hyvisor/core';
import type { Machine, RunState } from '@hyvisor/vmm';

/** How a run ended, for the stop reply (`W` exit code or `X` signal). */
export interface TargetEnd {
  readonly reason: string;
  readonly exitCode: number;
}

/** What happened to the target while the debugger waited. */
export type TargetEvent =
  /** The vCPU stopped for the debugger (a `Debug` exit or the hold at start); the target is paused. */
  | { readonly kind: 'stopped' }
  /** The run is over. */
  | { readonly kind: 'ended'; readonly end: TargetEnd };

/** A stoppable guest. Register and memory access is valid while it is paused. */
export interface DebugTarget {
  readonly vcpu: Vcpu;
  readonly memory: GuestMemory;
  /** True while paused (stopped for the debugger, interrupted, or held at start). */
  readonly paused: boolean;
  /** The run's end once it is over. */
  readonly ended: TargetEnd | undefined;
  /** Lets the guest run again (after a stop). */
  resume(): void;
  /** Stops the guest as soon as possible (Ctrl-C); it is paused when this returns. */
  interrupt(): void;
  /** Ends the run (gdb's `kill`). */
  kill(): void;
  /** Calls `listener` on every event until the returned disposable is disposed. */
  onEvent(listener: (event: TargetEvent) => void): Disposable;
  /** Detaches from the machine (it runs on without a debugger). */
  dispose(): void;
}

/** Options of {@link machineTarget}. */
export interface MachineTargetOptions {
  /** Pause before the guest's first instruction until the debugger continues (QEMU's `-S`). Default true. */
  readonly holdAtStart?: boolean;
}

/**
 * A {@link DebugTarget} over `machine`: attaches as the machine's debugger (`Debug` exits pause it)
 * and follows its run state. Call before `machine.run()` to hold at the first instruction.
 */
export function machineTarget(machine: Machine, options: MachineTargetOptions = {}): DebugTarget {
  const listeners = new Set<(event: TargetEvent) => void>();
  const emit = (event: TargetEvent): void => { for (const l of [...listeners]) l(event); };
  let ended: TargetEnd | undefined;
  const attached = machine.attachDebugger({ stopped: () => emit({ kind: 'stopped' }) }, { holdAtStart: options.holdAtStart ?? true });
  const sub = machine.state$.subscribe((s: RunState) => {
    if ((s.kind === 'stopped' || s.kind === 'stopping') && ended === undefined) {
      ended = { reason: s.stop.reason, exitCode: s.stop.exitCode };
      // Stopping: the loop ends at its next check; a paused loop must run on to see it.
      emit({ kind: 'ended', end: ended });
    }
  });
  return {
    vcpu: machine.vcpu,
    memory: machine.vm.memory,
    get paused() { return machine.state === 'paused' || machine.state === 'created'; },
    get ended() { return ended; },
    resume: () => machine.resume(),
    interrupt: () => machine.pause(),
    kill: () => machine.stop('killed by the debugger'),
    onEvent(listener) {
      listeners.add(listener);
      return { dispose: () => { listeners.delete(listener); } };
    },
    dispose() {
      sub.unsubscribe();
      attached.dispose();
      listeners.clear();
    },
  };
}
