/**
 * What a container offers, read from its registries without building anything: for
 * `hyvisor info`, help texts and embedders that want to show the choices.
 * @module
 */
import type { DependencyContainer } from 'tsyringe';
import type { RegistryEntry } from './registry.js';
import { BACKENDS, BOARDS, DEVICES, FACETS, STRATEGIES } from './tokens.js';
import type { FacetEntry } from '../facets/facet-registry.js';
import type { BoardListing, DeviceListing } from '../devices/registry.js';

/** The names and descriptions in a container's registries (empty lists for registries it lacks). */
export interface Catalog {
  readonly backends: readonly RegistryEntry[];
  readonly strategies: readonly RegistryEntry[];
  readonly facets: readonly FacetEntry[];
  readonly boards: readonly BoardListing[];
  readonly devices: readonly DeviceListing[];
}

/** Lists every registry of `container`, sorted by name; constructs no backend, strategy or device. */
export function catalog(container: DependencyContainer): Catalog {
  const has = (token: symbol) => container.isRegistered(token, true);
  const devices = has(DEVICES as symbol) ? container.resolve(DEVICES) : undefined;
  return {
    backends: has(BACKENDS as symbol) ? container.resolve(BACKENDS).list() : [],
    strategies: has(STRATEGIES as symbol) ? container.resolve(STRATEGIES).list() : [],
    facets: has(FACETS as symbol) ? container.resolve(FACETS).list() : [],
    boards: has(BOARDS as symbol) ? container.resolve(BOARDS).list(devices) : [],
    devices: devices?.list() ?? [],
  };
}
