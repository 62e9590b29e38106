/**
 * The public surface of every published package, pinned: each entry's (and each documented
 * subpath's) runtime export names must equal `docs/public-surface.json`. A name added or removed
 * by accident fails here; a deliberate change updates the file (`HYVISOR_UPDATE_SURFACE=1 npx ava
 * packages/cli/dist/public-surface.test.js`) and the diff is reviewed with the change. Types are
 * not listed (they have no runtime name); the TSDoc of each entry documents them.
 */
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const snapshotFile = path.join(root, 'docs/public-surface.json');

/** Every entry a user can import, by specifier. Resolved from the CLI package, which depends on all of them. */
const ENTRIES = [
  '@hyvisor/core', '@hyvisor/core/testing',
  '@hyvisor/vmm', '@hyvisor/devices', '@hyvisor/pci', '@hyvisor/virtio',
  '@hyvisor/backend-kvm', '@hyvisor/backend-kvm/testing', '@hyvisor/backend-emu',
  '@hyvisor/strategy-hvm', '@hyvisor/strategy-pv', '@hyvisor/strategy-pv/testing', '@hyvisor/strategy-hybrid',
  '@hyvisor/telemetry', '@hyvisor/gdbstub',
] as const;

async function surface(): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const spec of ENTRIES) out[spec] = Object.keys(await import(spec)).sort();
  return out;
}

test('each package exports exactly the runtime names in docs/public-surface.json', async (t) => {
  const now = await surface();
  if (process.env['HYVISOR_UPDATE_SURFACE'] === '1') {
    fs.writeFileSync(snapshotFile, `${JSON.stringify(now, null, 2)}\n`);
    t.log(`wrote ${path.relative(root, snapshotFile)}`);
  }
  const pinned = JSON.parse(fs.readFileSync(snapshotFile, 'utf8')) as Record<string, string[]>;
  const problems: string[] = [];
  for (const spec of new Set([...Object.keys(pinned), ...Object.keys(now)])) {
    const want = new Set(pinned[spec] ?? []);
    const have = new Set(now[spec] ?? []);
    const added = [...have].filter((n) => !want.has(n));
    const removed = [...want].filter((n) => !have.has(n));
    if (added.length > 0) problems.push(`${spec} exports names not in the snapshot: ${added.join(', ')}`);
    if (removed.length > 0) problems.push(`${spec} no longer exports: ${removed.join(', ')}`);
  }
  t.deepEqual(problems, [], 'review the change, then update docs/public-surface.json (HYVISOR_UPDATE_SURFACE=1)');
});

test('the testing subpaths are not part of the main entries (a VMM never loads test doubles)', async (t) => {
  const now = await surface();
  t.false(now['@hyvisor/core']!.includes('ManualClock'));
  t.false(now['@hyvisor/core']!.includes('RecordingIrqLine'));
  t.false(now['@hyvisor/backend-kvm']!.includes('kvmTest'));
  t.false(now['@hyvisor/strategy-pv']!.some((n) => /^(fakeMachine|RecordingVcpu|FakeClock)$/.test(n)));
});

/** Every `.ts` source under `dir` (no dist, no node_modules). */
function sources(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' || e.name === 'dist' ? [] : sources(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

test('packages import each other only through an entry or a subpath their exports map declares', (t) => {
  const dirs = [...fs.readdirSync(path.join(root, 'packages')).map((p) => path.join(root, 'packages', p, 'src')), path.join(root, 'examples'), path.join(root, 'bench/src')];
  const bad: string[] = [];
  let seen = 0;
  for (const file of dirs.flatMap(sources)) {
    for (const m of fs.readFileSync(file, 'utf8').matchAll(/from '(@hyvisor\/[a-z0-9-]+)(\/[^']+)?'/g)) {
      seen++;
      const [, pkg, sub] = m;
      const manifest = JSON.parse(fs.readFileSync(path.join(root, pkg!.startsWith('@hyvisor/bench') ? 'bench' : `packages/${pkg!.slice('@hyvisor/'.length)}`, 'package.json'), 'utf8')) as { exports?: Record<string, unknown> };
      const key = sub === undefined ? '.' : `.${sub}`;
      // Without an exports map only the entry is public: a deep import would reach into dist/.
      const ok = manifest.exports !== undefined ? key in manifest.exports : key === '.';
      if (!ok) bad.push(`${path.relative(root, file)}: ${pkg}${sub ?? ''}`);
    }
  }
  t.true(seen > 100, `${seen} imports checked`);
  t.deepEqual(bad, []);
});
