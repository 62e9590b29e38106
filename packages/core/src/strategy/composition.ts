/**
 * Whether a strategy's facets work together and on a backend: the services each needs against
 * those the others provide, what each excludes, each facet's own rule, then the backend
 * capabilities each requires. Also the order facets attach in (providers before their users).
 * @module
 */
import type { BackendInfo, Capability } from '../backend/backend.js';
import { CompositionError } from '../errors.js';
import { FACET_NAMES, type FacetInfo, type FacetName, type FacetSet } from '../facets/facet.js';
import { hasService, type AnyServiceToken } from '../facets/service.js';

/** A facet implementation in a message or a structured error: `interrupt facet 'event-channel'`. */
export interface FacetRef {
  readonly facet: FacetName;
  readonly implementation: string;
}

/** Something a facet needs that the composition lacks: a backend capability or a service. */
export type CompositionMissing =
  | { readonly kind: 'capability'; readonly facet: FacetName; readonly implementation: string; readonly capability: Capability }
  | {
    readonly kind: 'service'; readonly facet: FacetName; readonly implementation: string; readonly service: AnyServiceToken;
    /** Registered facets that provide it (empty when no registry was given or none does). */
    readonly providers: readonly FacetRef[];
  };

/** Facets that cannot work together although nothing is missing. */
export type CompositionConflict =
  | { readonly kind: 'excludes'; readonly facet: FacetName; readonly implementation: string; readonly service: AnyServiceToken; readonly providedBy: readonly FacetRef[] }
  | { readonly kind: 'provided-twice'; readonly service: AnyServiceToken; readonly providedBy: readonly FacetRef[] }
  | { readonly kind: 'cycle'; readonly facets: readonly FacetRef[] }
  | { readonly kind: 'rule'; readonly facet: FacetName; readonly implementation: string; readonly reason: string };

/** Where {@link assertComposable} looks up which registered facets could provide a missing service. */
export interface ProviderLookup {
  /** Registered facets whose static info provides `service`, by kind then name. */
  providersOf(service: AnyServiceToken): readonly { readonly facet: FacetName; readonly name: string }[];
}

/** Options of {@link assertComposable}. */
export interface ComposableOptions {
  /** The facet registry, to name the facets that could provide a missing service. */
  readonly facets?: ProviderLookup;
}

/** A capability a strategy needs that a backend lacks. */
export interface MissingCapability {
  readonly facet: FacetName;
  readonly implementation: string;
  readonly capability: Capability;
}

/** What {@link assertComposable} checks, on a strategy without its name. */
type Composition = FacetSet & { readonly name?: string };

/** Lists what `strategy` needs from the backend that `backend` does not offer. */
export function missingCapabilities(strategy: FacetSet, backend: BackendInfo): MissingCapability[] {
  const missing: MissingCapability[] = [];
  for (const facet of FACET_NAMES) {
    const impl = strategy[facet];
    for (const cap of impl.requires) {
      if (!backend.capabilities.has(cap)) missing.push({ facet, implementation: impl.name, capability: cap });
    }
  }
  return missing;
}

/** The facets of `strategy` that provide `service`, in {@link FACET_NAMES} order. */
export function providersIn(strategy: FacetSet, service: AnyServiceToken): FacetRef[] {
  return FACET_NAMES.filter((k) => hasService(strategy[k].provides, service)).map((k) => ref(strategy[k]));
}

/** Services the facets of `strategy` need and no facet provides (nor the token creates), with registered providers. */
export function missingServices(strategy: FacetSet, options: ComposableOptions = {}): CompositionMissing[] {
  const out: CompositionMissing[] = [];
  for (const facet of FACET_NAMES) {
    const impl = strategy[facet];
    for (const service of impl.needs ?? []) {
      if (service.create !== undefined || providersIn(strategy, service).length > 0) continue;
      const providers = (options.facets?.providersOf(service) ?? []).map((p) => ({ facet: p.facet, implementation: p.name }));
      out.push({ kind: 'service', facet, implementation: impl.name, service, providers });
    }
  }
  return out;
}

/** Conflicts among the facets of `strategy`: excluded services present, a service provided twice, a need cycle, a broken rule. */
export function compositionConflicts(strategy: FacetSet): CompositionConflict[] {
  const out: CompositionConflict[] = [];
  const seen = new Set<symbol>();
  for (const facet of FACET_NAMES) {
    for (const service of strategy[facet].provides ?? []) {
      if (seen.has(service.key)) continue;
      seen.add(service.key);
      const providedBy = providersIn(strategy, service);
      if (providedBy.length > 1) out.push({ kind: 'provided-twice', service, providedBy });
    }
  }
  for (const facet of FACET_NAMES) {
    const impl = strategy[facet];
    for (const service of impl.excludes ?? []) {
      const providedBy = providersIn(strategy, service).filter((p) => p.facet !== facet);
      if (providedBy.length > 0) out.push({ kind: 'excludes', facet, implementation: impl.name, service, providedBy });
    }
  }
  const cycle = needCycle(strategy);
  if (cycle !== undefined) out.push({ kind: 'cycle', facets: cycle.map((k) => ref(strategy[k])) });
  for (const facet of FACET_NAMES) {
    const reason = strategy[facet].check?.(strategy);
    if (reason !== undefined) out.push({ kind: 'rule', facet, implementation: strategy[facet].name, reason });
  }
  return out;
}

/**
 * Checks that `strategy` can run on `backend`: first the facets among themselves (services
 * needed and not provided, services provided twice or excluded, need cycles, each facet's own
 * {@link Facet.check} rule: all of them in one message), then the capabilities each facet
 * requires. Throws {@link CompositionError} whose message names the facet, its implementation,
 * the service (and the registered facets that provide it) or capability and the backend, and
 * whose {@link CompositionError.missing} and {@link CompositionError.conflicts} list the same.
 */
export function assertComposable(strategy: Composition, backend: BackendInfo, options: ComposableOptions = {}): void {
  const name = strategy.name ?? 'composition';
  const missing = missingServices(strategy, options);
  const conflicts = compositionConflicts(strategy);
  if (missing.length > 0 || conflicts.length > 0) {
    const lines = [...missing.map(missingLine), ...conflicts.map(conflictLine)];
    throw new CompositionError(`strategy ${name} is not a valid composition: ${lines.join('; ')}`, missing, conflicts, `strategy ${name}`);
  }
  const caps = missingCapabilities(strategy, backend);
  if (caps.length === 0) return;
  const lines = caps.map((m) => `${m.facet} facet '${m.implementation}' needs capability '${m.capability}'`);
  throw new CompositionError(
    `strategy ${name} cannot run on backend ${backend.name} (${backend.flavour}): ${lines.join('; ')}, which ${backend.name} does not offer`,
    caps.map((m) => ({ kind: 'capability' as const, ...m })),
    [],
    `strategy ${name}`,
  );
}

/**
 * The order to attach `strategy`'s facets in: every facet after the facets that provide what it
 * needs, otherwise in {@link FACET_NAMES} order (cpu, memory, interrupt, timer, io). Throws
 * {@link CompositionError} on a need cycle ({@link assertComposable} reports it first).
 */
export function attachOrder(strategy: FacetSet): FacetName[] {
  const order: FacetName[] = [];
  const placed = new Set<FacetName>();
  while (order.length < FACET_NAMES.length) {
    const next = FACET_NAMES.find((k) => !placed.has(k) && providersOf(strategy, k).every((p) => placed.has(p)));
    if (next === undefined) {
      const cycle = needCycle(strategy) ?? FACET_NAMES.filter((k) => !placed.has(k));
      throw new CompositionError(`facets need each other's services in a cycle: ${cycle.map((k) => label(ref(strategy[k]))).join(' → ')}`, [], [
        { kind: 'cycle', facets: cycle.map((k) => ref(strategy[k])) },
      ]);
    }
    order.push(next);
    placed.add(next);
  }
  return order;
}

/** The other facets of `strategy` that provide something facet `kind` needs. */
function providersOf(strategy: FacetSet, kind: FacetName): FacetName[] {
  const out = new Set<FacetName>();
  for (const service of strategy[kind].needs ?? []) {
    for (const k of FACET_NAMES) if (k !== kind && hasService(strategy[k].provides, service)) out.add(k);
  }
  return [...out];
}

/** A cycle of facets each needing a service of the next (closed: first = last), or undefined. */
function needCycle(strategy: FacetSet): FacetName[] | undefined {
  const state = new Map<FacetName, 'visiting' | 'done'>();
  const stack: FacetName[] = [];
  const visit = (k: FacetName): FacetName[] | undefined => {
    if (state.get(k) === 'done') return undefined;
    if (state.get(k) === 'visiting') return [...stack.slice(stack.indexOf(k)), k];
    state.set(k, 'visiting');
    stack.push(k);
    for (const p of providersOf(strategy, k)) {
      const c = visit(p);
      if (c !== undefined) return c;
    }
    stack.pop();
    state.set(k, 'done');
    return undefined;
  };
  for (const k of FACET_NAMES) {
    const c = visit(k);
    if (c !== undefined) return c;
  }
  return undefined;
}

function ref(info: FacetInfo): FacetRef {
  return { facet: info.facet, implementation: info.name };
}

function label(r: FacetRef): string {
  return `${r.facet} facet '${r.implementation}'`;
}

function list(refs: readonly FacetRef[]): string {
  const l = refs.map(label);
  return l.length <= 1 ? (l[0] ?? '') : `${l.slice(0, -1).join(', ')} and ${l[l.length - 1]}`;
}

function missingLine(m: CompositionMissing): string {
  if (m.kind === 'capability') return `${label(m)} needs capability '${m.capability}'`;
  const who = m.providers.length > 0 ? `; it is provided by ${list(m.providers)}` : '';
  return `${label(m)} needs service '${m.service.description}', which no facet of this strategy provides${who}`;
}

function conflictLine(c: CompositionConflict): string {
  switch (c.kind) {
    case 'excludes': return `${label(c)} cannot share a machine with the ${c.service.description}, which ${list(c.providedBy)} provides`;
    case 'provided-twice': return `service '${c.service.description}' is provided by both ${list(c.providedBy)}; a machine has one provider per service`;
    case 'cycle': return `facets need each other's services in a cycle: ${c.facets.map(label).join(' → ')}`;
    case 'rule': return `${label(c)}: ${c.reason}`;
  }
}
