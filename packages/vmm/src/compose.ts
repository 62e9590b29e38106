/**
 * Composition from config: picks the backend by name and the strategy (a name, a base strategy
 * with facets replaced, or a module; see {@link planStrategy}) from the container's registries,
 * builds the {@link Machine}, puts the board's and the config's devices on it (see
 * {@link planDevicesFromConfig}) and loads the guest. Code that composes
 * a VMM by hand does the same steps (see examples/compose.ts).
 * @module
 */
import type { Readable, Writable } from 'node:stream';
import type { DependencyContainer } from 'tsyringe';
import {
  BACKENDS, BOARDS, BoardRegistry, SnapshotError, DEVICES, DeviceRegistry, FACETS, FacetRegistry, STRATEGIES, planDevices, planStrategy,
  type Backend, type DevicePlan, type Disposable, type StrategyPlan, type VmConfig,
} from '@hyvisor/core';
import { addBuiltinDevices } from '@hyvisor/devices';
import { addVirtioDevices } from '@hyvisor/virtio';
import { Machine } from './machine/machine.js';
import { assertLinuxCanRun } from './machine/kernel.js';
import { attachDevices, type MachineDevices } from './devices/attach.js';
import { readSnapshot, type LoadedSnapshot, type RestoreOptions } from './snapshot/snapshot.js';

/** Where the console goes when the config says `stdout`/`stdin`. */
export interface ConsoleStreams {
  readonly stdout?: Writable;
  readonly stdin?: Readable;
}

/**
 * The devices of the `testbed` board, as {@link addStandardDevices} wired them before boards
 * existed. Kept as a name for code written against it; it is a {@link MachineDevices}.
 */
export type StandardDevices = MachineDevices;

/**
 * A machine built from config, with its devices and the backend opened for it. Disposing it
 * disposes the machine, then the backend: {@link createMachineFromConfig} created the backend, so
 * it is the composed machine's to release (the machine itself never disposes its backend).
 */
export interface ComposedMachine extends Disposable {
  readonly machine: Machine;
  /** The board's devices and the config's, by instance name and typed accessors. */
  readonly devices: MachineDevices;
  /** The backend opened from `config.backend`; released by {@link dispose}, after the machine. */
  readonly backend: Backend;
  /** `using composed = createMachineFromConfig(…)`: the same as {@link dispose}. */
  [Symbol.dispose](): void;
}

/**
 * Wires the `testbed` board (COM1, debug-exit, bench counter, IRQ test, stall) onto `machine`, with
 * the console following `serial`: what every machine had before boards. Code that composes by
 * hand may prefer {@link attachBoard} with the board it needs.
 */
export function addStandardDevices(machine: Machine, serial: VmConfig['serial'], streams: ConsoleStreams = {}): StandardDevices {
  return attachBoard(machine, 'testbed', serial, streams);
}

/** Wires the built-in board `board` onto `machine` (for code that composes a machine by hand). */
export function attachBoard(machine: Machine, board: string, serial: VmConfig['serial'], streams: ConsoleStreams = {}): MachineDevices {
  const devices = new DeviceRegistry();
  const boards = new BoardRegistry();
  addBuiltinDevices(devices, boards);
  addVirtioDevices(devices);
  const plan = planDevices({ board, devices: [] }, devices, boards);
  return attachDevices(machine, plan, { serial, ...streams });
}

/**
 * Checks the config's `board:` and `devices:` against the container's device and board
 * registries (names, modules, options, port clashes) without opening a backend. The built-in
 * devices and boards are always offered: they are added to the container's registries if missing
 * (a container not made by `createHyvisorContainer` gets private ones).
 */
export function planDevicesFromConfig(container: DependencyContainer, config: VmConfig): DevicePlan {
  let devices: DeviceRegistry;
  let boards: BoardRegistry;
  if (container.isRegistered(DEVICES, true) && container.isRegistered(BOARDS, true)) {
    devices = container.resolve(DEVICES);
    boards = container.resolve(BOARDS);
  } else {
    devices = new DeviceRegistry();
    boards = new BoardRegistry();
  }
  addBuiltinDevices(devices, boards);
  addVirtioDevices(devices);
  return planDevices(config, devices, boards);
}

/**
 * Checks the config's strategy against the container's strategy and facet registries (names,
 * facet kinds, modules) without opening a backend. A container without a facet registry (not
 * made by `createHyvisorContainer`) offers no facets by name.
 */
export function planStrategyFromConfig(container: DependencyContainer, config: VmConfig): StrategyPlan {
  const facets = container.isRegistered(FACETS, true) ? container.resolve(FACETS) : new FacetRegistry();
  return planStrategy(config.strategy, container.resolve(STRATEGIES), facets);
}

/**
 * Loads the config's guest: a Hyvisor guest ELF (`guest.kernel`: start info with the command
 * line) or a Linux kernel (`guest.linux`: the Linux boot protocol with the initrd and command line).
 */
function loadGuest(machine: Machine, guest: VmConfig['guest']): void {
  if (guest.boot === 'linux') machine.loadLinuxFiles(guest.kernel, guest.initrd, guest.cmdline);
  else machine.loadKernelFile(guest.kernel, guest.cmdline);
}

/**
 * Builds a machine from a validated config: backend, strategy, board and devices, guest kernel.
 * It opens the backend, so the returned {@link ComposedMachine} owns it; on a failure here
 * everything opened so far is released before the error is thrown.
 */
export function createMachineFromConfig(container: DependencyContainer, config: VmConfig, streams: ConsoleStreams = {}): ComposedMachine {
  return compose(container, config, streams, (machine) => loadGuest(machine, config.guest));
}

/** Options of {@link restoreMachineFromSnapshot}. */
export interface SnapshotRestoreOptions extends RestoreOptions {
  /** Restore on this backend instead of the one the snapshot was taken on (`emu`, `kvm`). */
  readonly backend?: string;
  /** Replaces the saved config's time limit (ms; 0: none). */
  readonly timeLimitMs?: number;
  /** Replaces the saved config's serial console setting. */
  readonly serial?: VmConfig['serial'];
}

/**
 * Builds the machine a snapshot was taken on from the config saved in it (on `options.backend`
 * if given: a snapshot restores on any backend that composes the same facets) and loads the
 * snapshot into it; `machine.run()` then continues the guest. Refuses with a one-line
 * {@link SnapshotError} (and releases everything) a snapshot that is broken or does not fit.
 */
export function restoreMachineFromSnapshot(
  container: DependencyContainer, dir: string, options: SnapshotRestoreOptions = {}, streams: ConsoleStreams = {},
): ComposedMachine & { readonly snapshot: LoadedSnapshot } {
  const saved = readSnapshot(dir);
  if (saved.config === undefined) {
    throw new SnapshotError(`snapshot ${dir} was taken on a machine composed in code (no config saved); build the same machine and call machine.restoreSnapshot()`, dir);
  }
  const config: VmConfig = {
    ...saved.config,
    ...(options.backend !== undefined ? { backend: options.backend } : {}),
    ...(options.timeLimitMs !== undefined ? { timeLimitMs: options.timeLimitMs } : {}),
    ...(options.serial !== undefined ? { serial: options.serial } : {}),
  };
  let snapshot: LoadedSnapshot | undefined;
  const composed = compose(container, config, streams, (machine) => { snapshot = machine.restoreSnapshot(dir, options); });
  return Object.assign(composed, { snapshot: snapshot! });
}

function compose(container: DependencyContainer, config: VmConfig, streams: ConsoleStreams, load: (machine: Machine) => void): ComposedMachine {
  // Before opening the backend: the cheaper mistakes first.
  const plan = planStrategyFromConfig(container, config);
  const devicePlan = planDevicesFromConfig(container, config);
  const backend = container.resolve(BACKENDS).create(config.backend, 'backend');
  let machine: Machine;
  try {
    if (config.guest.boot === 'linux') assertLinuxCanRun(backend.info);
    const strategy = plan.create(backend.info);
    machine = new Machine({
      name: config.name, backend, strategy, memory: config.memory,
      sliceMs: config.sliceMs, timeLimitMs: config.timeLimitMs, config, container,
    });
  } catch (err) {
    backend.dispose();
    throw err;
  }
  const release = (): void => {
    try {
      machine.dispose();
    } finally {
      backend.dispose();
    }
  };
  try {
    const devices = attachDevices(machine, devicePlan, { serial: config.serial, ...streams });
    load(machine);
    return { machine, devices, backend, dispose: release, [Symbol.dispose]: release };
  } catch (err) {
    release();
    throw err;
  }
}
