/**
 * The facet registry: implementation name → factory, per facet kind, so that a config can replace
 * single facets of a strategy by name (`strategy: { base: hybrid, timer: emulated-pit }`). The
 * strategy packages register their facets next to their strategies; a name is unique per kind.
 * @module
 */
import type { BackendInfo } from '../backend/backend.js';
import { ConfigError, WiringError } from '../errors.js';
import { FACET_NAMES, type Facet, type FacetInfo, type FacetName, type FacetTypes } from './facet.js';
import { hasService, isServiceToken, type AnyServiceToken } from './service.js';
import type { ProviderLookup } from '../strategy/composition.js';

/** Builds a fresh facet object (facets hold per-machine state: never share one between machines). */
export type FacetFactory<K extends FacetName = FacetName> = (backend: BackendInfo) => FacetTypes[K];

/** One registered facet implementation: its static {@link FacetInfo}, read without building it. */
export type FacetEntry = FacetInfo;

/**
 * Facet factories by kind and implementation name, each with its static {@link FacetInfo}, so
 * listings and composition messages ("which facets could provide it") build nothing.
 */
export class FacetRegistry implements ProviderLookup {
  private readonly kinds = new Map<FacetName, Map<string, { info: FacetInfo; factory: FacetFactory }>>(
    FACET_NAMES.map((k) => [k, new Map()]),
  );

  /**
   * Adds a factory for the facet `info` describes (a facet class's static `info`, or a plain
   * facet object, which is its own descriptor). Throws {@link WiringError} if that kind already
   * has the name. The legacy form `(kind, name, description, factory)` registers a descriptor
   * without requires, provides or needs (what the built facet declares still counts for
   * composition; only listings and hints lack it).
   */
  register<K extends FacetName>(info: FacetInfo<K>, factory: FacetFactory<K>): void;
  register<K extends FacetName>(facet: K, name: string, description: string, factory: FacetFactory<K>): void;
  register<K extends FacetName>(...args: [FacetInfo<K>, FacetFactory<K>] | [K, string, string, FacetFactory<K>]): void {
    const [info, factory] = descriptorOf(args);
    const byName = this.kinds.get(info.facet);
    if (byName === undefined) throw new WiringError(`facet registry: '${String(info.facet)}' is not a facet kind (${FACET_NAMES.join(', ')})`);
    if (byName.has(info.name)) throw new WiringError(`${info.facet} facet ${info.name} is registered twice`);
    byName.set(info.name, { info: snapshot(info), factory: factory as FacetFactory });
  }

  /**
   * Registers the facet unless its kind has the name already: for packages that share facets (the
   * hybrid strategy registers the HVM and PV facets it uses, which their own packages register too).
   */
  provide<K extends FacetName>(info: FacetInfo<K>, factory: FacetFactory<K>): void;
  provide<K extends FacetName>(facet: K, name: string, description: string, factory: FacetFactory<K>): void;
  provide<K extends FacetName>(...args: [FacetInfo<K>, FacetFactory<K>] | [K, string, string, FacetFactory<K>]): void {
    const [info, factory] = descriptorOf(args);
    if (!this.has(info.facet, info.name)) this.register(info, factory);
  }

  has(facet: FacetName, name: string): boolean {
    return this.kinds.get(facet)?.has(name) ?? false;
  }

  /** The static info of `name` of kind `facet`, if registered. */
  info(facet: FacetName, name: string): FacetInfo | undefined {
    return this.kinds.get(facet)?.get(name)?.info;
  }

  /** Implementation names of one kind, sorted. */
  names(facet: FacetName): string[] {
    return [...(this.kinds.get(facet)?.keys() ?? [])].sort();
  }

  /** Every registered facet's static info, by kind (in {@link FACET_NAMES} order) then name. */
  list(): FacetEntry[] {
    const out: FacetEntry[] = [];
    for (const facet of FACET_NAMES) {
      for (const name of this.names(facet)) out.push(this.kinds.get(facet)!.get(name)!.info);
    }
    return out;
  }

  /** Registered facets whose static info provides `service`, by kind then name. */
  providersOf(service: AnyServiceToken): FacetEntry[] {
    return this.list().filter((e) => hasService(e.provides, service));
  }

  /** The kinds that have an implementation called `name`. */
  kindsOf(name: string): FacetName[] {
    return FACET_NAMES.filter((k) => this.has(k, name));
  }

  /**
   * Throws the {@link ConfigError} of {@link create} for `field` if kind `facet` has no `name`: it
   * lists the known names of that kind, and says so when `name` is a facet of another kind.
   */
  assertHas(facet: FacetName, name: string, field: string = `strategy.${facet}`): void {
    if (this.has(facet, name)) return;
    const known = this.names(facet).join(', ') || '(none registered)';
    const other = this.kindsOf(name);
    if (other.length > 0) {
      throw new ConfigError(`${field}: '${name}' is ${article(other[0]!)} ${other[0]} facet, not ${article(facet)} ${facet} facet; known ${facet} facets: ${known}`, field);
    }
    throw new ConfigError(`${field}: unknown ${facet} facet '${name}'; known: ${known}`, field);
  }

  /** A new facet `name` of kind `facet` for `backend`; unknown names are a {@link ConfigError} (see {@link assertHas}). */
  create<K extends FacetName>(facet: K, name: string, backend: BackendInfo, field: string = `strategy.${facet}`): FacetTypes[K] {
    this.assertHas(facet, name, field);
    return this.kinds.get(facet)!.get(name)!.factory(backend) as FacetTypes[K];
  }
}

function descriptorOf<K extends FacetName>(args: [FacetInfo<K>, FacetFactory<K>] | [K, string, string, FacetFactory<K>]): [FacetInfo<K>, FacetFactory<K>] {
  if (args.length === 2) return args;
  const [facet, name, description, factory] = args;
  return [{ facet, name, description, requires: [] }, factory];
}

/** The descriptor fields only (a plain facet object passed as its own descriptor keeps its methods out of listings). */
function snapshot(info: FacetInfo): FacetInfo {
  return Object.freeze({
    facet: info.facet, name: info.name, description: info.description, requires: [...info.requires],
    provides: [...(info.provides ?? [])], needs: [...(info.needs ?? [])], excludes: [...(info.excludes ?? [])],
  });
}

function article(word: string): string {
  return /^[aeiou]/.test(word) ? 'an' : 'a';
}

/**
 * Why `value` is not a usable facet of kind `facet` (for objects a third-party module returns),
 * or undefined if it is one.
 */
export function notAFacet(value: unknown, facet: FacetName): string | undefined {
  if (typeof value !== 'object' || value === null) return `expected ${article(facet)} ${facet} facet object, got ${value === null ? 'null' : typeof value}`;
  const f = value as Partial<Facet> & { featureBits?: unknown; irqLine?: unknown };
  if (typeof f.facet !== 'string' || !(FACET_NAMES as readonly string[]).includes(f.facet)) {
    return `expected an object with facet: ${FACET_NAMES.join(' | ')}, got facet ${JSON.stringify(f.facet)}`;
  }
  if (f.facet !== facet) return `it is ${article(f.facet)} ${f.facet} facet${typeof f.name === 'string' ? ` ('${f.name}')` : ''}, not ${article(facet)} ${facet} facet`;
  if (typeof f.name !== 'string' || f.name === '') return 'the facet has no name (a non-empty string)';
  if (typeof f.description !== 'string') return `facet '${f.name}' has no description (a string)`;
  if (!Array.isArray(f.requires)) return `facet '${f.name}' has no requires list (backend capabilities, may be empty)`;
  if (typeof f.featureBits !== 'number') return `facet '${f.name}' has no featureBits (a number, 0 for none)`;
  if (facet === 'interrupt' && typeof f.irqLine !== 'function') return `interrupt facet '${f.name}' has no irqLine(irq) method`;
  for (const list of ['provides', 'needs', 'excludes'] as const) {
    const v = (f as Record<string, unknown>)[list];
    if (v === undefined) continue;
    if (!Array.isArray(v)) return `facet '${f.name}': ${list} is not a list of service tokens`;
    const bad = v.findIndex((x) => !isServiceToken(x));
    if (bad >= 0) return `facet '${f.name}': ${list}[${bad}] is not a service token (use serviceToken() or a token @hyvisor/core exports)`;
  }
  for (const m of ['check', 'prepareVm', 'attach'] as const) {
    if (f[m] !== undefined && typeof f[m] !== 'function') return `facet '${f.name}': ${m} is not a function`;
  }
  return undefined;
}
