/**
 * What changes when this code runs from the bundle (scripts/bundle-cli.mjs, started by main.ts
 * through bundle-entry.ts).
 * @module
 */

/** The unbundled command's module (dist/cli.js). */
export type UnbundledCli = typeof import('./cli.js');

let unbundled: (() => Promise<UnbundledCli>) | undefined;

/**
 * Set by the bundle's entry: how to load the unbundled command. The launcher supplies it because
 * code compiled as a `vm.Script` cannot `import()` without an experimental Node flag.
 */
export function setUnbundledLoader(load: () => Promise<UnbundledCli>): void {
  unbundled = load;
}

/** In the bundle: a loader of the unbundled command; unbundled: undefined. */
export function unbundledLoader(): (() => Promise<UnbundledCli>) | undefined {
  return unbundled;
}

/**
 * True if `config` (a validated config, or any part of one) names a module of its own anywhere
 * (a strategy, facet or device `module:`). Such a module imports `@hyvisor/*` from node_modules,
 * the unbundled packages; built-ins from the bundle would be other instances of the same classes
 * and tokens. So the bundle hands such a run to the unbundled command (see commands/run.ts).
 */
export function namesModules(config: unknown): boolean {
  if (Array.isArray(config)) return config.some(namesModules);
  if (typeof config !== 'object' || config === null) return false;
  return Object.entries(config).some(([k, v]) => (k === 'module' && typeof v === 'string') || namesModules(v));
}
