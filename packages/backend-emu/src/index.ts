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
// What `createVm`/`createVcpu` return: types only (instruction counts, stats), made by the backend.
export type { EmuVm } from './emu-vm.js';
export type { EmuVcpu } from './emu-vcpu.js';
// The emulator's fixed time base: guest time is instructions retired, so runs are deterministic.
export { NS_PER_INSTRUCTION, TSC_KHZ } from './cpu/msr.js';

/** A DI container as core creates it. */
export type HyvisorContainer = ReturnType<typeof createHyvisorContainer>;

/** Registers the `emu` backend in the container's {@link BACKENDS} registry. */
export function registerEmuBackend(container: HyvisorContainer): void {
  container.resolve(BACKENDS).register('emu', 'x86-64 emulator (deterministic, no /dev/kvm needed)', (): Backend => new EmuBackend());
}
