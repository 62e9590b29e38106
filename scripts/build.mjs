#!/usr/bin/env node
// Builds everything from source: TypeScript (tsc -b), the guests (gcc via make), then the bundled
// `hyvisor` command (esbuild over tsc's output, scripts/bundle-cli.mjs).
// The native KVM addon is built by its package's install script (node-gyp with local headers).
// Run by `pnpm install` (postinstall), `pnpm build` and `pnpm test`.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const run = (cmd, args, cwd = root) => execFileSync(cmd, args, { cwd, stdio: 'inherit' });

run(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-b']);
for (const dir of fs.readdirSync(path.join(root, 'packages'))) {
  const pkgDir = path.join(root, 'packages', dir);
  if (fs.existsSync(path.join(pkgDir, 'Makefile'))) run('make', ['-s', '-C', pkgDir]);
}
// Last: it trains its code cache on a run of the hello guest.
run(process.execPath, [path.join(root, 'scripts/bundle-cli.mjs')]);
