#!/usr/bin/env node
// Bundles the `hyvisor` command into packages/cli/dist/bundle/hyvisor.cjs and trains its V8 code
// cache (run by scripts/build.mjs after tsc and the guests). packages/cli/src/main.ts loads it and
// calls its start() (packages/cli/src/bundle-entry.ts).
//
// Why: a run of hello.yaml loaded ~77 ESM files of our own plus ~110 CommonJS files of yaml and
// tsyringe, ~1 ms of CPU each, then compiled every function it ran. One file loaded through
// `vm.Script` with a code cache skips both: the cache holds the bytecode of every function a run
// of hello.yaml compiled, so V8 neither parses nor compiles them again (Node 20 offers a code
// cache for scripts only, not for ES modules, hence CommonJS output).
//
// What goes in: tsc's JavaScript (dist/), not the TypeScript sources, so the `design:paramtypes`
// metadata tsyringe reads is already emitted (esbuild alone emits none). Dynamic imports of
// bundled code become lazy initializers: the other backend, the strategy packages, telemetry with
// ws and bench are in the file but run only when imported, and are parsed only then. Input source
// maps are chained, so stack traces (HYVISOR_DEBUG=1) name the TypeScript sources.
//
// Two rewrites, both checked (the build fails if a pattern is gone, rather than silently shipping
// a slower or broken bundle):
// - `import.meta.url` in each of our modules becomes that module's own dist URL, computed
//   relative to the bundle at run time, so paths taken from it (the KVM addon, the dashboard
//   assets, bench's files, createRequire of rxjs and of config-named plugin modules) resolve
//   exactly as unbundled, and the repository can move after the build.
// - `createRequire(import.meta.url)('yaml' | 'tsyringe' | 'reflect-metadata')` becomes `require(…)`
//   so esbuild bundles those CommonJS packages too; rxjs stays a run-time require (loaded only
//   with telemetry, and large).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

// A checkout rebased onto this change before `pnpm install` has no esbuild yet: say what to run.
const { build } = await import('esbuild').catch((err) => {
  throw new Error(`bundle-cli: esbuild is not installed (${err.message.split('\n')[0]}); run \`pnpm install --frozen-lockfile\``);
});

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cliDist = path.join(root, 'packages/cli/dist');
const outdir = path.join(cliDist, 'bundle');
const outfile = path.join(outdir, 'hyvisor.cjs');
const cacheFile = path.join(outdir, 'hyvisor.cjs.cache');
const entry = path.join(cliDist, 'bundle-entry.js');

/** CommonJS packages loaded with createRequire that the bundle includes. */
const BUNDLED_REQUIRES = ['yaml', 'tsyringe', 'reflect-metadata'];
const requireCall = new RegExp(String.raw`createRequire\(import\.meta\.url\)\((['"])(${BUNDLED_REQUIRES.join('|')})\1\)`, 'g');

const seenRequires = new Set();
let metaUrlRewrites = 0;

/** Our own compiled modules: any dist/ folder of this repository outside node_modules. */
const isOwn = (file) => file.startsWith(root + path.sep) && !file.includes(`${path.sep}node_modules${path.sep}`) && file.includes(`${path.sep}dist${path.sep}`);

const rewrite = {
  name: 'hyvisor-own-modules',
  setup(b) {
    b.onLoad({ filter: /\.js$/ }, async (args) => {
      if (!isOwn(args.path)) return undefined;
      let text = await fs.promises.readFile(args.path, 'utf8');
      text = text.replace(requireCall, (_m, _q, name) => {
        seenRequires.add(name);
        return `require(${JSON.stringify(name)})`;
      });
      const rel = path.relative(outdir, args.path).split(path.sep).join('/');
      text = text.replace(/\bimport\.meta\.url\b/g, () => {
        metaUrlRewrites++;
        return `new URL(${JSON.stringify(rel)}, __hyvisorBundleUrl).href`;
      });
      return { contents: text, loader: 'js', resolveDir: path.dirname(args.path) };
    });
  },
};

fs.rmSync(outdir, { recursive: true, force: true });
const result = await build({
  entryPoints: [entry],
  outfile,
  absWorkingDir: root,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  // Class and function names stay what the code says (messages, registries and stack traces use them).
  keepNames: true,
  minifyWhitespace: true,
  minifySyntax: true,
  metafile: true,
  logLevel: 'warning',
  // An import.meta left in a CommonJS bundle would be `{}`: make it a build error.
  logOverride: { 'empty-import-meta': 'error' },
  banner: { js: "const __hyvisorBundleUrl = require('node:url').pathToFileURL(__filename).href;" },
  plugins: [rewrite],
});

const missing = BUNDLED_REQUIRES.filter((n) => !seenRequires.has(n));
if (missing.length > 0) throw new Error(`bundle-cli: no createRequire(import.meta.url)('${missing.join("' | '")}') found to bundle; update BUNDLED_REQUIRES`);
if (metaUrlRewrites === 0) throw new Error('bundle-cli: no import.meta.url rewritten; the own-module filter matched nothing');

// What the launcher (packages/cli/src/main.ts) checks before it runs the bundle: the tsc build
// info of every package the bundle holds code of. `tsc -b` rewrites it whenever it rebuilds that
// package, so a bundle older than one of them may hold stale code (after a bare `tsc -b`). A
// dozen stat calls cost ~0.1 ms; checking every input file cost ~3 ms.
const stamps = new Set();
for (const input of Object.keys(result.metafile.inputs)) {
  const file = path.resolve(root, input);
  if (!isOwn(file)) continue;
  const pkg = file.slice(0, file.lastIndexOf(`${path.sep}dist${path.sep}`));
  const info = path.join(pkg, 'tsconfig.tsbuildinfo');
  if (!fs.existsSync(info)) throw new Error(`bundle-cli: ${info} is missing (every bundled package is built with tsc -b)`);
  stamps.add(path.relative(outdir, info).split(path.sep).join('/'));
}
fs.writeFileSync(path.join(outdir, 'manifest.json'), JSON.stringify({ bundle: path.basename(outfile), cache: path.basename(cacheFile), stamps: [...stamps].sort() }) + '\n');

// Train the code cache: one run of the hello guest on the backend this host offers, through the
// launcher, which writes the cache at exit (HYVISOR_CODE_CACHE_OUT). Without it the bundle still
// runs, only slower; say so rather than fail the build (a host without a usable backend).
const kvm = (() => {
  try {
    fs.accessSync('/dev/kvm', fs.constants.R_OK | fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
})();
try {
  execFileSync(process.execPath, [path.join(cliDist, 'main.js'), 'run', path.join(root, 'examples/hello.yaml'), '--backend', kvm ? 'kvm' : 'emu'], {
    cwd: root, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, HYVISOR_CODE_CACHE_OUT: cacheFile, HYVISOR_DEBUG: '' },
  });
} catch (err) {
  process.stderr.write(`bundle-cli: no code cache (the training run of examples/hello.yaml failed: ${String(err.stderr ?? err.message).trim().split('\n')[0]}); hyvisor starts slower\n`);
}
