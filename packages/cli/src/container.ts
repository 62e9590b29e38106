/**
 * The container the CLI composes: every built-in backend and strategy registered.
 * @module
 */
import 'reflect-metadata';
import type { DependencyContainer } from 'tsyringe';
import { createHyvisorContainer } from '@hyvisor/core';
import { registerKvmBackend } from '@hyvisor/backend-kvm';
import { registerEmuBackend } from '@hyvisor/backend-emu';
import { registerMinimalStrategy } from '@hyvisor/vmm';
import { registerHvmStrategies } from '@hyvisor/strategy-hvm';
import { registerPvStrategy } from '@hyvisor/strategy-pv';
import { registerHybridStrategy } from '@hyvisor/strategy-hybrid';

/** A container with the built-in plugins registered. */
export function defaultContainer(): DependencyContainer {
  const c = createHyvisorContainer();
  registerKvmBackend(c);
  registerEmuBackend(c);
  registerMinimalStrategy(c);
  registerHvmStrategies(c);
  registerPvStrategy(c);
  registerHybridStrategy(c);
  return c;
}
