/**
 * `@hyvisor/backend-emu`: an x86-64 emulator backend. Same contract as the KVM backend, no
 * /dev/kvm needed, exact and deterministic instruction counts.
 *
 * ```ts
 * const container = createHyvisorContainer();
 * registerEmuBackend(container);
 * const backend = container.resolve(BACKENDS).create('emu');
 * ```
 * @packageDocumentation
 */
import { BACKENDS, type Backend, type createHyvisorContainer } from '@hyvisor/core';
import { EmuBackend } from './emu-backend.js';

export { EmuBackend } from './emu-backend.js';
export { EmuVm } from './emu-vm.js';
export { EmuVcpu, CHECK_INTERVAL, HOST_GUARD_MIN_MS } from './emu-vcpu.js';
export { NS_PER_INSTRUCTION, TSC_KHZ, TSC_PER_INSTRUCTION } from './cpu/msr.js';
export { emulatorCpuid } from './cpu/cpuid.js';

/** A DI container as core creates it. */
export type HyvisorContainer = ReturnType<typeof createHyvisorContainer>;

/** Registers the `emu` backend in the container's {@link BACKENDS} registry. */
export function registerEmuBackend(container: HyvisorContainer): void {
  container.resolve(BACKENDS).register('emu', 'x86-64 emulator (deterministic, no /dev/kvm needed)', (): Backend => new EmuBackend());
}
