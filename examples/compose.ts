/**
 * Composing the VM of `hello.yaml` in code: a container with the plugins, a config object, a
 * backend, a strategy, a machine, and the devices wired by hand. Run it with
 * `node examples/dist/compose.js` after `pnpm build`.
 *
 * `using` releases the machine, then the backend, when the scope ends, on every path (an error
 * included). Code that uses no decorators of its own needs no `import 'reflect-metadata'`: core
 * loads it for tsyringe.
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BACKENDS, FACETS, STRATEGIES, Ports, createHyvisorContainer, planStrategy, validateConfig } from '@hyvisor/core';
import { registerKvmBackend } from '@hyvisor/backend-kvm';
import { DebugExit, NullIrqLine, StdoutSerialOutput, Uart16550 } from '@hyvisor/devices';
import { Machine, registerMinimalStrategy } from '@hyvisor/vmm';

const examplesDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

// 1. A container with the plugins this VMM may use.
const container = createHyvisorContainer();
registerKvmBackend(container);
registerMinimalStrategy(container);

// 2. The same settings as hello.yaml, as an object (validated the same way).
const config = validateConfig(
  {
    name: 'hello-in-code',
    backend: 'kvm',
    strategy: 'minimal',
    memory: '64MiB',
    guest: { kernel: '../packages/guest-hello/build/hello.elf', cmdline: process.argv[2] ?? '' },
  },
  { baseDir: examplesDir },
);

// 3. Backend, strategy and machine.
using backend = container.resolve(BACKENDS).create(config.backend);
// `strategy` is a name here; planStrategy also takes { base, <facet>: name } and modules.
const strategy = planStrategy(config.strategy, container.resolve(STRATEGIES), container.resolve(FACETS)).create(backend.info);
// The machine's service scope (what its facets provide each other) is a child of `container`.
using machine = new Machine({ name: config.name, backend, strategy, memory: config.memory, container });

// 4. Devices, wired onto the port bus by hand.
const console = new StdoutSerialOutput(process.stdout);
machine.pio.register('com1', Ports.COM1, 8, new Uart16550(new NullIrqLine(), console));
machine.pio.register('debug-exit', Ports.DEBUG_EXIT, 4, new DebugExit(machine));

// 5. The guest, then run it.
machine.loadKernelFile(config.guest.kernel, config.guest.cmdline);
const result = await machine.run();
console.flush();
process.stderr.write(`guest ended: ${result.reason}, exit code ${result.exitCode}, ${result.exits.io} port exits\n`);
process.exitCode = result.exitCode;
