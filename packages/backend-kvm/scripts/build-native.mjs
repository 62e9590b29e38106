#!/usr/bin/env node
// Builds the KVM addon (native/kvm.c) with node-gyp against the headers of the Node that runs
// this script: …/bin/node → …/include/node, passed as --nodedir so node-gyp never tries to
// download headers (there is no network where Hyvisor is built). Run as the package's
// `install` script, which also stops pnpm from running its own node-gyp without --nodedir.
// Hosts without Linux KVM headers (macOS, Windows) skip the build: the backend then reports
// itself unavailable and the emulator backend is used instead.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const pkgDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

if (process.platform !== 'linux' || !existsSync('/usr/include/linux/kvm.h')) {
  console.log('backend-kvm: no <linux/kvm.h> on this host, native addon not built');
  process.exit(0);
}

// prefix/bin/node → prefix; node-gyp looks for prefix/include/node/node_api.h.
const nodedir = path.resolve(path.dirname(process.execPath), '..');
if (!existsSync(path.join(nodedir, 'include', 'node', 'node_api.h'))) {
  console.error(`backend-kvm: Node headers not found in ${nodedir}/include/node (install the nodejs dev headers)`);
  process.exit(1);
}

const require = createRequire(import.meta.url);
const nodeGyp = require.resolve('node-gyp/bin/node-gyp.js');
execFileSync(process.execPath, [nodeGyp, 'rebuild', `--nodedir=${nodedir}`, '--loglevel=warn'], {
  cwd: pkgDir,
  stdio: 'inherit',
  env: { ...process.env, npm_config_nodedir: nodedir },
});
