/**
 * For the KVM tests and the benchmark: builds a real guest machine from config (hello or testbed)
 * with the stand-in probes attached.
 * @module
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHyvisorContainer, validateConfig } from '@hyvisor/core';
import { registerKvmBackend } from '@hyvisor/backend-kvm';
import { registerHvmStrategies } from '@hyvisor/strategy-hvm';
import { createMachineFromConfig, registerMinimalStrategy, type ComposedMachine } from '@hyvisor/vmm';
import { attachStandInProbes } from './instrument.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const helloElf = path.join(repoRoot, 'packages/guest-hello/build/hello.elf');
export const testbedElf = path.join(repoRoot, 'packages/guest-testbed/build/testbed.elf');

/** Why these guests cannot run here (an image not built), or undefined if they can; KVM itself is `@hyvisor/backend-kvm/testing`'s gate. */
export function guestsMissing(): string | undefined {
  for (const f of [helloElf, testbedElf]) if (!fs.existsSync(f)) return `${f} is missing: run \`pnpm build\``;
  return undefined;
}

/** A hello guest making `exits` port exits (minimal strategy). */
export function helloMachine(exits: number, name = 'hello'): ComposedMachine {
  return build({ name, strategy: 'minimal', guest: { kernel: helloElf, cmdline: `exits=${exits}` } });
}

/** The testbed under hvm-userspace (interrupts, PIT timer, ATA disk) running `workload`. */
export function testbedMachine(workload: string, iterations: number, disk: string): ComposedMachine {
  return build({
    name: 'testbed', strategy: 'hvm-userspace', guest: { kernel: testbedElf, workload, iterations },
    storage: { path: disk, size: '16MiB' },
  });
}

function build(cfg: Record<string, unknown>): ComposedMachine {
  const container = createHyvisorContainer();
  registerKvmBackend(container);
  registerMinimalStrategy(container);
  registerHvmStrategies(container);
  const config = validateConfig({ backend: 'kvm', board: 'testbed', memory: '64MiB', serial: { output: 'none' }, timeLimit: '60s', ...cfg });
  const composed = createMachineFromConfig(container, config);
  composed.machine.own(attachStandInProbes(composed.machine));
  return composed;
}
