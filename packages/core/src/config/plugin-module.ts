/**
 * Loading a third-party module a config names (`module:` of a strategy, facet or device): one
 * place for the synchronous load and its one-line errors.
 * @module
 */
import { createRequire } from 'node:module';
import type { ModuleRef } from './schema.js';
import { ConfigError } from '../errors.js';

/** A loaded plugin module: the module value itself and its exports as a record. */
export interface LoadedPluginModule {
  readonly module: unknown;
  readonly exports: Readonly<Record<string, unknown>>;
}

/**
 * Loads `ref.module` synchronously (ES modules without top-level await, or CommonJS): config
 * validation and composition are synchronous. `kinds` names what such modules hold, for the
 * message when a module needs top-level await ("device modules"). Throws {@link ConfigError}
 * naming `field` when the module cannot be loaded.
 */
export function loadPluginModule(ref: ModuleRef, field: string, kinds: string): LoadedPluginModule {
  let mod: unknown;
  try {
    mod = createRequire(import.meta.url)(ref.module);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ERR_REQUIRE_ASYNC_MODULE'
      ? `it uses top-level await, and ${kinds} are loaded synchronously`
      : (e.message ?? String(err)).split('\n')[0];
    throw new ConfigError(`${field}.module: cannot load ${ref.module}: ${why}`, field);
  }
  const exports = (typeof mod === 'object' && mod !== null) || typeof mod === 'function' ? (mod as Record<string, unknown>) : {};
  return { module: mod, exports };
}
