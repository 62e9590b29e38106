/**
 * The facet registry: implementation name → factory, per facet kind, so that a config can replace
 * single facets of a strategy by name (`strategy: { base: hybrid, timer: emulated-pit }`). The
 * strategy packages register their facets next to their strategies; a name is unique per kind.
 * @module
 */
import type { BackendInfo } from '../backend/backend.js';
import { ConfigError, WiringError } from '../errors.js';
import { FACET_NAMES, type Facet, type FacetName, type FacetTypes } from './facet.js';

/** Builds a fresh facet object (facets hold per-machine state: never share one between machines). */
export type FacetFactory<K extends FacetName = FacetName> = (backend: BackendInfo) => FacetTypes[K];

/** One registered facet implementation. */
export interface FacetEntry {
  readonly facet: FacetName;
  readonly name: string;
  readonly description: string;
}

/** Facet factories by kind and implementation name. */
export class FacetRegistry {
  private readonly kinds = new Map<FacetName, Map<string, { description: string; factory: FacetFactory }>>(
    FACET_NAMES.map((k) => [k, new Map()]),
  );

  /** Adds a factory for facet kind `facet`. Throws {@link WiringError} if that kind already has `name`. */
  register<K extends FacetName>(facet: K, name: string, description: string, factory: FacetFactory<K>): void {
    const byName = this.kinds.get(facet);
    if (byName === undefined) throw new WiringError(`facet registry: '${String(facet)}' is not a facet kind (${FACET_NAMES.join(', ')})`);
    if (byName.has(name)) throw new WiringError(`${facet} facet ${name} is registered twice`);
    byName.set(name, { description, factory: factory as FacetFactory });
  }

  /**
   * Registers `name` unless this kind has it already: for packages that share facets (the hybrid
   * strategy registers the HVM and PV facets it uses, which their own packages register too).
   */
  provide<K extends FacetName>(facet: K, name: string, description: string, factory: FacetFactory<K>): void {
    if (!this.has(facet, name)) this.register(facet, name, description, factory);
  }

  has(facet: FacetName, name: string): boolean {
    return this.kinds.get(facet)?.has(name) ?? false;
  }

  /** Implementation names of one kind, sorted. */
  names(facet: FacetName): string[] {
    return [...(this.kinds.get(facet)?.keys() ?? [])].sort();
  }

  /** Every registered facet, by kind (in {@link FACET_NAMES} order) then name. */
  list(): FacetEntry[] {
    const out: FacetEntry[] = [];
    for (const facet of FACET_NAMES) {
      for (const name of this.names(facet)) out.push({ facet, name, description: this.kinds.get(facet)!.get(name)!.description });
    }
    return out;
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
  for (const m of ['check', 'prepareVm', 'attach'] as const) {
    if (f[m] !== undefined && typeof f[m] !== 'function') return `facet '${f.name}': ${m} is not a function`;
  }
  return undefined;
}
