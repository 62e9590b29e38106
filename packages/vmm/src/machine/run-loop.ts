/**
 * The run loop (Firecracker's `vcpu.rs` run states, on one vCPU): run the vCPU in time slices,
 * dispatch its exits, fire due timer events between entries, idle it while it halts or a PV
 * block waits, and end the run with a {@link StopInfo}. Where the machine is in its life is the
 * {@link RunStates} it shares with the machine; the loop changes it only through the transition
 * functions of `run-state.ts`.
 * @module
 */
import {
  Disposition, EXIT_KIND_NAMES,
  type Disposable, type ExitDispatcher, type InterruptFacet, type TelemetryProbes, type TimerQueue, type Vcpu, type Vm,
} from '@hyvisor/core';
import type { FacetLoopHooks } from './facets.js';
import { paused, stopRequested, type RunStates, type StopInfo } from './run-state.js';

/** Backing store for synchronous sleeps of the run loop (Atomics.wait needs a shared Int32Array). */
const SLEEPER = new Int32Array(new SharedArrayBuffer(4));

/** Lets the event loop run (timers, I/O, signals) before the vCPU goes on. */
function eventLoopTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Sleeps on the event loop. */
function sleepMs(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** What the loop runs. */
export interface RunLoopParts {
  readonly vm: Vm;
  readonly vcpu: Vcpu;
  readonly dispatcher: ExitDispatcher;
  readonly clock: TimerQueue;
  readonly interrupt: InterruptFacet;
  readonly probes: TelemetryProbes;
  readonly states: RunStates;
  /** How long a vCPU runs before the event loop gets its turn (ms). */
  readonly sliceMs: number;
}

/** A debugger attached to the run loop (see `Machine.attachDebugger`). */
export interface DebugListener {
  /** The vCPU stopped for the debugger (a `Debug` exit); the machine is paused now. */
  stopped(): void;
}

/** The run loop of one machine; also the facets' {@link FacetLoopHooks}. */
export class RunLoop implements FacetLoopHooks {
  /** The attached debugger, told of `Debug` exits (which pause the machine); undefined: none. */
  debugger: DebugListener | undefined;
  private readonly pollHooks: (() => void)[] = [];
  /** Work for the next slice boundary (snapshots): run between slices, never inside one or while idle. */
  private readonly boundary: { run(): void; cancel(why: string): void }[] = [];
  /** True while the vCPU sleeps in {@link idle} (after HLT or a PV block): not a point to snapshot at. */
  idling = false;
  /**
   * A handler's request that the vCPU sleep ({@link block}): `undefined` none; `null` until the
   * interrupt facet has an interrupt pending; a function until it holds. Stored, not wrapped: no
   * closure per block.
   */
  private blockWake: (() => boolean) | null | undefined = undefined;
  /** When the current slice ends (ns on the clock). */
  private sliceEndNs = 0;

  constructor(private readonly parts: RunLoopParts) {
    // A device that schedules an event earlier than the armed deadline moves the deadline up.
    parts.clock.onEarliestChanged = (atNs) => {
      if (parts.states.current.kind === 'running' && atNs < this.sliceEndNs) {
        parts.vcpu.setDeadline(Math.max(0.001, (atNs - parts.clock.now()) / 1e6));
      }
    };
  }

  /** Asks the loop to idle the vCPU after the current exit until `wakeWhen` holds (default: an interrupt is pending). */
  block(wakeWhen?: () => boolean): void {
    this.blockWake = wakeWhen ?? null;
  }

  /** Runs `poll` at deadlines and sleeps, never per exit (ioeventfd draining and the like). */
  addPollHook(poll: () => void): Disposable {
    this.pollHooks.push(poll);
    return {
      dispose: () => {
        const i = this.pollHooks.indexOf(poll);
        if (i >= 0) this.pollHooks.splice(i, 1);
      },
    };
  }

  /** Asks the loop to end with `stop` (the first request wins) and gets the vCPU out of the guest. */
  requestStop(stop: StopInfo): void {
    const s = this.parts.states.apply((from) => stopRequested(from, stop));
    if (s.kind === 'stopping') this.parts.vcpu.kick();
  }

  /**
   * Runs until the state leaves running/paused: on its own (the guest exits, halts for good,
   * crashes) it requests the stop itself. Resolves when the state is `stopping`.
   */
  /**
   * Runs `work.run()` at the next slice boundary of a running machine: after a deadline exit,
   * with no device answer waiting to reach the guest and the vCPU not idle. If the run ends
   * first, `work.cancel(why)` is called instead.
   */
  atSliceBoundary(work: { run(): void; cancel(why: string): void }): void {
    this.boundary.push(work);
  }

  async run(): Promise<void> {
    try {
      await this.loop();
    } finally {
      for (const w of this.boundary.splice(0)) w.cancel('the run ended first');
    }
  }

  private async loop(): Promise<void> {
    const { states, probes } = this.parts;
    for (;;) {
      const kind = states.current.kind;
      if (kind === 'stopping') return;
      if (kind === 'running' && this.boundary.length > 0) for (const w of this.boundary.splice(0)) w.run();
      if (kind === 'paused') {
        await states.whilePaused();
        continue;
      }
      probes.runStarted();
      const d = this.runSlice();
      probes.runEnded();
      if (this.stopping()) return; // the slice may have ended by a stop request
      if (d === Disposition.Debug) {
        // Paused first, so the debugger finds the machine paused when it is told. Without a
        // debugger (detached since it set a breakpoint) there is no one to resume it: go on.
        if (this.debugger === undefined) continue;
        if (states.current.kind === 'running') states.apply(paused);
        this.debugger.stopped();
        continue;
      }
      if (d === Disposition.Yield) {
        if (this.haltedForGood()) {
          this.end(Disposition.Halt);
          return;
        }
        await eventLoopTurn();
        continue;
      }
      if (d === Disposition.Halt && this.blockWake !== undefined) {
        const wake = this.blockWake;
        this.blockWake = undefined;
        await this.idle(wake ?? undefined);
        continue;
      }
      if (d === Disposition.Halt && this.haltCanWake()) {
        await this.idle(undefined);
        continue;
      }
      this.end(d);
      return;
    }
  }

  /**
   * The hot path: run, dispatch, repeat, until the slice ends or the guest stops. The vCPU's
   * deadline is the slice end or the next timer event, whichever is first; due timer events fire
   * here, between two entries, so their interrupts reach the guest without an event-loop turn.
   */
  private runSlice(): Disposition {
    const { vcpu, dispatcher, clock, states, probes, interrupt } = this.parts;
    const beforeRun = interrupt.beforeRun?.bind(interrupt);
    this.sliceEndNs = clock.now() + this.parts.sliceMs * 1e6;
    const sliceEndHost = performance.now() + this.parts.sliceMs; // the same on host time; caps a virtual slice
    this.armDeadline();
    for (;;) {
      if (beforeRun !== undefined) beforeRun(vcpu);
      const exit = vcpu.run();
      if (probes.inFlight) probes.afterRun(vcpu.pendingInterrupts);
      const d = dispatcher.dispatch(exit);
      if (states.current.kind !== 'running' || d === Disposition.Debug) return d;
      if (this.blockWake !== undefined) return Disposition.Halt;
      if (d === Disposition.Continue) continue;
      if (d !== Disposition.Yield) return d;
      // A deadline: fire due timers; go on if the slice has time left and no work (a snapshot)
      // waits for the slice boundary: its kick must end the slice, or on a fast host the guest
      // could finish inside this slice and the snapshot would never be taken.
      this.poll();
      const now = clock.now();
      if (clock.nextAt() <= now) clock.runDue(now);
      if (now >= this.sliceEndNs || performance.now() >= sliceEndHost || states.current.kind !== 'running' || this.boundary.length > 0) return d;
      this.armDeadline();
    }
  }

  /** Arms the vCPU deadline at the slice end or the next timer event, whichever comes first. */
  private armDeadline(): void {
    const { clock, vcpu } = this.parts;
    const until = Math.min(this.sliceEndNs, clock.nextAt()) - clock.now();
    vcpu.setDeadline(Math.max(0.001, until / 1e6));
  }

  /**
   * With an in-kernel irqchip HLT does not exit: the backend holds the vCPU. Halted with
   * interrupts off, nothing can wake it: the run is over, as a HLT exit with IF=0 would be.
   */
  private haltedForGood(): boolean {
    const vcpu = this.parts.vcpu;
    try {
      return vcpu.isHalted() && (vcpu.getRegisters().rflags & 0x200n) === 0n;
    } catch {
      return false;
    }
  }

  /** A HLT with interrupts enabled and a facet that can still deliver one waits instead of ending. */
  private haltCanWake(): boolean {
    if (!this.parts.interrupt.canWake?.()) return false;
    try {
      return (this.parts.vcpu.getRegisters().rflags & 0x200n) !== 0n;
    } catch {
      return false;
    }
  }

  /**
   * The vCPU is idle (HLT with IF=1, or blocked by a facet): fires due timer events and runs the
   * poll hooks until `wake()` holds — by default until the interrupt facet has an interrupt
   * pending — or a stop is requested (stop, time limit); while paused, until it resumes. A virtual
   * clock jumps to the next event instead of sleeping. The event loop gets a turn at least once a
   * slice, so the time limit, stop() and device input are seen. A facet that cannot tell whether
   * an interrupt is pending gets one timer event per call instead.
   */
  private async idle(wake: (() => boolean) | undefined): Promise<void> {
    this.idling = true;
    try {
      await this.idleUntilWoken(wake);
    } finally {
      this.idling = false;
    }
  }

  private async idleUntilWoken(wake: (() => boolean) | undefined): Promise<void> {
    const { interrupt, clock, states, vm, sliceMs } = this.parts;
    if (wake === undefined && interrupt.interruptPending === undefined) {
      await this.waitForOneEvent();
      return;
    }
    const virtualClock = vm.virtualClock;
    let turnAt = performance.now();
    for (;;) {
      this.poll();
      clock.runDue();
      const kind = states.current.kind;
      if (kind === 'stopping') return;
      if (wake !== undefined ? wake() : interrupt.interruptPending!()) return;
      if (kind === 'paused') {
        await states.whilePaused();
        turnAt = performance.now();
        continue;
      }
      if (virtualClock !== undefined && Number.isFinite(clock.nextAt())) {
        if (performance.now() - turnAt >= sliceMs) { await eventLoopTurn(); turnAt = performance.now(); }
        virtualClock.advanceTo(clock.nextAt());
        continue;
      }
      const waitMs = (clock.nextAt() - clock.now()) / 1e6;
      if (waitMs > 2 || !Number.isFinite(waitMs)) {
        await sleepMs(Math.min(Number.isFinite(waitMs) ? waitMs - 1 : sliceMs, sliceMs));
        turnAt = performance.now();
      } else if (performance.now() - turnAt >= sliceMs) {
        await eventLoopTurn();
        turnAt = performance.now();
      } else if (waitMs > 0) {
        // setTimeout resolves ~1 ms: sleep the last stretch synchronously.
        Atomics.wait(SLEEPER, 0, 0, waitMs);
      }
    }
  }

  /** Waits for the next timer event (or a short event-loop turn when none is due soon) and fires it. */
  private async waitForOneEvent(): Promise<void> {
    const { clock, vm, sliceMs } = this.parts;
    this.poll();
    const waitMs = (clock.nextAt() - clock.now()) / 1e6;
    if (vm.virtualClock !== undefined && Number.isFinite(waitMs)) {
      vm.virtualClock.advanceTo(clock.nextAt());
    } else if (waitMs > 2 || !Number.isFinite(waitMs)) {
      await sleepMs(Math.min(Number.isFinite(waitMs) ? waitMs - 1 : 5, sliceMs));
    } else if (waitMs > 0) {
      Atomics.wait(SLEEPER, 0, 0, waitMs);
    }
    clock.runDue();
    this.poll();
  }

  /** True once a stop was requested (a method: a call is never narrowed by an earlier test). */
  private stopping(): boolean {
    return this.parts.states.current.kind === 'stopping';
  }

  /** Runs the poll hooks: at deadlines and sleeps, never per exit. */
  private poll(): void {
    const hooks = this.pollHooks;
    for (let i = 0; i < hooks.length; i++) hooks[i]!();
  }

  /** The guest ended the run itself (`d` is not Continue/Yield, or it halted for good): request the stop that says why. */
  private end(d: Disposition): void {
    this.parts.states.apply((s) => stopRequested(s, this.stopFor(d)));
  }

  private stopFor(d: Disposition): StopInfo {
    const exit = this.parts.vcpu.exit;
    switch (d) {
      case Disposition.Halt:
        return { reason: 'poweroff', message: '', exitCode: 0 };
      case Disposition.Shutdown:
        // The backend may say more than "triple fault" (the emulator names an instruction it lacks).
        return { reason: 'shutdown', message: `guest triple-faulted (the CPU shut down)${this.safeRip()}${exit.reason && exit.reason !== 'triple fault' ? `: ${exit.reason}` : ''}`, exitCode: 1 };
      default: {
        const kind = EXIT_KIND_NAMES[exit.kind] ?? String(exit.kind);
        const rip = exit.rip !== 0n ? ` at RIP 0x${exit.rip.toString(16)}` : this.safeRip();
        const fault = this.parts.dispatcher.fault;
        if (fault !== undefined) return { reason: 'error', message: `VMM bug, run stopped: ${fault} (${kind} exit${rip})`, exitCode: 1 };
        return { reason: 'error', message: `guest stopped by ${kind} exit${rip}: ${exit.reason || 'no detail'}`, exitCode: 1 };
      }
    }
  }

  private safeRip(): string {
    try {
      return ` at RIP 0x${this.parts.vcpu.getRegisters().rip.toString(16)}`;
    } catch {
      return '';
    }
  }
}
