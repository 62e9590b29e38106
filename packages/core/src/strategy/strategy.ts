/**
 * A strategy: a named composition of one implementation per facet. `pv`, `hvm` and `hybrid` are
 * three such compositions; code and config may build others, facet by facet.
 * @module
 */
import type { BackendInfo, Capability } from '../backend/backend.js';
import { CompositionError } from '../errors.js';
import { FACET_NAMES, type FacetName, type FacetTypes } from '../facets/facet.js';
import type { Facet } from '../facets/facet.js';

/** One implementation per facet, plus a name. */
export interface Strategy {
  readonly name: string;
  readonly description: string;
  readonly cpu: FacetTypes['cpu'];
  readonly memory: FacetTypes['memory'];
  readonly interrupt: FacetTypes['interrupt'];
  readonly timer: FacetTypes['timer'];
  readonly io: FacetTypes['io'];
}

/** The feature bits a strategy advertises to the guest: the OR of its facets' bits. */
export function strategyFeatureBits(s: Strategy): number {
  return (s.cpu.featureBits | s.memory.featureBits | s.interrupt.featureBits | s.timer.featureBits | s.io.featureBits) >>> 0;
}

/** Replaces single facets of `base`, giving the result a new name. */
export function withFacets(base: Strategy, name: string, replace: Partial<FacetTypes>): Strategy {
  for (const key of Object.keys(replace) as FacetName[]) {
    const f = replace[key];
    if (f && f.facet !== key) {
      throw new CompositionError(`strategy ${name}: facet ${key} was given a ${f.facet} facet (${f.name})`);
    }
  }
  return { ...base, ...replace, name, description: `${base.description} (with ${Object.keys(replace).join(', ')} replaced)` };
}

/** A capability a strategy needs that a backend lacks. */
export interface MissingCapability {
  readonly facet: FacetName;
  readonly implementation: string;
  readonly capability: Capability;
}

/** Lists what `strategy` needs from the backend that `backend` does not offer. */
export function missingCapabilities(strategy: Strategy, backend: BackendInfo): MissingCapability[] {
  const missing: MissingCapability[] = [];
  for (const facet of FACET_NAMES) {
    const impl = strategy[facet];
    for (const cap of impl.requires) {
      if (!backend.capabilities.has(cap)) missing.push({ facet, implementation: impl.name, capability: cap });
    }
  }
  return missing;
}

/**
 * Checks that `strategy` can run on `backend`: first each facet's composition rule
 * ({@link Facet.check}), then the capabilities each facet requires. Throws
 * {@link CompositionError} naming the facet, its implementation, the rule or capability and the
 * backend otherwise.
 */
export function assertComposable(strategy: Strategy, backend: BackendInfo): void {
  const broken: string[] = [];
  for (const facet of FACET_NAMES) {
    const why = strategy[facet].check?.(strategy);
    if (why !== undefined) broken.push(`${facet} facet '${strategy[facet].name}': ${why}`);
  }
  if (broken.length > 0) throw new CompositionError(`strategy ${strategy.name} is not a valid composition: ${broken.join('; ')}`);
  const missing = missingCapabilities(strategy, backend);
  if (missing.length === 0) return;
  const lines = missing.map(
    (m) => `${m.facet} facet '${m.implementation}' needs capability '${m.capability}'`,
  );
  throw new CompositionError(
    `strategy ${strategy.name} cannot run on backend ${backend.name} (${backend.flavour}): ${lines.join('; ')}, which ${backend.name} does not offer`,
  );
}
