/**
 * The machine's run state as one discriminated union with transition functions (after
 * Firecracker's `VcpuRunState` and its `running()` / `paused()` handlers), instead of a dozen
 * booleans. Each transition is a pure function from a state to the next; one that makes no sense
 * from where the machine is (resume a machine that is not paused, load a kernel into a running
 * guest) throws {@link RunStateError} naming both. {@link RunStates} holds the current state and
 * publishes every change as an rxjs observable.
 * @module
 */
import { createRequire } from 'node:module';
import type { BehaviorSubject, Observable } from 'rxjs';
import { HyvisorError, type Disposable } from '@hyvisor/core';

/** rxjs, loaded when someone first asks for {@link RunStates.changes} (a run nobody watches never loads it). */
let rx: typeof import('rxjs') | undefined;
function rxjs(): typeof import('rxjs') {
  return (rx ??= createRequire(import.meta.url)('rxjs') as typeof import('rxjs'));
}

/** Why a run ended. */
export type StopReason =
  /** The guest wrote an exit code to the debug-exit port. */
  | 'exit-code'
  /**
   * The guest powered off: it halted with nothing left to wake it (HLT with interrupts off, as
   * Linux's `poweroff -f` leaves the CPU without ACPI, or with no interrupt source). Exit code 0.
   */
  | 'poweroff'
  /** The guest reset the machine (the i8042's reset line, Linux's `reboot`). Exit code 0. */
  | 'reset'
  /** `Machine.stop` was called (e.g. Ctrl-C). */
  | 'stopped'
  /** The configured time limit passed. */
  | 'time-limit'
  /** The guest triple-faulted (the CPU shut down): an error, exit code 1. */
  | 'shutdown'
  /** The backend could not run the guest (internal error, failed entry, unknown exit). */
  | 'error';

/** Why and how a run ends: set once by the first stop request, kept when the loop has ended. */
export interface StopInfo {
  readonly reason: StopReason;
  /** The guest's exit code for `exit-code`; 0 for `poweroff` and `reset`; non-zero otherwise. */
  readonly exitCode: number;
  /** What happened, for `shutdown`, `error`, `time-limit` and `stopped`. */
  readonly message: string;
}

/**
 * Where the machine is in its life:
 * - `created`: built, not run yet (`kernelLoaded` once a guest image is in memory);
 * - `running`: the run loop is running the vCPU (or idling it in a HLT or a PV block);
 * - `paused`: the run loop waits; the vCPU keeps its state;
 * - `stopping`: a stop was requested (`stop` says why); the loop ends at its next check;
 * - `stopped`: the run is over (`stop` says why);
 * - `disposed`: everything the machine owned is released.
 */
export type RunState =
  | { readonly kind: 'created'; readonly kernelLoaded: boolean }
  | { readonly kind: 'running' }
  | { readonly kind: 'paused' }
  | { readonly kind: 'stopping'; readonly stop: StopInfo }
  | { readonly kind: 'stopped'; readonly stop: StopInfo }
  | { readonly kind: 'disposed' };

/** The name of a {@link RunState}: what `Machine.state` returns. */
export type MachineState = RunState['kind'];

/** A transition that makes no sense from the current state. */
export class RunStateError extends HyvisorError {
  constructor(
    /** The state the machine was in. */
    readonly from: MachineState,
    /** The transition asked for. */
    readonly transition: string,
    message: string,
  ) {
    super('RUN_STATE', message);
  }
}

const RUNNING: RunState = Object.freeze({ kind: 'running' });
const PAUSED: RunState = Object.freeze({ kind: 'paused' });
const DISPOSED: RunState = Object.freeze({ kind: 'disposed' });

function refuse(from: RunState, transition: string, allowed: string): never {
  throw new RunStateError(from.kind, transition, `machine cannot ${transition}: it is ${from.kind} (${transition} needs a machine that is ${allowed})`);
}

/** The state a new machine starts in. */
export const CREATED: RunState = Object.freeze({ kind: 'created', kernelLoaded: false });

/** A guest image was loaded: only before the first run. */
export function kernelLoaded(s: RunState): RunState {
  if (s.kind !== 'created') refuse(s, 'load a kernel', 'created (not yet run)');
  return s.kernelLoaded ? s : { kind: 'created', kernelLoaded: true };
}

/** The run loop starts: created with a kernel → running. */
export function started(s: RunState): RunState {
  if (s.kind !== 'created') refuse(s, 'run', 'created (a machine runs once)');
  if (!s.kernelLoaded) {
    throw new RunStateError(s.kind, 'run', 'no guest kernel loaded: call loadKernel() or loadKernelFile() first');
  }
  return RUNNING;
}

/** running → paused. */
export function paused(s: RunState): RunState {
  if (s.kind !== 'running') refuse(s, 'pause', 'running');
  return PAUSED;
}

/** paused → running. */
export function resumed(s: RunState): RunState {
  if (s.kind !== 'paused') refuse(s, 'resume', 'paused');
  return RUNNING;
}

/**
 * A stop is requested: running or paused → stopping (the loop ends at its next check); created →
 * stopped (the machine never runs: `Machine.run` then returns this stop at once). The first
 * request wins: from stopping or stopped the state stays as it is (a guest's exit code is not
 * overwritten by the Ctrl-C that follows it).
 */
export function stopRequested(s: RunState, stop: StopInfo): RunState {
  switch (s.kind) {
    case 'running':
    case 'paused':
      return { kind: 'stopping', stop };
    case 'created':
      return { kind: 'stopped', stop };
    case 'stopping':
    case 'stopped':
      return s;
    default:
      return refuse(s, 'stop', 'created, running or paused');
  }
}

/**
 * The run loop has ended: stopping → stopped. From running or paused (the loop ended by an
 * exception) the run is stopped with `fallback`.
 */
export function ended(s: RunState, fallback: StopInfo): RunState {
  switch (s.kind) {
    case 'stopping':
      return { kind: 'stopped', stop: s.stop };
    case 'running':
    case 'paused':
      return { kind: 'stopped', stop: fallback };
    default:
      return refuse(s, 'end its run', 'running, paused or stopping');
  }
}

/** Everything is released: any state → disposed (disposing twice is refused; `Machine.dispose` checks first). */
export function disposed(s: RunState): RunState {
  if (s.kind === 'disposed') refuse(s, 'be disposed', 'not disposed yet');
  return DISPOSED;
}

/**
 * The current {@link RunState} of one machine and the stream of its changes. Only transition
 * functions change it, so every state the machine is ever in passes through {@link apply} and is
 * seen by {@link changes} subscribers (synchronously, in order).
 */
export class RunStates {
  /** Kept as a plain field: the run loop reads it after every exit. */
  private state: RunState = CREATED;
  private readonly listeners: ((to: RunState, from: RunState) => void)[] = [];
  /** Made on the first {@link changes} request. */
  private subject: BehaviorSubject<RunState> | undefined;

  /** The current state. Cheap: the run loop reads it after every exit. */
  get current(): RunState {
    return this.state;
  }

  /** The current state, then every change. Completes when the machine is disposed. */
  get changes(): Observable<RunState> {
    if (this.subject === undefined) {
      const subject = (this.subject = new (rxjs().BehaviorSubject)<RunState>(this.state));
      if (this.state.kind === 'disposed') subject.complete();
      else this.onChange((to) => { subject.next(to); if (to.kind === 'disposed') subject.complete(); });
    }
    return this.subject.asObservable();
  }

  /** Calls `listener(to, from)` on every change from now on (synchronously, in order), until disposed. */
  onChange(listener: (to: RunState, from: RunState) => void): Disposable {
    this.listeners.push(listener);
    return {
      dispose: () => {
        const i = this.listeners.indexOf(listener);
        if (i >= 0) this.listeners.splice(i, 1);
      },
    };
  }

  /** Applies `transition` to the current state; tells the listeners if it is a new state. */
  apply(transition: (s: RunState) => RunState): RunState {
    const from = this.state;
    const to = transition(from);
    if (to === from) return to;
    this.state = to;
    for (const l of [...this.listeners]) l(to, from);
    return to;
  }

  /** Resolves once the state is no longer `paused` (at once if it is not). */
  whilePaused(): Promise<void> {
    if (this.state.kind !== 'paused') return Promise.resolve();
    return new Promise((resolve) => {
      const sub = this.onChange((to) => {
        if (to.kind === 'paused') return;
        sub.dispose();
        resolve();
      });
    });
  }
}
