/**
 * A strategy: a named composition of one implementation per facet. `pv`, `hvm` and `hybrid` are
 * three such compositions; code and config may build others, facet by facet.
 * @module
 */
import { CompositionError } from '../errors.js';
import type { FacetName, FacetTypes } from '../facets/facet.js';

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

