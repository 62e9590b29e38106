/**
 * Dependency-injection tokens (tsyringe). Plugins register providers against these typed
 * tokens; nobody passes bare strings around.
 * @module
 */
import type { DependencyContainer, InjectionToken } from 'tsyringe';
import { rootContainer } from './tsyringe.js';
import type { Backend, BackendInfo } from '../backend/backend.js';
import type { Strategy } from '../strategy/strategy.js';
import { Registry } from './registry.js';
import { FacetRegistry } from '../facets/facet-registry.js';
import { BoardRegistry, DeviceRegistry } from '../devices/registry.js';

/** The backends a VMM can choose from (`kvm`, `emu`, third-party). */
export const BACKENDS: InjectionToken<Registry<Backend>> = Symbol('hyvisor.backends');
/**
 * The strategies a VMM can choose from (`pv`, `hvm`, `hybrid`, third-party). A factory gets the
 * chosen backend's info, so a strategy can use what the host offers (e.g. an in-kernel irqchip).
 */
export const STRATEGIES: InjectionToken<Registry<Strategy, [BackendInfo]>> = Symbol('hyvisor.strategies');

/**
 * The facet implementations a config can name to replace single facets of a strategy
 * (`emulated-pit`, `pvclock`, …), per facet kind. The strategy packages' register functions
 * fill it along with their strategies.
 */
export const FACETS: InjectionToken<FacetRegistry> = Symbol('hyvisor.facets');

/**
 * The device types a config's `devices:` and boards can name (`uart16550`, `bench-counter`, …).
 * `registerBuiltinDevices` (`@hyvisor/devices`) fills it with the built-ins.
 */
export const DEVICES: InjectionToken<DeviceRegistry> = Symbol('hyvisor.devices');

/** The boards a config's `board:` can name (`minimal`, `testbed`, `pc`, …). */
export const BOARDS: InjectionToken<BoardRegistry> = Symbol('hyvisor.boards');

/**
 * A fresh child container with empty backend, strategy, facet, device and board registries. Each VMM composition
 * gets its own so that tests and embedders do not share global state.
 */
export function createHyvisorContainer(parent: DependencyContainer = rootContainer): DependencyContainer {
  const c = parent.createChildContainer();
  c.registerInstance(BACKENDS, new Registry<Backend>('backend'));
  c.registerInstance(STRATEGIES, new Registry<Strategy, [BackendInfo]>('strategy'));
  c.registerInstance(FACETS, new FacetRegistry());
  c.registerInstance(DEVICES, new DeviceRegistry());
  c.registerInstance(BOARDS, new BoardRegistry());
  return c;
}
