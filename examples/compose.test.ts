/** examples/compose.ts, run as a user would, after `pnpm build`. */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { kvmTest } from '@hyvisor/backend-kvm/testing';

const dist = path.dirname(fileURLToPath(import.meta.url));

kvmTest('compose.ts builds the hello VM in code and runs it', (t) => {
  const r = spawnSync(process.execPath, [path.join(dist, 'compose.js'), 'exit=4'], { encoding: 'utf8', timeout: 60_000 });
  t.is(r.status, 4, r.stderr);
  t.is(r.stdout, 'Hello from the Hyvisor guest! RAM: 64 MiB, cmdline: "exit=4"\n');
  t.regex(r.stderr, /guest ended: exit-code, exit code 4, \d+ port exits/);
});
