/**
 * A machine: one VM on one backend, composed from a strategy, with its buses, devices and a run
 * loop. It owns everything it creates and releases it on {@link Machine.dispose}.
 *
 * Ownership rule (the same everywhere in Hyvisor): whoever creates a resource disposes it. The
 * machine creates its VM, vCPU, buses and devices, so it releases them; it is *handed* its
 * backend, so it never disposes it: one backend may serve several machines (one /dev/kvm fd, many
 * VMs), and the code that opened it disposes it after the last machine (`using backend` before
 * `using machine` does exactly that). {@link createMachineFromConfig} opens the backend itself,
 * so the {@link ComposedMachine} it returns disposes it, after the machine.
 *
 * The parts, after Firecracker's split: `build.ts` makes the VM and vCPU, `facets.ts` attaches
 * the strategy's facets, `kernel.ts` loads the guest, `run-loop.ts` runs it, and `run-state.ts`
 * says where the machine is in its life (one discriminated union, changed only by transition
 * functions, published as {@link Machine.state$}). Devices are attached from outside
 * (`../devices/attach.ts`). This class ties them together behind the public API.
 * @module
 */
import type { Observable } from 'rxjs';
import type { DependencyContainer } from 'tsyringe';
import {
  DisposableStore, ExitDispatcher, ExitKind, FACETS, GuestImageError, SnapshotError, WiringError, HypercallTable, MmioBus, PioBus, ServiceScope, TelemetryHub,
  assertComposable, EXIT_KIND_NAMES, type TimerQueue,
  type Backend, type Disposable, type ExitTrigger, type IrqLine, type MachineContext, type ResetTrigger, type Strategy, type Vcpu, type Vm,
  type VmConfig,
} from '@hyvisor/core';
import { buildVm } from './build.js';
import { attachMachineFacets } from './facets.js';
import { loadKernelImage, loadLinuxImage, readKernelFile, type LinuxImages } from './kernel.js';
import type { LinuxBoot } from '../loader/linux.js';
import { RunLoop, type DebugListener } from './run-loop.js';
import type { MachineDevices } from '../devices/attach.js';
import { PartialRestoreError, restoreSnapshot, takeSnapshot, type LoadedSnapshot, type RestoreOptions, type SnapshotInfo } from '../snapshot/snapshot.js';
import {
  RunStates, disposed, ended, kernelLoaded, paused, resumed, started,
  type MachineState, type RunState, type StopInfo, type StopReason,
} from './run-state.js';

export type { MachineState, RunState, StopInfo, StopReason } from './run-state.js';
export type { DebugListener } from './run-loop.js';

/** How a debugger attaches ({@link Machine.attachDebugger}). */
export interface AttachDebuggerOptions {
  /** Pause before the guest's first instruction until the debugger resumes (QEMU's `-S`). */
  readonly holdAtStart?: boolean;
}
export { RunStateError } from './run-state.js';

/** What a machine is built from. */
export interface MachineOptions {
  /** Name for messages and telemetry. */
  readonly name?: string;
  /** The backend to create the VM on. Not owned: the machine never disposes it (see the module's ownership rule). */
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

/** The outcome of {@link Machine.run}. */
export interface RunResult {
  readonly reason: StopReason;
  /** The guest's exit code for `exit-code`; 0 for `poweroff` and `reset`; non-zero otherwise. */
  readonly exitCode: number;
  /** What happened, for `shutdown`, `error`, `time-limit` and `stopped`. */
  readonly message: string;
  /** Exits by kind during the run. */
  readonly exits: Readonly<Record<string, number>>;
  readonly durationMs: number;
}

/** The states telemetry reports (`state` events): the ones a user sees. */
const REPORTED: ReadonlySet<MachineState> = new Set(['running', 'paused', 'stopped']);

/** One VM, its vCPU, buses and devices, and its run loop. */
export class Machine implements Disposable, ExitTrigger, ResetTrigger {
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
  private facetContext: MachineContext | undefined;
  private readonly timeLimitMs: number;
  private readonly states = new RunStates();
  private readonly loop: RunLoop;
  /** performance.now() when {@link run} started; undefined before. */
  private startedAt: number | undefined;
  /** {@link run} pauses before the first instruction and tells the debugger (see {@link attachDebugger}). */
  private holdAtStart = false;
  /** The devices attached to this machine (see `attachDevices`), for snapshots. */
  private devices: MachineDevices | undefined;
  private readonly config: VmConfig | undefined;
  /** Set when a restore failed after it began changing the machine: it must not run. */
  private halfRestored: string | undefined;

  /**
   * Creates the VM with guest RAM at 0, the boot tables and one vCPU in 64-bit mode, and attaches
   * the strategy's facets. Throws {@link CompositionError} if the strategy cannot run on the backend.
   */
  constructor(options: MachineOptions) {
    this.name = options.name ?? 'vm';
    this.backend = options.backend;
    this.strategy = options.strategy;
    this.ramSize = options.memory;
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
      const built = buildVm(this.backend, this.strategy, this.name, this.ramSize, this.owned);
      this.vm = built.vm;
      this.vcpu = built.vcpu;
      this.clock = built.clock;
      this.loop = new RunLoop({
        vm: this.vm, vcpu: this.vcpu, dispatcher: this.dispatcher, clock: this.clock, interrupt: this.strategy.interrupt,
        probes: this.telemetry.probes, states: this.states, sliceMs: options.sliceMs ?? 10,
      });
      attachMachineFacets(this.strategy, {
        vm: this.vm, vcpu: this.vcpu, pio: this.pio, mmio: this.mmio, hypercalls: this.hypercalls, dispatcher: this.dispatcher,
        telemetry: this.telemetry, ramSize: this.ramSize, clock: this.clock, services: this.services, config: options.config,
        onContext: (ctx) => { this.facetContext = ctx; },
      }, this.loop, this.owned);
    } catch (err) {
      this.owned.dispose();
      throw err;
    }
    this.owned.add(this.reportStates());
  }

  /** Current life-cycle state. */
  get state(): MachineState {
    return this.states.current.kind;
  }

  /** The current state with what it carries (why a stopped machine stopped). */
  get runState(): RunState {
    return this.states.current;
  }

  /**
   * The current {@link RunState}, then every change, in order; completes when the machine is
   * disposed. Emitted from the transition itself (never per exit).
   */
  get state$(): Observable<RunState> {
    return this.states.changes;
  }

  /**
   * Registers something to be released with the machine (devices with timers, subscriptions, …).
   * Refuses the machine's backend: the machine never owns what it was handed (see the module's
   * ownership rule); dispose the backend where it was created, after the machine.
   */
  own<T extends Disposable>(item: T): T {
    if ((item as unknown) === this.backend) {
      throw new WiringError(
        `machine ${this.name}: a machine never disposes its backend; dispose it where it was created, after the machine (using backend = …; using machine = …)`,
        'Machine.own',
      );
    }
    return this.owned.add(item);
  }

  /** @internal Called by `attachDevices`: the devices a snapshot saves. */
  devicesAttached(devices: MachineDevices): void {
    this.devices = devices;
  }

  /**
   * Saves the machine into directory `dir` (docs/snapshots.md): guest memory, the vCPU, every
   * device and facet, and what a restore checks. A running machine is saved at its next slice
   * boundary (within a slice, unless the guest idles: then when it wakes), so no device answer is
   * in flight; a machine that has not started, is paused between slices or has stopped is saved
   * at once. Rejects with a one-line {@link SnapshotError} (nothing written) if a facet cannot
   * save its state, if the machine is paused while its vCPU sleeps, or if the run ends first.
   */
  snapshot(dir: string): Promise<SnapshotInfo> {
    const devices = this.devices;
    if (devices === undefined) return Promise.reject(new SnapshotError(`snapshot: machine ${this.name} has no devices attached (attachDevices or createMachineFromConfig attaches them)`));
    const take = (): SnapshotInfo => takeSnapshot(this, devices, this.config, dir);
    const kind = this.states.current.kind;
    if (kind === 'disposed') return Promise.reject(new SnapshotError(`snapshot: machine ${this.name} is disposed`));
    if (kind === 'running' || kind === 'stopping') {
      return new Promise((resolve, reject) => {
        this.loop.atSliceBoundary({
          run: () => { try { resolve(take()); } catch (err) { reject(err); } },
          cancel: (why) => reject(new SnapshotError(`snapshot: machine ${this.name} was not saved: ${why}`)),
        });
        this.vcpu.kick(); // end the current slice now rather than at its deadline
      });
    }
    if (kind === 'paused' && (this.loop.idling || this.exitAwaitsAnswer())) {
      return Promise.reject(new SnapshotError(`snapshot: machine ${this.name} paused while its vCPU ${this.loop.idling ? 'sleeps' : 'waits for a device answer'}; take the snapshot while it runs`));
    }
    try {
      return Promise.resolve(take());
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Loads the snapshot in `dir` into this machine, which must have been built (same board,
   * facets, memory and devices, on any backend) and not yet run; no kernel needs to be loaded.
   * Checks the whole snapshot first and refuses with a one-line {@link SnapshotError}, changing
   * nothing; after a failure past those checks the machine refuses to run and should be disposed.
   * Then {@link run} continues the guest where the snapshot left it.
   */
  restoreSnapshot(dir: string, options: RestoreOptions = {}): LoadedSnapshot {
    const devices = this.devices;
    if (devices === undefined) throw new SnapshotError(`restore: machine ${this.name} has no devices attached (attachDevices or createMachineFromConfig attaches them)`, dir);
    if (this.states.current.kind !== 'created') throw new SnapshotError(`restore: machine ${this.name} has already run; restore into a newly built machine`, dir);
    try {
      const snap = restoreSnapshot(this, devices, dir, options);
      this.states.apply((s) => kernelLoaded(s));
      return snap;
    } catch (err) {
      if (err instanceof PartialRestoreError) this.halfRestored = err.message;
      throw err;
    }
  }

  /** True if the vCPU's last exit was a device read whose answer the guest has not received yet. */
  private exitAwaitsAnswer(): boolean {
    const e = this.vcpu.exit;
    return (e.kind === ExitKind.Io || e.kind === ExitKind.Mmio) && !e.write;
  }

  /** Loads a guest ELF from a file and points the vCPU at its entry with `cmdline` in the start info. */
  loadKernelFile(file: string, cmdline = ''): void {
    this.loadKernel(readKernelFile(file), cmdline, file);
  }

  /** Loads a guest ELF image (validated first) and points the vCPU at its entry. Only before {@link run}. */
  loadKernel(bytes: Uint8Array, cmdline = '', name = 'guest image'): void {
    this.states.apply((s) => kernelLoaded(s)); // refuses a machine that has run
    loadKernelImage(this.vm, this.vcpu, this.ramSize, bytes, cmdline, name);
  }

  /**
   * Loads a Linux kernel (bzImage or ELF vmlinux) with an optional initrd through the Linux 64-bit
   * boot protocol (zero page, e820 map of this machine's RAM, command line; no start info) and
   * sets the vCPU to its entry state. Only before {@link run}.
   */
  loadLinux(images: LinuxImages): LinuxBoot {
    this.states.apply((s) => kernelLoaded(s)); // refuses a machine that has run
    return loadLinuxImage(this.vm, this.vcpu, this.ramSize, images);
  }

  /** {@link loadLinux} from files: the kernel, the initrd (if any) and the kernel command line. */
  loadLinuxFiles(kernel: string, initrd: string | undefined, cmdline = ''): LinuxBoot {
    return this.loadLinux({
      kernel: readKernelFile(kernel, 'Linux kernel', ' (fetch the Linux guest with `pnpm guest:linux`)'), kernelName: kernel, cmdline,
      ...(initrd !== undefined ? { initrd: readKernelFile(initrd, 'initrd', ' (fetch the Linux guest with `pnpm guest:linux`)'), initrdName: initrd } : {}),
    });
  }

  /** The line of ISA interrupt `irq` as the strategy's interrupt facet routes it (for devices). */
  irqLine(irq: number): IrqLine {
    return this.strategy.interrupt.irqLine(irq);
  }

  /**
   * A device's message-signalled interrupt, delivered by the strategy's interrupt facet; one it
   * cannot deliver (no local APIC, not an interrupt address) is dropped and counted (`msi.dropped`).
   */
  signalMsi(address: number, data: number): void {
    if (this.strategy.interrupt.signalMsi?.(address, data) === true) return;
    const c = this.telemetry.counters;
    this.msiDroppedSlot ??= c.define('msi.dropped', 'message-signalled interrupts no interrupt facet could deliver');
    c.values[this.msiDroppedSlot]!++;
  }

  private msiDroppedSlot: number | undefined;

  /** Ends the run with the guest's exit `code` (called by the debug-exit device). */
  requestExit(code: number): void {
    this.requestStop({ reason: 'exit-code', message: '', exitCode: code });
  }

  /**
   * The guest reset the machine (the i8042's reset line): the run ends with reason `reset`, exit
   * code 0. There is no firmware to boot it again; a reboot is the guest's way of ending.
   */
  requestReset(): void {
    this.requestStop({ reason: 'reset', message: '', exitCode: 0 });
  }

  /** Stops the run at the next exit or deadline (also while paused); `run()` resolves with reason `stopped`. */
  stop(message = 'stopped by the VMM'): void {
    this.requestStop({ reason: 'stopped', message, exitCode: 130 });
  }

  /**
   * Ends the run as failed (reason `error`, exit code 1) with `message`, at the next exit or
   * deadline: for the VMM's own failures outside an exit (the console's stdout closed, …).
   */
  fail(message: string): void {
    this.requestStop({ reason: 'error', message, exitCode: 1 });
  }

  /** Pauses after the current exit; the vCPU keeps its state. Does nothing unless running. */
  pause(): void {
    if (this.states.current.kind !== 'running') return;
    this.states.apply(paused);
    this.vcpu.kick();
  }

  /**
   * Attaches a debugger (the GDB stub): from now on a `Debug` exit of the vCPU (a breakpoint,
   * watchpoint or single step it set through `vcpu.debug`) pauses the machine and calls
   * `listener.stopped()`; the debugger goes on with {@link resume}. With `holdAtStart`, {@link run}
   * pauses before the first instruction and tells the listener the same way. One debugger at a
   * time; disposing the result detaches it (the machine runs on).
   */
  attachDebugger(listener: DebugListener, options: AttachDebuggerOptions = {}): Disposable {
    if (this.loop.debugger !== undefined) throw new WiringError(`machine ${this.name}: a debugger is already attached`, 'Machine.attachDebugger');
    this.loop.debugger = listener;
    this.holdAtStart = options.holdAtStart === true;
    return {
      dispose: () => {
        if (this.loop.debugger !== listener) return;
        this.loop.debugger = undefined;
        this.holdAtStart = false;
      },
    };
  }

  /** Resumes a paused machine. Does nothing unless paused. */
  resume(): void {
    if (this.states.current.kind !== 'paused') return;
    this.states.apply(resumed);
  }

  /**
   * Runs the guest until it exits, halts, crashes, hits the time limit or {@link stop} is called.
   * The vCPU runs in slices so timers, I/O and telemetry get their turn between them. A machine
   * runs once.
   */
  async run(): Promise<RunResult> {
    const current = this.states.current;
    if (this.halfRestored !== undefined) throw new SnapshotError(`machine ${this.name} cannot run: ${this.halfRestored}`);
    if (current.kind === 'created' && !current.kernelLoaded) {
      throw new GuestImageError('no guest kernel loaded: call loadKernel() or loadKernelFile() first');
    }
    if (current.kind === 'stopped' && this.startedAt === undefined) {
      // Stopped before it ran (Ctrl-C or a telemetry client during start-up): nothing to run.
      return { reason: current.stop.reason, exitCode: current.stop.exitCode, message: current.stop.message, exits: {}, durationMs: 0 };
    }
    this.states.apply(started); // refuses a machine that has run
    const start = (this.startedAt = performance.now());
    if (this.holdAtStart && this.loop.debugger !== undefined) {
      this.states.apply(paused);
      this.loop.debugger.stopped();
    }
    const before = this.telemetry.counters.snapshot();
    const limit = this.timeLimitMs > 0
      ? setTimeout(() => this.requestStop({ reason: 'time-limit', message: `time limit of ${this.timeLimitMs} ms reached`, exitCode: 124 }), this.timeLimitMs)
      : undefined;
    try {
      await this.loop.run();
    } catch (err) {
      // Disposed under the running loop: the loop's error is the news, not a refused transition.
      if (this.states.current.kind !== 'disposed') {
        this.states.apply((s) => ended(s, { reason: 'error', message: err instanceof Error ? err.message : String(err), exitCode: 1 }));
      }
      throw err;
    } finally {
      if (limit) clearTimeout(limit);
      this.vcpu.setDeadline(0);
    }
    const after = this.states.apply((s) => ended(s, { reason: 'stopped', message: '', exitCode: 130 }));
    const stop = after.kind === 'stopped' ? after.stop : { reason: 'stopped' as const, message: '', exitCode: 130 };
    const now = this.telemetry.counters.snapshot();
    const exits: Record<string, number> = {};
    for (const k of EXIT_KIND_NAMES) exits[k] = (now[`exits.${k}`] ?? 0) - (before[`exits.${k}`] ?? 0);
    return { reason: stop.reason, exitCode: stop.exitCode, message: stop.message, exits, durationMs: performance.now() - start };
  }

  /** Releases the VM and everything registered with the machine, newest first; never the backend. */
  dispose(): void {
    if (this.states.current.kind === 'disposed') return;
    this.states.apply(disposed);
    this.owned.dispose();
  }

  /** `using machine = new Machine(…)` disposes it on every path, as {@link dispose} does. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  private requestStop(stop: StopInfo): void {
    if (this.states.current.kind === 'disposed') return;
    this.loop.requestStop(stop);
  }

  /**
   * Telemetry follows the run states (a plain listener: a run nobody watches loads no rxjs):
   * `state` events for running, paused and stopped, and an `error` event when a run is found to
   * have failed (its stop request, or a loop that ended by an exception).
   */
  private reportStates(): Disposable {
    return this.states.onChange((s, from) => {
      const failed = (s.kind === 'stopping' || (s.kind === 'stopped' && from.kind !== 'stopping')) && s.stop.reason === 'error';
      if (failed) this.telemetry.emit({ type: 'error', time: Date.now(), message: s.stop.message });
      if (REPORTED.has(s.kind)) this.telemetry.emit({ type: 'state', time: Date.now(), state: s.kind });
    });
  }
}
