/**
 * Attaching a strategy's facets to a machine: what every machine (and every test double of one)
 * does the same way, so it lives here once.
 * @module
 */
import type { Disposable } from '../lifecycle/disposable.js';
import { attachOrder } from '../strategy/composition.js';
import { FACET_NAMES, type FacetSet, type MachineContext } from './facet.js';

/**
 * Attaches the facets of `strategy` to the machine of `ctx`: declares every service the facets
 * provide in `ctx.services` (so a premature lookup names its provider), then calls each facet's
 * `attach` with the providers of a service before the facets that need it ({@link attachOrder}).
 * Returns what the facets returned, in attach order, for the machine to dispose; if a facet
 * throws, what the earlier ones returned is disposed first.
 */
export function attachFacets(strategy: FacetSet, ctx: MachineContext): Disposable[] {
  for (const k of FACET_NAMES) {
    for (const service of strategy[k].provides ?? []) ctx.services.declare(service, `${k} facet '${strategy[k].name}'`);
  }
  const out: Disposable[] = [];
  try {
    for (const k of attachOrder(strategy)) {
      const d = strategy[k].attach?.(ctx);
      if (d) out.push(d);
    }
  } catch (err) {
    for (const d of out.reverse()) {
      try { d.dispose(); } catch { /* the attach error is the one to report */ }
    }
    throw err;
  }
  return out;
}
