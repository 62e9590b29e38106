/**
 * `@hyvisor/backend-kvm`: the Linux KVM backend. A thin C addon issues the ioctls; everything
 * else (struct encoding, exits, interrupts, lifetimes) is TypeScript.
 *
 * ```ts
 * const container = createHyvisorContainer();
 * registerKvmBackend(container);
 * const backend = container.resolve(BACKENDS).create('kvm');
 * ```
 * @packageDocumentation
 */
import { BACKENDS, type Backend, type createHyvisorContainer } from '@hyvisor/core';
import { KvmBackend } from './kvm-backend.js';

export { KvmBackend, type KvmHost } from './kvm-backend.js';
// What `createVm`/`createVcpu`/`vm.irqchip` return: types only, made by the backend, never by `new`.
export type { KvmVm } from './kvm-vm.js';
export type { KvmIrqchip, KvmIrqchipState, KvmPicState } from './kvm-irqchip.js';
export type { KvmVcpu } from './kvm-vcpu.js';
// Whether KVM works here and which one it is (`hyvisor info`, tests that need /dev/kvm).
export { detectFlavour, kvmAvailable, type KvmAvailability, type KvmFlavour } from './host.js';
// The native addon's layout types stay internal; its loader and errno text are the backend's own business.

/** A DI container as core creates it (tsyringe's `DependencyContainer`). */
export type HyvisorContainer = ReturnType<typeof createHyvisorContainer>;

/**
 * Registers the `kvm` backend in the container's {@link BACKENDS} registry. Lazy: /dev/kvm is
 * opened only when a VMM creates the backend, so registering it on a host without KVM is fine.
 */
export function registerKvmBackend(container: HyvisorContainer): void {
  container.resolve(BACKENDS).register('kvm', 'Linux KVM (/dev/kvm)', (): Backend => new KvmBackend());
}
