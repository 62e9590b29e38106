/**
 * The bundle's entry point (scripts/bundle-cli.mjs bundles from here). main.ts loads the bundle
 * and calls {@link start}.
 * @module
 */
import { cli } from './cli.js';
import { setUnbundledLoader, type UnbundledCli } from './bundled.js';

/** Runs the command line `argv`; `loadUnbundled` imports the unbundled command (for plugin configs). */
export function start(argv: readonly string[], loadUnbundled: () => Promise<UnbundledCli>): void {
  setUnbundledLoader(loadUnbundled);
  void cli(argv).then((code) => { process.exitCode = code; });
}
