/**
 * The built-in plugins the CLI composes, loaded on demand. Each entry says which backend and
 * strategy names it registers, so `hyvisor run` imports only the packages its config names (no
 * emulator on KVM, no PV code under `hvm`, …); anything else (a facet replaced by name, a module,
 * an unknown name) registers every plugin, so the registries answer it exactly as before. A test
 * registers each plugin alone and checks the names it declares here, so this list cannot drift.
 * @module
 */
import type { DependencyContainer } from 'tsyringe';
import type { StrategyChoice } from '@hyvisor/core';
import type { HelpSection } from './spec.js';

/** A built-in plugin: the names it registers and how to load and register it. */
export interface BuiltinPlugin {
  readonly package: string;
  readonly backends: readonly string[];
  readonly strategies: readonly string[];
  register(c: DependencyContainer): Promise<void>;
}

/** Every built-in plugin. */
export const BUILTIN_PLUGINS: readonly BuiltinPlugin[] = [
  { package: '@hyvisor/backend-kvm', backends: ['kvm'], strategies: [], register: async (c) => (await import('@hyvisor/backend-kvm')).registerKvmBackend(c) },
  { package: '@hyvisor/backend-emu', backends: ['emu'], strategies: [], register: async (c) => (await import('@hyvisor/backend-emu')).registerEmuBackend(c) },
  { package: '@hyvisor/vmm', backends: [], strategies: ['minimal'], register: async (c) => (await import('@hyvisor/vmm')).registerMinimalStrategy(c) },
  { package: '@hyvisor/strategy-hvm', backends: [], strategies: ['hvm', 'hvm-userspace'], register: async (c) => (await import('@hyvisor/strategy-hvm')).registerHvmStrategies(c) },
  { package: '@hyvisor/strategy-pv', backends: [], strategies: ['pv'], register: async (c) => (await import('@hyvisor/strategy-pv')).registerPvStrategy(c) },
  { package: '@hyvisor/strategy-hybrid', backends: [], strategies: ['hybrid'], register: async (c) => (await import('@hyvisor/strategy-hybrid')).registerHybridStrategy(c) },
];

/** What a command needs from the registries; omitted fields mean "everything". */
export interface Needs {
  readonly backend?: string;
  readonly strategy?: StrategyChoice;
}

/**
 * A fresh container with the plugins `needs` asks for registered: the one backend and the one
 * strategy named, or all of a kind when the name is not a plain built-in one.
 */
export async function containerFor(needs: Needs = {}): Promise<DependencyContainer> {
  const { createHyvisorContainer } = await import('@hyvisor/core');
  const c = createHyvisorContainer();
  const chosen = pluginsFor(needs);
  // In table order, so registries fill as they always have (hybrid's facets after hvm's and pv's).
  for (const p of BUILTIN_PLUGINS) if (chosen.has(p)) await p.register(c);
  // Always: the vmm loads the devices package for any run anyway.
  (await import('@hyvisor/devices')).registerBuiltinDevices(c);
  (await import('@hyvisor/virtio')).registerVirtioDevices(c);
  return c;
}

/** The plugins {@link containerFor} registers for `needs`. */
export function pluginsFor(needs: Needs): Set<BuiltinPlugin> {
  const byBackend = BUILTIN_PLUGINS.filter((p) => needs.backend !== undefined && p.backends.includes(needs.backend));
  const strategy = typeof needs.strategy === 'string' ? needs.strategy : undefined;
  const byStrategy = BUILTIN_PLUGINS.filter((p) => strategy !== undefined && p.strategies.includes(strategy));
  return new Set([
    ...(byBackend.length > 0 ? byBackend : BUILTIN_PLUGINS.filter((p) => p.backends.length > 0)),
    ...(byStrategy.length > 0 ? byStrategy : BUILTIN_PLUGINS.filter((p) => p.strategies.length > 0)),
  ]);
}

/**
 * Help sections listing what the registries hold: backends, strategies, facets by kind, the
 * boards and the device types, the testbed workloads.
 */
export async function registrySections(): Promise<HelpSection[]> {
  const core = await import('@hyvisor/core');
  const c = await containerFor();
  const facets = c.resolve(core.FACETS);
  const sections: HelpSection[] = [
    { title: 'backends', rows: c.resolve(core.BACKENDS).list().map((b) => [b.name, b.description]) },
    { title: 'strategies', rows: c.resolve(core.STRATEGIES).list().map((s) => [s.name, s.description]) },
    {
      title: 'facets (replace one in a config: strategy: { base: hybrid, timer: emulated-pit })',
      rows: core.FACET_NAMES.map((k) => [k, facets.names(k).join(', ')]),
    },
    {
      title: 'boards (config board:, default testbed)',
      rows: core.catalog(c).boards.map((b) => [b.name, b.devices.map((d) => (d.name === d.device ? d.name : `${d.name} (${d.device})`)).join(', ')]),
    },
    { title: 'devices (config devices:)', rows: c.resolve(core.DEVICES).list().map((d) => [d.name, d.description]) },
    { title: 'workloads (testbed guest)', rows: [core.WORKLOADS.join(', ')] },
  ];
  return sections;
}
