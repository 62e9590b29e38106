/**
 * The container the CLI composes: every built-in backend and strategy registered.
 * @module
 */
import 'reflect-metadata';
import type { DependencyContainer } from 'tsyringe';
import { createHyvisorContainer } from '@hyvisor/core';
import { registerKvmBackend } from '@hyvisor/backend-kvm';
import { registerMinimalStrategy } from '@hyvisor/vmm';
import { registerHvmStrategies } from '@hyvisor/strategy-hvm';

/** A container with the built-in plugins registered. */
export function defaultContainer(): DependencyContainer {
  const c = createHyvisorContainer();
  registerKvmBackend(c);
  registerMinimalStrategy(c);
  registerHvmStrategies(c);
  return c;
}
