/**
 * The device contract: a device is static metadata (name, description, default ports and IRQ,
 * an options schema) plus a factory that receives everything the device uses — its interrupt
 * line, the machine's clock and exit trigger, the console streams — so a device never looks
 * anything up. Built-in devices (`@hyvisor/devices`) and third-party ones (a module named in the
 * config) are the same kind of object; the config's `board:` and `devices:` pick them by name.
 * @module
 */
import type { Readable, Writable } from 'node:stream';
import type { PioDevice, MmioDevice, IrqLine, ExitTrigger, ResetTrigger, MsiTrigger } from '../bus/device.js';
import type { GuestMemory } from '../memory/guest-memory.js';
import type { Disposable } from '../lifecycle/disposable.js';
import type { Clock } from '../time/timer-queue.js';
import type { SerialConfig } from '../config/schema.js';
import { HyvisorError } from '../errors.js';

/** Ports `[base, base + count)` on the port-I/O bus. */
export interface PortRange {
  readonly base: number;
  readonly count: number;
}

/**
 * What one option of a device accepts (the config's `devices:` entries carry them as fields).
 * Values are checked before the backend is opened; the factory gets them converted
 * (`path` absolute, `size` in bytes, `duration` in milliseconds) with defaults filled in.
 */
export type DeviceOptionSpec =
  | { readonly type: 'string'; readonly description: string; readonly default?: string }
  | { readonly type: 'boolean'; readonly description: string; readonly default?: boolean }
  | { readonly type: 'integer'; readonly description: string; readonly default?: number; readonly min?: number; readonly max?: number }
  | { readonly type: 'enum'; readonly description: string; readonly values: readonly string[]; readonly default?: string }
  /** A host file; a relative path is resolved against the config file's directory. */
  | { readonly type: 'path'; readonly description: string; readonly default?: string }
  /** A size like "16MiB" (bytes). */
  | { readonly type: 'size'; readonly description: string; readonly default?: number; readonly min?: number; readonly max?: number }
  /** A duration like "50us", "10ms" (milliseconds, fractions allowed). */
  | { readonly type: 'duration'; readonly description: string; readonly default?: number; readonly min?: number; readonly max?: number };

/** A device's options schema: option name → spec. */
export type DeviceOptionsSchema = Readonly<Record<string, DeviceOptionSpec>>;

/** Option values after validation, by option name (absent options without a default are left out). */
export type DeviceOptionValues = Readonly<Record<string, string | number | boolean>>;

/** Where the console goes: the config's `serial:` section and the streams it names. */
export interface DeviceConsole {
  readonly serial: SerialConfig;
  /** The stream `serial.output: stdout` writes to (process.stdout unless the embedder gives one). */
  readonly stdout?: Writable;
  /** The stream `serial.input: stdin` reads from (process.stdin unless the embedder gives one). */
  readonly stdin?: Readable;
}

/**
 * Places and frees port and MMIO ranges while the machine runs: what a bus whose guest moves
 * its devices needs (PCI BARs are assigned by the guest). Both throw a `WiringError` on a clash
 * or a bad range; the caller decides what the guest sees then (a PCI BAR stays unmapped).
 */
export interface ResourceMapper {
  /** Gives guest-physical `[base, base + length)` to `device`; dispose to free it. */
  mapMmio(name: string, base: number, length: number, device: MmioDevice): Disposable;
  /** Gives ports `[base, base + length)` to `device`; dispose to free them. */
  mapPio(name: string, base: number, length: number, device: PioDevice): Disposable;
}

/**
 * Guest memory as a device that reads and writes it directly sees it (virtqueues, DMA): the
 * memory, and which ranges are RAM the device may touch. Guest-given addresses are hostile:
 * check every range with {@link accessible} first.
 */
export interface DmaMemory {
  readonly memory: GuestMemory;
  /** True if `[gpa, gpa + len)` is guest RAM (whole numbers, inside RAM, not the VMM's own regions). */
  accessible(gpa: number, len: number): boolean;
}

/**
 * Everything a device factory may use, handed in by the machine. A device keeps what it needs
 * and nothing else.
 */
export interface DeviceContext {
  /** The instance name (`com1`, `bench`, …): the PIO range name in telemetry and messages. */
  readonly name: string;
  /** The ports the device was placed at (its defaults, or moved by the config's `port:`). */
  readonly ports: readonly PortRange[];
  /** The interrupt number after the config's `irq:`; undefined for a device without an interrupt. */
  readonly irqNumber: number | undefined;
  /** The device's interrupt line (a line to nowhere for a device without an interrupt). */
  readonly irq: IrqLine;
  /**
   * The line of any ISA interrupt `n` (0–15) as the strategy routes it: for a device that routes
   * several lines itself, as a PCI host bridge routes its slots' INTx pins.
   */
  interruptLine(n: number): IrqLine;
  /** Ranges placed while the machine runs (PCI BARs); fixed ports come from {@link ports}. */
  readonly resources: ResourceMapper;
  /** Message-signalled interrupts (PCI MSI/MSI-X), delivered by the strategy's interrupt facet. */
  readonly msi: MsiTrigger;
  /** Guest memory for devices that read and write it directly (virtqueues). */
  readonly dma: DmaMemory;
  /**
   * The handle of a device attached before this one (the board's come first), by instance name:
   * how a PCI device finds the bus it plugs into (`lookup('pci')`).
   */
  lookup<H = unknown>(instanceName: string): H | undefined;
  /** Ends the run with an exit code (what the debug-exit port does). */
  readonly exit: ExitTrigger;
  /** Resets the machine (what a keyboard controller's reset line or a reset register does). */
  readonly reset: ResetTrigger;
  /** The machine's clock: host time, or the backend's virtual time; schedule callbacks on it. */
  readonly clock: Clock;
  /** The console configuration and streams. */
  readonly console: DeviceConsole;
  /** Registers a resource the machine releases when it is disposed (newest first). */
  own(resource: Disposable): void;
}

/** What a device factory returns. */
export interface DeviceInstance<H = unknown> {
  /**
   * The port handlers, one per range of {@link DeviceDefinition.ports} in the same order (a
   * single handler when the device has one range). `offset` is relative to its range's base.
   */
  readonly pio: PioDevice | readonly PioDevice[];
  /**
   * What code gets back for this device (tests, harnesses, embedders): the model itself, or the
   * model with its wiring (a UART with its console sink and input queue). Defaults to `pio`.
   */
  readonly handle?: H;
  /** The device's state as a plain record (see {@link StatefulDevice}); absent: the device has none to save. */
  readonly state?: StatefulDevice;
}

/**
 * A plain, JSON-serialisable, versioned record of a device's state (vm-superio's `SerialState`
 * idea): what a snapshot saves and a restore rebuilds from, without reaching into privates.
 */
export interface DeviceState {
  /** Version of the record's layout; a device refuses versions it does not know. */
  readonly version: number;
}

/** A device whose state can be saved as a {@link DeviceState} and restored from one. */
export interface StatefulDevice<S extends DeviceState = DeviceState> {
  /** A fresh record of the current state (no references into the device). */
  saveState(): S;
  /** Replaces the state with `state`; throws a {@link DeviceStateError} for a record it cannot take. */
  restoreState(state: S): void;
}

/**
 * A device type: static metadata plus a factory. Reading the metadata constructs nothing, so
 * registries, `hyvisor info` and config validation can use it freely.
 */
export interface DeviceDefinition<O = DeviceOptionValues, H = unknown> {
  /** The name a config uses (`uart16550`, `debug-exit`, …): lower case, digits and dashes. */
  readonly name: string;
  /** One line for `hyvisor info` and docs. */
  readonly description: string;
  /** Instance name when the config gives none (`com1` for the UART); default: {@link name}. */
  readonly defaultInstanceName?: string;
  /**
   * Default port ranges. The config's `port:` moves the first range; any others move by the same
   * distance. Empty for a device with no fixed ports (a PCI device: the guest places its BARs).
   */
  readonly ports: readonly PortRange[];
  /** Default interrupt number (ISA IRQ); absent: the device has no interrupt line and `irq:` is refused. */
  readonly irq?: number;
  /** The options the config may give (besides `name`, `port` and `irq`). */
  readonly options?: DeviceOptionsSchema;
  /** Builds one instance with its dependencies handed in. Must not share state between calls. */
  create(context: DeviceContext, options: O): DeviceInstance<H>;
}

/** A device refused a state record (wrong version, wrong shape). */
export class DeviceStateError extends HyvisorError {
  constructor(readonly device: string, message: string) {
    super('DEVICE_STATE', `${device} state: ${message}`);
  }
}

/**
 * Checks the common shape of a state record: an object whose `version` is `version`. Returns
 * it as a field bag for the device's own checks.
 */
export function checkStateRecord(device: string, state: unknown, version: number): Record<string, unknown> {
  if (typeof state !== 'object' || state === null || Array.isArray(state)) throw new DeviceStateError(device, 'expected an object');
  const v = (state as { version?: unknown }).version;
  if (v !== version) throw new DeviceStateError(device, `version ${JSON.stringify(v)} is not supported (expected ${version})`);
  return state as Record<string, unknown>;
}

/** Reads a whole number in `[min, max]` from a state record or throws {@link DeviceStateError}. */
export function stateInt(device: string, record: Record<string, unknown>, key: string, min: number, max: number): number {
  const v = record[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new DeviceStateError(device, `${key}: expected a whole number in [${min}, ${max}], got ${JSON.stringify(v)}`);
  }
  return v;
}

/** Reads a boolean from a state record or throws {@link DeviceStateError}. */
export function stateBool(device: string, record: Record<string, unknown>, key: string): boolean {
  const v = record[key];
  if (typeof v !== 'boolean') throw new DeviceStateError(device, `${key}: expected true or false, got ${JSON.stringify(v)}`);
  return v;
}
