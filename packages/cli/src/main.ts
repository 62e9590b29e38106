#!/usr/bin/env node
/**
 * The `hyvisor` bin. Runs the bundle of the command (dist/bundle/hyvisor.cjs, made by
 * scripts/bundle-cli.mjs during the build) when it is there and not older than the build of any
 * package it holds; otherwise the same code unbundled (entry.js), so a bare `tsc -b` never leaves
 * the command running stale code. `HYVISOR_BUNDLE=0` forces the unbundled code.
 *
 * The bundle is compiled as a `vm.Script` with the V8 code cache the build trained on a run of
 * hello.yaml: V8 then skips parsing and compiling what a run uses, which was most of Hyvisor's
 * start-up (~70 ms of CPU on this host). A cache V8 rejects (another Node, other V8 flags) only
 * costs that time back. With `HYVISOR_DEBUG` set, the bundle is loaded with `require` and source
 * maps on instead, so stack traces name the TypeScript sources.
 * @module
 */
import * as fs from 'node:fs';
import { Module, createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as vm from 'node:vm';

interface Bundle {
  readonly file: string;
  /** The code cache, if present and written after the bundle. */
  readonly cacheFile?: string;
}

/** The bundle if it is present and current (manifest.json, written by the bundling), else undefined. */
function currentBundle(): Bundle | undefined {
  if (process.env.HYVISOR_BUNDLE === '0') return undefined;
  // Plain path strings: a `URL` per file cost ~10 ms of CPU here.
  const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'bundle');
  try {
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { bundle: string; cache: string; stamps: string[] };
    const file = path.join(dir, manifest.bundle);
    const built = fs.statSync(file).mtimeMs;
    for (const stamp of manifest.stamps) if (fs.statSync(path.join(dir, stamp)).mtimeMs > built) return undefined;
    const cacheFile = path.join(dir, manifest.cache);
    const cached = fs.statSync(cacheFile, { throwIfNoEntry: false });
    return cached && cached.mtimeMs >= built ? { file, cacheFile } : { file };
  } catch {
    return undefined;
  }
}

/** Loads the CommonJS bundle as Node's loader would, but compiled with the code cache. */
function loadCached(bundle: Bundle): BundleExports {
  const source = fs.readFileSync(bundle.file, 'utf8');
  const cachedData = bundle.cacheFile !== undefined ? fs.readFileSync(bundle.cacheFile) : undefined;
  const script = new vm.Script(Module.wrap(source), {
    filename: bundle.file,
    ...(cachedData ? { cachedData } : {}),
  });
  const out = process.env.HYVISOR_CODE_CACHE_OUT;
  // The build's training run: the cache written at exit holds every function the run compiled.
  if (out) process.on('exit', () => fs.writeFileSync(out, script.createCachedData()));
  const mod = new Module(bundle.file);
  mod.filename = bundle.file;
  const wrapper = script.runInThisContext() as (exports: unknown, require: NodeJS.Require, module: Module, filename: string, dirname: string) => void;
  wrapper.call(mod.exports, mod.exports, createRequire(bundle.file), mod, bundle.file, path.dirname(bundle.file));
  return mod.exports as BundleExports;
}

/** What the bundle exports (bundle-entry.ts). */
type BundleExports = typeof import('./bundle-entry.js');

const bundle = currentBundle();
if (!bundle) {
  if (process.env.HYVISOR_DEBUG) process.setSourceMapsEnabled(true);
  await import('./entry.js');
} else {
  let exports: BundleExports;
  if (process.env.HYVISOR_DEBUG) {
    process.setSourceMapsEnabled(true);
    exports = createRequire(import.meta.url)(bundle.file) as BundleExports;
  } else {
    exports = loadCached(bundle);
  }
  // The bundle cannot import() the unbundled command itself (see bundled.ts): it gets this.
  exports.start(process.argv.slice(2), () => import('./cli.js'));
}
