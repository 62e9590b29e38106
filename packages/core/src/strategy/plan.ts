/**
 * From what a config says about the strategy to a {@link Strategy}: a registered name
 * (`hybrid`), a base strategy with single facets replaced by implementation name or module
 * (`{ base: hybrid, timer: emulated-pit }`), or a third-party strategy module. Names and modules
 * are checked before a backend is opened ({@link planStrategy}); the facets are built for the
 * chosen backend ({@link StrategyPlan.create}); whether they work together is then checked by
 * {@link assertComposable} (the facets' composition rules and capabilities).
 * @module
 */
import type { BackendInfo } from '../backend/backend.js';
import type { ModuleRef, StrategyChoice } from '../config/schema.js';
import { loadPluginModule } from '../config/plugin-module.js';
import type { Registry } from '../di/registry.js';
import { CompositionError, ConfigError } from '../errors.js';
import { FACET_NAMES, type FacetName, type FacetTypes } from '../facets/facet.js';
import { notAFacet, type FacetRegistry } from '../facets/facet-registry.js';
import { withFacets, type Strategy } from './strategy.js';

/** A checked strategy choice, ready to build. */
export interface StrategyPlan {
  /** The composed strategy's name: `hybrid`, `hybrid+timer=emulated-pit`, or a module strategy's own name once built. */
  readonly name: string;
  /**
   * Builds fresh facets for `backend` and composes them (the base strategy's, with the replaced
   * ones swapped in). Throws {@link ConfigError} when a module's factory returns something that is
   * not a strategy or a facet of the right kind.
   */
  create(backend: BackendInfo): Strategy;
}

type Factory = (backend: BackendInfo) => unknown;

/**
 * Checks `choice` against the registries without building anything: strategy and facet names
 * exist (for the right facet kind), modules load and export a function. Throws
 * {@link ConfigError} with one line naming the file (if known), the field and what is known.
 */
export function planStrategy(choice: StrategyChoice, strategies: Registry<Strategy, [BackendInfo]>, facets: FacetRegistry): StrategyPlan {
  if (typeof choice === 'string') {
    strategies.assertHas(choice, 'strategy');
    return { name: choice, create: (backend) => strategies.create(choice, 'strategy', backend) };
  }
  const prefix = choice.source !== undefined ? `${choice.source}: ` : '';
  const base = choice.base;
  let baseFactory: Factory | undefined;
  if (typeof base === 'string') {
    strategies.assertHas(base, `${prefix}strategy.base`);
  } else {
    baseFactory = loadFactory(base, `${prefix}strategy`, 'strategy');
  }
  const replace: { kind: FacetName; field: string; name?: string; factory?: Factory; label: string }[] = [];
  for (const kind of FACET_NAMES) {
    const f = choice.facets[kind];
    if (f === undefined) continue;
    const field = `${prefix}strategy.${kind}`;
    if (typeof f === 'string') {
      facets.assertHas(kind, f, field);
      replace.push({ kind, field, name: f, label: f });
    } else {
      replace.push({ kind, field, factory: loadFactory(f, field, 'facet'), label: moduleLabel(f) });
    }
  }
  const suffix = replace.map((r) => `+${r.kind}=${r.label}`).join('');
  const baseName = typeof base === 'string' ? base : moduleLabel(base);
  return {
    name: `${baseName}${suffix}`,
    create(backend: BackendInfo): Strategy {
      let s: Strategy;
      if (baseFactory === undefined) {
        s = strategies.create(base as string, `${prefix}strategy.base`, backend);
      } else {
        const made = callFactory(baseFactory, backend, `${prefix}strategy`, moduleLabel(base as ModuleRef));
        const why = notAStrategy(made);
        if (why !== undefined) throw new ConfigError(`${prefix}strategy.module: ${moduleLabel(base as ModuleRef)} did not return a strategy: ${why}`, 'strategy.module');
        s = made as Strategy;
      }
      if (replace.length === 0) return s;
      const parts: Partial<FacetTypes> = {};
      for (const r of replace) {
        let facet: unknown;
        if (r.name !== undefined) {
          facet = facets.create(r.kind, r.name, backend, r.field);
        } else {
          facet = callFactory(r.factory!, backend, r.field, r.label);
          const why = notAFacet(facet, r.kind);
          if (why !== undefined) throw new ConfigError(`${r.field}: ${r.label} did not return a usable ${r.kind} facet: ${why}`, `strategy.${r.kind}`);
        }
        (parts as Record<FacetName, unknown>)[r.kind] = facet;
      }
      return withFacets(s, `${s.name}${suffix}`, parts);
    },
  };
}

/** `file.js` or `file.js#export` for names and messages. */
function moduleLabel(ref: ModuleRef): string {
  const file = ref.module.split(/[\\/]/).pop() ?? ref.module;
  return ref.export === 'default' ? file : `${file}#${ref.export}`;
}

/**
 * Loads `ref` synchronously (ES modules without top-level await, or CommonJS) and returns its
 * exported factory. Throws {@link ConfigError}: cannot load, no such export, not a function.
 */
export function loadFactory(ref: ModuleRef, field: string, what: 'strategy' | 'facet'): Factory {
  const { module: mod, exports } = loadPluginModule(ref, field, 'strategy and facet modules');
  let f = exports[ref.export];
  // A CommonJS module that is itself the factory.
  if (f === undefined && ref.export === 'default' && typeof mod === 'function') f = mod;
  if (f === undefined) {
    const names = Object.keys(exports).filter((k) => k !== '__esModule');
    throw new ConfigError(
      `${field}.export: ${ref.module} has no export '${ref.export}' (it exports: ${names.join(', ') || 'nothing'}); name the ${what} factory with export: NAME`,
      field,
    );
  }
  if (typeof f !== 'function') {
    throw new ConfigError(`${field}.export: '${ref.export}' of ${ref.module} is ${f === null ? 'null' : `a ${typeof f}`}, expected a ${what} factory (backend) => ${what === 'strategy' ? 'Strategy' : 'Facet'}`, field);
  }
  return f as Factory;
}

function callFactory(factory: Factory, backend: BackendInfo, field: string, label: string): unknown {
  try {
    return factory(backend);
  } catch (err) {
    throw new CompositionError(`${field}: the factory of ${label} failed: ${(err instanceof Error ? err.message : String(err)).split('\n')[0]}`, [], [], field);
  }
}

/** Why `value` is not a {@link Strategy}, or undefined. */
function notAStrategy(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return `expected an object with name and the five facets, got ${value === null ? 'null' : typeof value}`;
  const s = value as Record<string, unknown>;
  if (typeof s.name !== 'string' || s.name === '') return 'it has no name (a non-empty string)';
  if (typeof s.description !== 'string') return `strategy '${s.name}' has no description`;
  for (const kind of FACET_NAMES) {
    const why = notAFacet(s[kind], kind);
    if (why !== undefined) return `strategy '${s.name}', ${kind}: ${why}`;
  }
  return undefined;
}
