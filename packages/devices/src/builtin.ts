/**
 * The built-in device types and boards, as registry entries: static metadata plus a factory that
 * gets its dependencies from the machine. {@link registerBuiltinDevices} puts them in a
 * container; the config's `board:` and `devices:` then name them.
 * @module
 */
import type { Readable } from 'node:stream';
import type { DependencyContainer } from 'tsyringe';
import {
  BOARDS, ConfigError, DEVICES, Irq, Ports, type BoardDefinition, type BoardRegistry, type DeviceRegistry, type DeviceDefinition, type Disposable,
} from '@hyvisor/core';
import { BenchCounter } from './bench-counter.js';
import { DebugExit } from './debug-exit.js';
import { IrqTestDevice } from './irq-test.js';
import { StallDevice } from './stall.js';
import { Uart16550 } from './uart/uart16550.js';
import { I8042, I8042Irq, I8042Port } from './pc/i8042.js';
import { Mc146818Rtc, RTC_IRQ, RTC_PORT } from './pc/mc146818-rtc.js';
import { POST_CODE_PORT, PostCode } from './pc/post-code.js';
import { pciHostDevice } from '@hyvisor/pci';
import {
  BufferSerialOutput, NullSerialOutput, SerialInputQueue, StdoutSerialOutput, type SerialOutput,
} from './uart/serial-io.js';

/** A UART as code sees it after composition: the model with its console wiring. */
export interface SerialPort {
  readonly uart: Uart16550;
  /** Where transmitted bytes go (a {@link BufferSerialOutput} for `output: buffer`). */
  readonly output: SerialOutput;
  /** Received bytes pushed here reach the UART as the guest makes room (nothing is dropped). */
  readonly input: SerialInputQueue;
}

/** Options of the `uart16550` device. */
export interface UartDeviceOptions {
  /** `stdout`, `buffer` or `none`; default: the config's `serial.output`. */
  readonly output?: 'stdout' | 'buffer' | 'none';
  /** `stdin` or `none`; default: the config's `serial.input` for `com1`, `none` for others. */
  readonly input?: 'stdin' | 'none';
}

/** COM1 by default: a 16550A UART whose output and input follow the config's `serial:` section. */
export const uart16550Device: DeviceDefinition<UartDeviceOptions, SerialPort> = {
  name: 'uart16550',
  description: '16550A UART (COM1 by default): the serial console',
  defaultInstanceName: 'com1',
  ports: [{ base: Ports.COM1, count: Uart16550.PORT_COUNT }],
  irq: Irq.COM1,
  options: {
    output: { type: 'enum', values: ['stdout', 'buffer', 'none'], description: "where transmitted bytes go (default: serial.output)" },
    input: { type: 'enum', values: ['stdin', 'none'], description: "where received bytes come from (default: serial.input for com1, none otherwise)" },
  },
  create(ctx, options) {
    const outputKind = options.output ?? ctx.console.serial.output;
    const inputKind = options.input ?? (ctx.name === 'com1' ? ctx.console.serial.input : 'none');
    // A closed stdout (EPIPE: the reader of the pipe exited) ends the run with one line.
    const onClosed = (err: Error): void => {
      const message = `serial console output closed (${(err as NodeJS.ErrnoException).code ?? err.message}): run stopped`;
      if (ctx.exit.fail) ctx.exit.fail(message);
      else ctx.exit.requestExit(1);
    };
    const output: SerialOutput =
      outputKind === 'stdout' ? new StdoutSerialOutput(ctx.console.stdout ?? process.stdout, { onClosed })
        : outputKind === 'buffer' ? new BufferSerialOutput(ctx.console.serial.bufferLimit)
          : new NullSerialOutput();
    const uart = new Uart16550(ctx.irq, output);
    const input = new SerialInputQueue(uart);
    if (inputKind === 'stdin') ctx.own(connectInput(input, ctx.console.stdin ?? process.stdin));
    // Push out a partly written line when the machine goes away (and stop listening to stdout).
    ctx.own({ dispose: () => (output instanceof StdoutSerialOutput ? output.dispose() : uart.flush()) });
    return { pio: uart, handle: { uart, output, input }, state: uart };
  },
};

/** The exit port at 0xf4 (QEMU's `isa-debug-exit`): a write ends the run with that code. */
export const debugExitDevice: DeviceDefinition<Record<string, never>, DebugExit> = {
  name: 'debug-exit',
  description: "exit port (QEMU's isa-debug-exit, 0xf4): a write ends the run with the value as exit code",
  ports: [{ base: Ports.DEBUG_EXIT, count: DebugExit.PORT_COUNT }],
  create(ctx) {
    const d = new DebugExit(ctx.exit);
    return { pio: d, handle: d, state: d };
  },
};

/** Test device: counts port writes between start and end markers (the exit-cost benchmark). */
export const benchCounterDevice: DeviceDefinition<Record<string, never>, BenchCounter> = {
  name: 'bench-counter',
  description: 'test device: counts writes to its port between start/end markers (exit-cost benchmark)',
  defaultInstanceName: 'bench',
  ports: [{ base: Ports.BENCH, count: BenchCounter.PORT_COUNT }],
  create() {
    // Host time, not the machine's clock: it measures what an exit costs on this host.
    const d = new BenchCounter();
    return { pio: d, handle: d, state: d };
  },
};

/** Test device: raises its interrupt on request (the testbed's `irq` workload). */
export const irqTestDevice: DeviceDefinition<Record<string, never>, IrqTestDevice> = {
  name: 'irq-test',
  description: "test device: a write raises its interrupt line, a read acknowledges it (testbed's irq workload)",
  ports: [{ base: Ports.IRQ_TEST, count: IrqTestDevice.PORT_COUNT }],
  irq: Irq.IRQ_TEST,
  create(ctx) {
    const d = new IrqTestDevice(ctx.irq);
    return { pio: d, handle: d, state: d };
  },
};

/** Test device: blocks the VMM thread on request, at most 250 ms per second (the testbed's `time` workload). */
export const stallDevice: DeviceDefinition<Record<string, never>, StallDevice> = {
  name: 'stall',
  description: "test device: a write of N blocks the VMM for N ms, at most 250 ms per second (testbed's time workload)",
  ports: [{ base: Ports.STALL, count: StallDevice.PORT_COUNT }],
  create() {
    const d = new StallDevice();
    return { pio: d, handle: d, state: d };
  },
};

/** Options of the `mc146818-rtc` device. */
export interface RtcDeviceOptions {
  /** `host` (the host's wall time when the machine is built) or a date like `2026-01-01T00:00:00Z`. */
  readonly epoch?: string;
}

/** The CMOS RTC at 0x70/0x71 on IRQ 8; its time runs on the machine's clock (virtual time on the emulator). */
export const rtcDevice: DeviceDefinition<RtcDeviceOptions, Mc146818Rtc> = {
  name: 'mc146818-rtc',
  description: 'MC146818 CMOS RTC (0x70/0x71, IRQ 8): date and time, periodic, alarm and update interrupts',
  defaultInstanceName: 'rtc',
  ports: [{ base: RTC_PORT, count: Mc146818Rtc.PORT_COUNT }],
  irq: RTC_IRQ,
  options: {
    epoch: { type: 'string', default: 'host', description: "the time the clock starts at: 'host' (wall time) or an ISO date, e.g. 2026-01-01T00:00:00Z (for repeatable runs)" },
  },
  create(ctx, options) {
    const epoch = options.epoch ?? 'host';
    const epochMs = epoch === 'host' ? Date.now() : Date.parse(epoch);
    if (!Number.isFinite(epochMs)) throw new ConfigError(`devices: ${ctx.name}: epoch: expected 'host' or an ISO date like 2026-01-01T00:00:00Z, got '${epoch}'`, 'devices');
    const rtc = new Mc146818Rtc(ctx.clock, ctx.irq, { epochMs });
    ctx.own(rtc);
    return { pio: rtc, handle: rtc };
  },
};

/**
 * The keyboard controller (data 0x60, status/command 0x64, IRQ 1) with no keyboard or mouse.
 * Its reset command (0xFE) ends the run with exit code 0, as a guest's reboot does.
 */
export const i8042Device: DeviceDefinition<Record<string, never>, I8042> = {
  name: 'i8042',
  description: 'i8042 keyboard controller (0x60, 0x64, IRQ 1) with nothing plugged in; command 0xFE resets the machine (ends the run with reason reset, exit code 0)',
  ports: [{ base: I8042Port.DATA, count: 1 }, { base: I8042Port.STATUS, count: 1 }],
  irq: I8042Irq.KEYBOARD,
  create(ctx) {
    const kbc = new I8042(ctx.reset, ctx.irq);
    // The model decodes 0x60 as offset 0 and 0x64 as offset 4; each range here starts at offset 0.
    const status = { read: (_o: number, size: number) => kbc.read(4, size), write: (_o: number, size: number, v: number) => kbc.write(4, size, v) };
    return { pio: [kbc, status], handle: kbc };
  },
};

/** Port 0x80: POST codes and Linux's I/O delay writes, counted and dropped. */
export const postCodeDevice: DeviceDefinition<Record<string, never>, PostCode> = {
  name: 'post-code',
  description: 'POST-code port 0x80: keeps the last code written (Linux writes it as an I/O delay)',
  defaultInstanceName: 'post',
  ports: [{ base: POST_CODE_PORT, count: 1 }],
  create() {
    const d = new PostCode();
    return { pio: d, handle: d };
  },
};

/** Every built-in device type. */
export const BUILTIN_DEVICES: readonly DeviceDefinition<any, any>[] = [
  uart16550Device, debugExitDevice, benchCounterDevice, irqTestDevice, stallDevice, rtcDevice, i8042Device, postCodeDevice, pciHostDevice,
];

/** COM1 and the exit port: all the hello guest needs. */
export const minimalBoard: BoardDefinition = {
  name: 'minimal',
  description: 'COM1 (16550 UART) and the debug-exit port',
  devices: [{ device: 'uart16550' }, { device: 'debug-exit' }],
};

/**
 * The testbed guest's platform: {@link minimalBoard} plus the test devices its workloads and the
 * benchmarks use (bench counter, IRQ test, stall). The default when a config names no board.
 */
export const testbedBoard: BoardDefinition = {
  name: 'testbed',
  description: 'minimal plus the test devices: bench counter (0x510), IRQ test (0x512, IRQ 5), stall (0x514)',
  devices: [{ device: 'uart16550' }, { device: 'debug-exit' }, { device: 'bench-counter' }, { device: 'irq-test' }, { device: 'stall' }],
};

/**
 * A PC for stock kernels: COM1, debug-exit, the CMOS RTC, the i8042, port 0x80 and PCI bus 0
 * behind a type-1 host bridge (0xcf8-0xcff). Port 0x61
 * (PIT channel 2) is not here: it belongs to whichever PIT the strategy brings (the emulated
 * 8254 registers it with its channel 2 wired in; KVM's in-kernel PIT handles it itself).
 */
export const pcBoard: BoardDefinition = {
  name: 'pc',
  description: 'PC platform for stock kernels: COM1, debug-exit, CMOS RTC (0x70, IRQ 8), i8042 (0x60/0x64), port 0x80, PCI bus 0 (0xcf8-0xcff)',
  devices: [{ device: 'uart16550' }, { device: 'debug-exit' }, { device: 'mc146818-rtc' }, { device: 'i8042' }, { device: 'post-code' }, { device: 'pci-host' }],
};

/** Every built-in board. */
export const BUILTIN_BOARDS: readonly BoardDefinition[] = [minimalBoard, testbedBoard, pcBoard];

/**
 * Registers the built-in device types and boards in `container`'s registries (from
 * `createHyvisorContainer`). Idempotent: names already registered are left alone.
 */
export function registerBuiltinDevices(container: DependencyContainer): void {
  addBuiltinDevices(container.resolve(DEVICES), container.resolve(BOARDS));
}

/** {@link registerBuiltinDevices} for registries held outside a container. Idempotent. */
export function addBuiltinDevices(devices: DeviceRegistry, boards: BoardRegistry): void {
  for (const d of BUILTIN_DEVICES) devices.provide(d);
  for (const b of BUILTIN_BOARDS) boards.provide(b);
}

/** Feeds `stream` into the UART through `input`, pausing the stream while the guest lags behind. */
export function connectInput(input: SerialInputQueue, stream: Readable): Disposable {
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
