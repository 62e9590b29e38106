/**
 * A machine: one VM on one backend, composed from a strategy, with its buses, devices and a run
 * loop. It owns everything it creates and releases it on {@link Machine.dispose}.
 * @module
 */
import * as fs from 'node:fs';
import {
  BackendError, DisposableStore, Disposition, ExitDispatcher, GuestImageError,
  HypercallTable, MmioBus, PioBus, TelemetryHub, assertComposable, bootRegisters, longModeSpecialRegisters,
  strategyFeatureBits, writeBootTables, EXIT_KIND_NAMES, TimerQueue,
  type Backend, type Disposable, type ExitTrigger, type IrqLine, type MachineContext, type Strategy, type Vcpu,
  type Vm, type VmConfig, FACET_NAMES, FACETS, ServiceScope, attachFacets,
} from '@hyvisor/core';
import type { DependencyContainer } from 'tsyringe';
import { loadElf, parseElf } from '../loader/elf.js';
import { writeStartInfo } from '../loader/start-info.js';
import { buildCpuid, hostHintFor } from './cpuid.js';

/** What a machine is built from. */
export interface MachineOptions {
  /** Name for messages and telemetry. */
  readonly name?: string;
  readonly backend: Backend;
  readonly strategy: Strategy;
  /** Guest RAM in bytes, mapped at guest-physical 0. */
  readonly memory: number;
  /** How long a vCPU runs before the event loop gets its turn (ms). Default 10. */
  readonly sliceMs?: number;
  /** Stop the guest after this long (ms); 0 or absent: no limit. */
  readonly timeLimitMs?: number;
  /** Telemetry hub to count into (a new one by default). */
  readonly telemetry?: TelemetryHub;
  /** The config the machine is built from, handed to facets (storage file, …). */
  readonly config?: VmConfig;
  /**
   * The composition's container: the machine's service scope is a child of it, and its facet
   * registry names the facets that could provide a missing service. Default: tsyringe's root.
   */
  readonly container?: DependencyContainer;
}

/** Why a run ended. */
export type StopReason =
  /** The guest wrote an exit code to the debug-exit port. */
  | 'exit-code'
  /** The guest halted with nothing left to wake it. */
  | 'halt'
  /** {@link Machine.stop} was called (e.g. Ctrl-C). */
  | 'stopped'
  /** The configured time limit passed. */
  | 'time-limit'
  /** The guest reset or triple-faulted. */
  | 'shutdown'
  /** The backend could not run the guest (internal error, failed entry, unknown exit). */
  | 'error';

/** The outcome of {@link Machine.run}. */
export interface RunResult {
  readonly reason: StopReason;
  /** The guest's exit code for `exit-code`; 0 for `halt`; non-zero otherwise. */
  readonly exitCode: number;
  /** What happened, for `shutdown`, `error`, `time-limit` and `stopped`. */
  readonly message: string;
  /** Exits by kind during the run. */
  readonly exits: Readonly<Record<string, number>>;
  readonly durationMs: number;
}

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

/** Machine life cycle. */
export type MachineState = 'created' | 'running' | 'paused' | 'stopped' | 'disposed';

/** One VM, its vCPU, buses and devices, and its run loop. */
export class Machine implements Disposable, ExitTrigger {
  readonly name: string;
  readonly backend: Backend;
  readonly strategy: Strategy;
  readonly vm: Vm;
  readonly vcpu: Vcpu;
  readonly pio = new PioBus();
  readonly mmio = new MmioBus();
  readonly hypercalls = new HypercallTable();
  readonly telemetry: TelemetryHub;
  readonly dispatcher: ExitDispatcher;
  readonly ramSize: number;
  /**
   * Events of emulated timers; the run loop keeps the vCPU's deadline no later than the next. On
   * host monotonic time, or on the VM's {@link Vm.virtualClock} when the backend has one.
   */
  readonly clock: TimerQueue;
  /** This machine's services (what its facets provide each other; see {@link MachineContext.services}). */
  readonly services: ServiceScope;

  private readonly owned = new DisposableStore();
  private readonly sliceMs: number;
  private readonly timeLimitMs: number;
  private stateValue: MachineState = 'created';
  private stopRequested = false;
  private stopReason: StopReason = 'stopped';
  private stopMessage = '';
  private exitCode = 0;
  private wakePaused: (() => void) | undefined;
  private kernelLoaded = false;
  /** A handler asked the vCPU to sleep until an event ({@link MachineContext.block}). */
  private blockRequested = false;
  /** What ends that sleep (the handler's predicate, stored: no closure per block). */
  private blockWake: (() => boolean) | undefined;
  private readonly pollHooks: (() => void)[] = [];
  /** When the current slice ends (ns on {@link clock}). */
  private sliceEndNs = 0;
  private readonly config: VmConfig | undefined;
  private facetContext: MachineContext | undefined;

  /**
   * Creates the VM with guest RAM at 0, the boot tables and one vCPU in 64-bit mode, and attaches
   * the strategy's facets. Throws {@link CompositionError} if the strategy cannot run on the backend.
   */
  constructor(options: MachineOptions) {
    this.name = options.name ?? 'vm';
    this.backend = options.backend;
    this.strategy = options.strategy;
    this.ramSize = options.memory;
    this.sliceMs = options.sliceMs ?? 10;
    this.timeLimitMs = options.timeLimitMs ?? 0;
    this.telemetry = options.telemetry ?? new TelemetryHub();
    this.config = options.config;
    const facets = options.container?.isRegistered(FACETS, true) ? options.container.resolve(FACETS) : undefined;
    assertComposable(this.strategy, this.backend.info, facets ? { facets } : {});
    this.services = new ServiceScope(() => this.facetContext!, options.container);
    this.dispatcher = new ExitDispatcher(this.pio, this.mmio, this.telemetry.counters, this.telemetry.probes);
    this.hypercalls.probes = this.telemetry.probes;
    this.telemetry.portName = (p) => this.pio.find(p)?.name;
    this.telemetry.probes.hooked = true;
    try {
      this.vm = this.owned.add(this.backend.createVm({ name: this.name }));
      const virtualClock = this.vm.virtualClock;
      this.clock = new TimerQueue(virtualClock ? () => virtualClock.now() : undefined);
      this.vm.addRegion('ram', 0, this.ramSize);
      writeBootTables(this.vm.memory);
      for (const f of FACET_NAMES) this.strategy[f].prepareVm?.(this.vm);
      this.vcpu = this.vm.createVcpu(0);
      this.vcpu.setSpecialRegisters(longModeSpecialRegisters(this.vcpu.getSpecialRegisters()));
      const tscKhz = this.backend.info.tscKhz ?? 0;
      this.vcpu.setCpuid(buildCpuid(this.vcpu.supportedCpuid(), strategyFeatureBits(this.strategy), hostHintFor(this.backend.info), tscKhz));
      this.attachFacets();
      // A device that schedules an event earlier than the armed deadline moves the deadline up.
      this.clock.onEarliestChanged = (atNs) => {
        if (this.stateValue === 'running' && atNs < this.sliceEndNs) this.vcpu.setDeadline(Math.max(0.001, (atNs - this.clock.now()) / 1e6));
      };
    } catch (err) {
      this.owned.dispose();
      throw err;
    }
  }

  /** Current life-cycle state. */
  get state(): MachineState {
    return this.stateValue;
  }

  /** Registers something to be released with the machine (devices with timers, subscriptions, …). */
  own<T extends Disposable>(item: T): T {
    return this.owned.add(item);
  }

  /** Loads a guest ELF from a file and points the vCPU at its entry with `cmdline` in the start info. */
  loadKernelFile(file: string, cmdline = ''): void {
    let bytes: Uint8Array;
    try {
      bytes = fs.readFileSync(file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const hint = code === 'ENOENT' ? ' (build the guests with `pnpm build`)' : '';
      throw new GuestImageError(`${file}: cannot read guest kernel: ${code ?? String(err)}${hint}`);
    }
    this.loadKernel(bytes, cmdline, file);
  }

  /** Loads a guest ELF image (validated first) and points the vCPU at its entry. */
  loadKernel(bytes: Uint8Array, cmdline = '', name = 'guest image'): void {
    const image = parseElf(bytes, this.ramSize, name);
    loadElf(this.vm.memory, bytes, image, name);
    writeStartInfo(this.vm.memory, this.ramSize, cmdline);
    this.vcpu.setRegisters(bootRegisters(image.entry));
    this.kernelLoaded = true;
  }

  /** The line of ISA interrupt `irq` as the strategy's interrupt facet routes it (for devices). */
  irqLine(irq: number): IrqLine {
    return this.strategy.interrupt.irqLine(irq);
  }

  /** Ends the run with the guest's exit `code` (called by the debug-exit device). */
  requestExit(code: number): void {
    this.requestStop('exit-code', '', code);
  }

  /** Stops the run at the next exit or deadline; `run()` resolves with reason `stopped`. */
  stop(message = 'stopped by the VMM'): void {
    this.requestStop('stopped', message, 130);
    this.vcpu.kick();
    this.wakePaused?.();
  }

  /**
   * Ends the run as failed (reason `error`, exit code 1) with `message`, at the next exit or
   * deadline: for the VMM's own failures outside an exit (the console's stdout closed, …).
   */
  fail(message: string): void {
    this.requestStop('error', message, 1);
    this.telemetry.emit({ type: 'error', time: Date.now(), message });
    this.vcpu.kick();
    this.wakePaused?.();
  }

  /** Pauses after the current time slice; the vCPU keeps its state. */
  pause(): void {
    if (this.stateValue !== 'running') return;
    this.stateValue = 'paused';
    this.vcpu.kick();
    this.telemetry.emit({ type: 'state', time: Date.now(), state: 'paused' });
  }

  /** Resumes a paused machine. */
  resume(): void {
    if (this.stateValue !== 'paused') return;
    this.stateValue = 'running';
    this.telemetry.emit({ type: 'state', time: Date.now(), state: 'running' });
    this.wakePaused?.();
  }

  /**
   * Runs the guest until it exits, halts, crashes, hits the time limit or {@link stop} is called.
   * The vCPU runs in slices so timers, I/O and telemetry get their turn between them.
   */
  async run(): Promise<RunResult> {
    if (!this.kernelLoaded) throw new GuestImageError('no guest kernel loaded: call loadKernel() or loadKernelFile() first');
    if (this.stateValue !== 'created') throw new BackendError(`machine ${this.name} cannot run: it is ${this.stateValue}`);
    this.stateValue = 'running';
    this.telemetry.emit({ type: 'state', time: Date.now(), state: 'running' });
    const start = performance.now();
    const before = this.telemetry.counters.snapshot();
    const limit = this.timeLimitMs > 0
      ? setTimeout(() => { this.requestStop('time-limit', `time limit of ${this.timeLimitMs} ms reached`, 124); this.vcpu.kick(); }, this.timeLimitMs)
      : undefined;
    try {
      await this.loop();
    } finally {
      if (limit) clearTimeout(limit);
      this.vcpu.setDeadline(0);
      this.stateValue = 'stopped';
    }
    this.telemetry.emit({ type: 'state', time: Date.now(), state: 'stopped' });
    const after = this.telemetry.counters.snapshot();
    const exits: Record<string, number> = {};
    for (const k of EXIT_KIND_NAMES) exits[k] = (after[`exits.${k}`] ?? 0) - (before[`exits.${k}`] ?? 0);
    return { reason: this.stopReason, exitCode: this.exitCode, message: this.stopMessage, exits, durationMs: performance.now() - start };
  }

  /** Releases the VM and everything registered with the machine, newest first. */
  dispose(): void {
    if (this.stateValue === 'disposed') return;
    this.stateValue = 'disposed';
    this.owned.dispose();
  }

  /** `using machine = new Machine(…)` disposes it on every path, as {@link dispose} does. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  private async loop(): Promise<void> {
    for (;;) {
      if (this.stopRequested) return;
      if (this.stateValue === 'paused') {
        await new Promise<void>((resolve) => { this.wakePaused = resolve; });
        this.wakePaused = undefined;
        continue;
      }
      this.telemetry.probes.runStarted();
      const d = this.runSlice();
      this.telemetry.probes.runEnded();
      if (this.stopRequested) return;
      if (d === Disposition.Yield) {
        if (this.haltedForGood()) {
          this.finish(Disposition.Halt);
          return;
        }
        await eventLoopTurn();
        continue;
      }
      if (d === Disposition.Halt && this.blockRequested) {
        this.blockRequested = false;
        const wake = this.blockWake;
        this.blockWake = undefined;
        await this.idle(wake);
        continue;
      }
      if (d === Disposition.Halt && this.haltCanWake()) {
        await this.idle(undefined);
        continue;
      }
      this.finish(d);
      return;
    }
  }

  /**
   * The hot path: run, dispatch, repeat, until the slice ends or the guest stops. The vCPU's
   * deadline is the slice end or the next timer event, whichever is first; due timer events fire
   * here, between two entries, so their interrupts reach the guest without an event-loop turn.
   */
  private runSlice(): Disposition {
    const vcpu = this.vcpu;
    const dispatcher = this.dispatcher;
    const clock = this.clock;
    const beforeRun = this.strategy.interrupt.beforeRun?.bind(this.strategy.interrupt);
    const probes = this.telemetry.probes;
    this.sliceEndNs = clock.now() + this.sliceMs * 1e6;
    const sliceEndHost = performance.now() + this.sliceMs; // the same on host time; caps a virtual slice
    this.armDeadline();
    for (;;) {
      if (beforeRun !== undefined) beforeRun(vcpu);
      const exit = vcpu.run();
      if (probes.inFlight) probes.afterRun(vcpu.pendingInterrupts);
      const d = dispatcher.dispatch(exit);
      if (this.stopRequested) return d;
      if (this.blockRequested) return Disposition.Halt;
      if (d === Disposition.Continue) continue;
      if (d !== Disposition.Yield) return d;
      // A deadline: fire due timers; go on if the slice has time left.
      this.poll();
      const now = clock.now();
      if (clock.nextAt() <= now) clock.runDue(now);
      if (now >= this.sliceEndNs || performance.now() >= sliceEndHost || this.stateValue !== 'running') return d;
      this.armDeadline();
    }
  }

  /** Arms the vCPU deadline at the slice end or the next timer event, whichever comes first. */
  private armDeadline(): void {
    const until = Math.min(this.sliceEndNs, this.clock.nextAt()) - this.clock.now();
    this.vcpu.setDeadline(Math.max(0.001, until / 1e6));
  }

  /**
   * With an in-kernel irqchip HLT does not exit: the backend holds the vCPU. Halted with
   * interrupts off, nothing can wake it: the run is over, as a HLT exit with IF=0 would be.
   */
  private haltedForGood(): boolean {
    try {
      return this.vcpu.isHalted() && (this.vcpu.getRegisters().rflags & 0x200n) === 0n;
    } catch {
      return false;
    }
  }

  /** A HLT with interrupts enabled and a facet that can still deliver one waits instead of ending. */
  private haltCanWake(): boolean {
    if (!this.strategy.interrupt.canWake?.()) return false;
    try {
      return (this.vcpu.getRegisters().rflags & 0x200n) !== 0n;
    } catch {
      return false;
    }
  }

  /**
   * The vCPU is idle (HLT with IF=1, or blocked by {@link MachineContext.block}): fires due timer
   * events and runs the poll hooks until `wake()` holds — by default until the interrupt facet has
   * an interrupt pending — or the machine is stopped (stop, time limit); while paused, until it
   * resumes. A virtual clock jumps to the next event instead of sleeping. The event loop gets a turn
   * at least once a slice, so the time limit, stop() and device input are seen. A facet that cannot
   * tell whether an interrupt is pending gets one timer event per call instead.
   */
  private async idle(wake: (() => boolean) | undefined): Promise<void> {
    const interrupt = this.strategy.interrupt;
    if (wake === undefined && interrupt.interruptPending === undefined) {
      await this.waitForOneEvent();
      return;
    }
    const clock = this.clock;
    let turnAt = performance.now();
    for (;;) {
      this.poll();
      clock.runDue();
      if (this.stopRequested) return;
      if (wake !== undefined ? wake() : interrupt.interruptPending!()) return;
      if (this.stateValue === 'paused') {
        await new Promise<void>((resolve) => { this.wakePaused = resolve; });
        this.wakePaused = undefined;
        turnAt = performance.now();
        continue;
      }
      if (this.vm.virtualClock && Number.isFinite(clock.nextAt())) {
        if (performance.now() - turnAt >= this.sliceMs) { await eventLoopTurn(); turnAt = performance.now(); }
        this.vm.virtualClock.advanceTo(clock.nextAt());
        continue;
      }
      const waitMs = (clock.nextAt() - clock.now()) / 1e6;
      if (waitMs > 2 || !Number.isFinite(waitMs)) {
        await sleepMs(Math.min(Number.isFinite(waitMs) ? waitMs - 1 : this.sliceMs, this.sliceMs));
        turnAt = performance.now();
      } else if (performance.now() - turnAt >= this.sliceMs) {
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
    this.poll();
    const waitMs = (this.clock.nextAt() - this.clock.now()) / 1e6;
    if (this.vm.virtualClock && Number.isFinite(waitMs)) {
      this.vm.virtualClock.advanceTo(this.clock.nextAt());
    } else if (waitMs > 2 || !Number.isFinite(waitMs)) {
      await sleepMs(Math.min(Number.isFinite(waitMs) ? waitMs - 1 : 5, this.sliceMs));
    } else if (waitMs > 0) {
      Atomics.wait(SLEEPER, 0, 0, waitMs);
    }
    this.clock.runDue();
    this.poll();
  }

  /** Runs the poll hooks (ioeventfd draining and the like): at deadlines and sleeps, never per exit. */
  private poll(): void {
    const hooks = this.pollHooks;
    for (let i = 0; i < hooks.length; i++) hooks[i]!();
  }

  private finish(d: Disposition): void {
    const exit = this.vcpu.exit;
    switch (d) {
      case Disposition.Halt:
        this.requestStop('halt', '', 0);
        return;
      case Disposition.Shutdown: {
        const rip = this.safeRip();
        this.requestStop('shutdown', `guest shut down (triple fault or reset)${rip}`, 1);
        return;
      }
      default: {
        const kind = EXIT_KIND_NAMES[exit.kind] ?? String(exit.kind);
        const rip = exit.rip !== 0n ? ` at RIP 0x${exit.rip.toString(16)}` : this.safeRip();
        const fault = this.dispatcher.fault;
        if (fault !== undefined) this.requestStop('error', `VMM bug, run stopped: ${fault} (${kind} exit${rip})`, 1);
        else this.requestStop('error', `guest stopped by ${kind} exit${rip}: ${exit.reason || 'no detail'}`, 1);
        this.telemetry.emit({ type: 'error', time: Date.now(), message: this.stopMessage });
      }
    }
  }

  private safeRip(): string {
    try {
      return ` at RIP 0x${this.vcpu.getRegisters().rip.toString(16)}`;
    } catch {
      return '';
    }
  }

  private requestStop(reason: StopReason, message: string, code: number): void {
    if (this.stopRequested) return;
    this.stopRequested = true;
    this.stopReason = reason;
    this.stopMessage = message;
    this.exitCode = code;
  }

  /** Attaches the facets, providers of a service before its users, in this machine's service scope. */
  private attachFacets(): void {
    this.owned.add(this.services);
    const interrupt = this.strategy.interrupt;
    const ctx: MachineContext = {
      vm: this.vm, vcpus: [this.vcpu], pio: this.pio, mmio: this.mmio, hypercalls: this.hypercalls,
      dispatcher: this.dispatcher, telemetry: this.telemetry, ramSize: this.ramSize, clock: this.clock,
      services: this.services,
      irqLine: (irq: number): IrqLine => interrupt.irqLine(irq),
      block: (wakeWhen?: () => boolean) => { this.blockRequested = true; this.blockWake = wakeWhen; },
      addPollHook: (poll: () => void): Disposable => {
        this.pollHooks.push(poll);
        return { dispose: () => { const i = this.pollHooks.indexOf(poll); if (i >= 0) this.pollHooks.splice(i, 1); } };
      },
      ...(this.config ? { config: this.config } : {}),
    };
    this.facetContext = ctx;
    for (const d of attachFacets(this.strategy, ctx)) this.owned.add(d);
  }
}
