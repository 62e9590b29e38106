/**
 * Composition from config: picks the backend by name and the strategy (a name, a base strategy
 * with facets replaced, or a module; see {@link planStrategy}) from the container's registries,
 * builds the {@link Machine}, wires the standard devices and loads the guest. Code that composes
 * a VMM by hand does the same steps (see examples/compose.ts).
 * @module
 */
import type { Readable, Writable } from 'node:stream';
import type { DependencyContainer } from 'tsyringe';
import {
  BACKENDS, FACETS, FacetRegistry, STRATEGIES, Irq, Ports, planStrategy, type VmConfig, type Disposable, type StrategyPlan,
} from '@hyvisor/core';
import {
  BenchCounter, BufferSerialOutput, DebugExit, IrqTestDevice, NullSerialOutput, SerialInputQueue, StallDevice,
  StdoutSerialOutput, Uart16550, type SerialOutput,
} from '@hyvisor/devices';
import { Machine } from './machine/machine.js';

/** Where the console goes when the config says `stdout`/`stdin`. */
export interface ConsoleStreams {
  readonly stdout?: Writable;
  readonly stdin?: Readable;
}

/** The devices every machine has, as wired by {@link addStandardDevices}. */
export interface StandardDevices {
  readonly uart: Uart16550;
  /** Console input: bytes pushed here reach the UART as the guest makes room (nothing is dropped). */
  readonly input: SerialInputQueue;
  /** The console output (a {@link BufferSerialOutput} when the config says `buffer`). */
  readonly serialOutput: SerialOutput;
  readonly debugExit: DebugExit;
  readonly bench: BenchCounter;
  /** Raises IRQ 5 on request: the testbed's `irq` workload. */
  readonly irqTest: IrqTestDevice;
  /** Holds the vCPU for N ms on request: the testbed's `time` workload. */
  readonly stall: StallDevice;
}

/** A machine built from config, with its standard devices. */
export interface ComposedMachine extends Disposable {
  readonly machine: Machine;
  readonly devices: StandardDevices;
}

/**
 * Wires COM1 (16550 UART), the debug-exit port, the benchmark counter, the interrupt test device
 * and the stall device onto the machine's PIO bus, with interrupt lines from the strategy's
 * interrupt facet. The console follows `serial` from the config.
 */
export function addStandardDevices(machine: Machine, serial: VmConfig['serial'], streams: ConsoleStreams = {}): StandardDevices {
  const serialOutput: SerialOutput =
    serial.output === 'stdout' ? new StdoutSerialOutput(streams.stdout ?? process.stdout)
      : serial.output === 'buffer' ? new BufferSerialOutput()
        : new NullSerialOutput();
  const uart = new Uart16550(machine.irqLine(Irq.COM1), serialOutput);
  machine.pio.register('com1', Ports.COM1, 8, uart);
  const debugExit = new DebugExit(machine);
  machine.pio.register('debug-exit', Ports.DEBUG_EXIT, 4, debugExit);
  const bench = new BenchCounter();
  machine.pio.register('bench', Ports.BENCH, 2, bench);
  const irqTest = new IrqTestDevice(machine.irqLine(Irq.IRQ_TEST));
  machine.pio.register('irq-test', Ports.IRQ_TEST, 2, irqTest);
  const stall = new StallDevice();
  machine.pio.register('stall', Ports.STALL, 4, stall);
  const input = new SerialInputQueue(uart);
  if (serial.input === 'stdin') machine.own(connectInput(input, streams.stdin ?? process.stdin));
  machine.own({ dispose: () => uart.flush() });
  return { uart, input, serialOutput, debugExit, bench, irqTest, stall };
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

/** Builds a machine from a validated config: backend, strategy, standard devices, guest kernel. */
export function createMachineFromConfig(container: DependencyContainer, config: VmConfig, streams: ConsoleStreams = {}): ComposedMachine {
  const plan = planStrategyFromConfig(container, config); // before opening the backend: the cheaper mistake first
  const backend = container.resolve(BACKENDS).create(config.backend, 'backend');
  let machine: Machine;
  try {
    const strategy = plan.create(backend.info);
    machine = new Machine({
      name: config.name, backend, strategy, memory: config.memory,
      sliceMs: config.sliceMs, timeLimitMs: config.timeLimitMs, config,
    });
  } catch (err) {
    backend.dispose();
    throw err;
  }
  machine.own(backend);
  try {
    const devices = addStandardDevices(machine, config.serial, streams);
    machine.loadKernelFile(config.guest.kernel, config.guest.cmdline);
    return { machine, devices, dispose: () => machine.dispose() };
  } catch (err) {
    machine.dispose();
    throw err;
  }
}

/** Feeds `stream` into the UART through `input`, pausing the stream while the guest lags behind. */
function connectInput(input: SerialInputQueue, stream: Readable): Disposable {
  const onData = (chunk: Buffer) => {
    if (!input.push(chunk)) stream.pause();
  };
  input.onDrain = () => stream.resume();
  stream.on('data', onData);
  return {
    dispose: () => {
      stream.off('data', onData);
      input.onDrain = undefined;
      stream.pause();
    },
  };
}
