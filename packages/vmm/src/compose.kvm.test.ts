/**
 * createMachineFromConfig's result owns the machine and the backend: `using` releases both.
 * Needs /dev/kvm and the built hello guest; without /dev/kvm the test logs why it did not run.
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHyvisorContainer, validateConfig } from '@hyvisor/core';
import { registerKvmBackend } from '@hyvisor/backend-kvm';
import { kvmTest } from '@hyvisor/backend-kvm/testing';
import { createMachineFromConfig, type ComposedMachine } from './compose.js';
import { registerMinimalStrategy } from './strategy/minimal.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const helloElf = path.join(root, 'packages/guest-hello/build/hello.elf');

kvmTest('using a composed machine disposes the machine and its backend at the end of the scope', (t) => {
  const c = createHyvisorContainer();
  registerKvmBackend(c);
  registerMinimalStrategy(c);
  const config = validateConfig({ name: 't', backend: 'kvm', strategy: 'minimal', memory: '16MiB', guest: { kernel: helloElf }, serial: { output: 'buffer' } });
  let kept: ComposedMachine | undefined;
  {
    using composed = createMachineFromConfig(c, config);
    kept = composed;
    t.is(composed.machine.state, 'created');
  }
  t.is(kept.machine.state, 'disposed');
  t.notThrows(() => kept!.dispose(), 'disposing again is harmless');
});
