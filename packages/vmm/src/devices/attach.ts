/**
 * Puts a checked device plan on a machine: builds each device with its dependencies (interrupt
 * line, clock, exit trigger, console) and gives it its ports. What comes back,
 * {@link MachineDevices}, is how code reaches the devices afterwards (by instance name, or the
 * typed accessors for the built-ins) and how their state is saved and restored.
 * @module
 */
import {
  CompositionError, ConfigError, HyvisorError, WiringError,
  type Clock, type DeviceConsole, type DevicePlan, type DeviceState, type Disposable, type ExitTrigger, type IrqLine,
  type GuestMemory, type MmioBus, type PioBus, type PioDevice, type PlannedDevice, type PortRange, type ResetTrigger, type StatefulDevice,
} from '@hyvisor/core';
import {
  NullSerialOutput, type BenchCounter, type DebugExit, type IrqTestDevice, type SerialInputQueue, type SerialOutput,
  type SerialPort, type StallDevice, type Uart16550,
} from '@hyvisor/devices';

/** What devices need from a machine ({@link Machine} is one). */
export interface DeviceHost extends ExitTrigger, ResetTrigger {
  readonly pio: PioBus;
  readonly mmio: MmioBus;
  readonly clock: Clock;
  /** Guest memory and the size of RAM at its start (what DMA-capable devices may touch). */
  readonly vm: { readonly memory: GuestMemory };
  readonly ramSize: number;
  /** The line of ISA interrupt `irq` as the strategy's interrupt facet routes it. */
  irqLine(irq: number): IrqLine;
  /** Delivers a message-signalled interrupt (dropped and counted if nobody can). */
  signalMsi(address: number, data: number): void;
  own<T extends Disposable>(item: T): T;
  /** Told the devices once they are attached (a {@link Machine} keeps them for its snapshots). */
  devicesAttached?(devices: MachineDevices): void;
}

/** One device on a machine. */
export interface AttachedDevice<H = unknown> {
  /** Instance name (`com1`). */
  readonly name: string;
  /** Device type (`uart16550`). */
  readonly device: string;
  readonly ports: readonly PortRange[];
  readonly irq: number | undefined;
  /** `board testbed` or `devices[2]`. */
  readonly origin: string;
  /** What the device's factory handed back for code to use (the model, or a {@link SerialPort}). */
  readonly handle: H;
  /** Its state, for devices that have one to save. */
  readonly state: StatefulDevice | undefined;
}

/** A saved device set: instance name → device type and state record. JSON-serialisable. */
export type DeviceStates = Readonly<Record<string, { readonly device: string; readonly state: DeviceState }>>;

const NO_IRQ: IrqLine = { raise() {}, lower() {} };

/**
 * Builds every device of `plan` on `host`, in plan order (the board's first). A device whose
 * ports overlap a strategy facet's is a {@link ConfigError} naming the config entry; a factory that
 * throws is a {@link CompositionError} naming the device.
 */
export function attachDevices(host: DeviceHost, plan: DevicePlan, console: DeviceConsole): MachineDevices {
  const attached: AttachedDevice[] = [];
  const lookup = <H>(name: string): H | undefined => attached.find((d) => d.name === name)?.handle as H | undefined;
  for (const p of plan.devices) attached.push(attachOne(host, p, console, lookup));
  const devices = new MachineDevices(plan.board, attached);
  host.devicesAttached?.(devices);
  return devices;
}

function attachOne(host: DeviceHost, p: PlannedDevice, console: DeviceConsole, lookup: <H>(name: string) => H | undefined): AttachedDevice {
  const irq = p.irq === undefined ? NO_IRQ : host.irqLine(p.irq);
  let made;
  try {
    made = p.definition.create({
      name: p.name, ports: p.ports, irqNumber: p.irq, irq, exit: host, reset: host, clock: host.clock, console,
      interruptLine: (n) => host.irqLine(n),
      resources: {
        mapMmio: (name, base, length, device) => host.mmio.register(name, base, length, device),
        mapPio: (name, base, length, device) => host.pio.register(name, base, length, device),
      },
      msi: host,
      dma: {
        memory: host.vm.memory,
        accessible: (gpa, len) => Number.isSafeInteger(gpa) && Number.isSafeInteger(len) && gpa >= 0 && len >= 0 && gpa + len <= host.ramSize,
      },
      lookup,
      own: (r) => { host.own(r); },
    }, p.options);
  } catch (err) {
    if (err instanceof HyvisorError) throw err;
    throw new CompositionError(`${p.origin}: device ${p.definition.name} '${p.name}' failed to start: ${(err instanceof Error ? err.message : String(err)).split('\n')[0]}`, [], [], `${p.origin} (${p.definition.name} '${p.name}')`);
  }
  const handlers: readonly PioDevice[] = Array.isArray(made?.pio) ? made.pio : made?.pio !== undefined ? [made.pio as PioDevice] : [];
  if (handlers.length !== p.ports.length || handlers.some((h) => typeof h?.read !== 'function' || typeof h?.write !== 'function')) {
    throw new CompositionError(`${p.origin}: device ${p.definition.name} returned ${handlers.length} port handler(s) with read/write for its ${p.ports.length} port range(s)`, [], [], `${p.origin} (${p.definition.name} '${p.name}')`);
  }
  p.ports.forEach((r, i) => {
    try {
      host.pio.register(p.name, r.base, r.count, handlers[i]!);
    } catch (err) {
      if (!(err instanceof WiringError)) throw err;
      throw new ConfigError(`${p.source !== undefined ? `${p.source}: ` : ''}${p.origin}: ${err.message}; move it with port: or pick another board or strategy`, p.origin);
    }
  });
  const state = made.state ?? (isStateful(handlers[0]) ? handlers[0] : undefined);
  return { name: p.name, device: p.definition.name, ports: p.ports, irq: p.irq, origin: p.origin, handle: made.handle ?? made.pio, state };
}

function isStateful(v: unknown): v is StatefulDevice {
  return typeof (v as Partial<StatefulDevice>)?.saveState === 'function' && typeof (v as Partial<StatefulDevice>)?.restoreState === 'function';
}

/**
 * The devices of one machine. Look one up by instance name ({@link find}, {@link get}), or use the
 * typed accessors for the built-ins: {@link console}/{@link serialOutput}/{@link input} for COM1,
 * {@link bench}, {@link irqTest}, {@link stall}, {@link debugExit} (these throw a
 * {@link WiringError} that names the board to use when the machine lacks the device).
 */
export class MachineDevices {
  private readonly byName = new Map<string, AttachedDevice>();
  private readonly nullOutput = new NullSerialOutput();

  constructor(
    /** The board the machine was built on. */
    readonly board: string,
    /** Every device, in the order it was attached. */
    readonly list: readonly AttachedDevice[],
  ) {
    for (const d of list) this.byName.set(d.name, d);
  }

  /** The device with instance name `name`, or undefined. */
  find<H = unknown>(name: string): AttachedDevice<H> | undefined {
    return this.byName.get(name) as AttachedDevice<H> | undefined;
  }

  /** The handle of instance `name`; throws {@link WiringError} if there is none. */
  get<H = unknown>(name: string): H {
    const d = this.byName.get(name);
    if (d === undefined) throw new WiringError(`this machine (board ${this.board}) has no device named '${name}' (it has: ${[...this.byName.keys()].join(', ')})`);
    return d.handle as H;
  }

  /** Devices of type `device`, in attach order. */
  ofType<H = unknown>(device: string): AttachedDevice<H>[] {
    return this.list.filter((d) => d.device === device) as AttachedDevice<H>[];
  }

  /** The console UART: instance `com1` if it is a UART, else the first UART; undefined if none. */
  get console(): SerialPort | undefined {
    const com1 = this.byName.get('com1');
    const d = com1?.device === 'uart16550' ? com1 : this.ofType('uart16550')[0];
    return d?.handle as SerialPort | undefined;
  }

  /** The console's output (a `BufferSerialOutput` for `serial.output: buffer`); discards if there is no UART. */
  get serialOutput(): SerialOutput {
    return this.console?.output ?? this.nullOutput;
  }

  /** The console's input queue. */
  get input(): SerialInputQueue {
    return this.require(this.console, 'uart16550', 'minimal').input;
  }

  /** The console UART model. */
  get uart(): Uart16550 {
    return this.require(this.console, 'uart16550', 'minimal').uart;
  }

  get debugExit(): DebugExit {
    return this.typed<DebugExit>('debug-exit', 'minimal');
  }

  /** The benchmark counter (board `testbed`, or `devices: [bench-counter]`). */
  get bench(): BenchCounter {
    return this.typed<BenchCounter>('bench-counter', 'testbed');
  }

  /** The interrupt test device (board `testbed`, or `devices: [irq-test]`). */
  get irqTest(): IrqTestDevice {
    return this.typed<IrqTestDevice>('irq-test', 'testbed');
  }

  /** The stall device (board `testbed`, or `devices: [stall]`). */
  get stall(): StallDevice {
    return this.typed<StallDevice>('stall', 'testbed');
  }

  /** Every stateful device's record, by instance name (JSON-serialisable). */
  saveState(): DeviceStates {
    const out: Record<string, { device: string; state: DeviceState }> = {};
    for (const d of this.list) if (d.state !== undefined) out[d.name] = { device: d.device, state: d.state.saveState() };
    return out;
  }

  /**
   * Restores records saved by {@link saveState} on a machine with the same devices. Every record
   * must name an instance of the same type; instances without a record keep their state.
   */
  restoreState(states: DeviceStates): void {
    for (const [name, rec] of Object.entries(states)) {
      const d = this.byName.get(name);
      if (d === undefined || d.device !== rec.device || d.state === undefined) {
        throw new WiringError(`device state for '${name}' (${rec.device}) does not match this machine's devices (${this.list.map((x) => `${x.name}: ${x.device}`).join(', ')})`);
      }
    }
    for (const [name, rec] of Object.entries(states)) this.byName.get(name)!.state!.restoreState(rec.state);
  }

  private typed<H>(device: string, board: string): H {
    const d = this.ofType<H>(device)[0];
    return this.require(d, device, board).handle;
  }

  private require<T>(v: T | undefined, what: string, board: string): T {
    if (v === undefined) throw new WiringError(`this machine (board ${this.board}) has no ${what} device; use board: ${board} or add it under devices:`);
    return v;
  }
}
