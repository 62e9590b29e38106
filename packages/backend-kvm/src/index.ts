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
export { KvmVm } from './kvm-vm.js';
export { KvmIrqchip, type KvmIrqchipState, type KvmPicState } from './kvm-irqchip.js';
export { KvmVcpu } from './kvm-vcpu.js';
export { detectFlavour, kvmAvailable, openKvmDevice, KVM_DEVICE, KVM_PVM_SYSFS, type KvmAvailability, type KvmFlavour } from './host.js';
export { loadNative, describeErrno, type KvmNative, type KvmLayout, type StructLayout } from './native.js';

/** A DI container as core creates it (tsyringe's `DependencyContainer`). */
export type HyvisorContainer = ReturnType<typeof createHyvisorContainer>;

/**
 * Registers the `kvm` backend in the container's {@link BACKENDS} registry. Lazy: /dev/kvm is
 * opened only when a VMM creates the backend, so registering it on a host without KVM is fine.
 */
export function registerKvmBackend(container: HyvisorContainer): void {
  container.resolve(BACKENDS).register('kvm', 'Linux KVM (/dev/kvm)', (): Backend => new KvmBackend());
}
