/**
 * `hyvisor run --snapshot-on-signal DIR` and `hyvisor run --restore DIR` (docs/snapshots.md):
 * a snapshot taken on SIGUSR1 mid-run continues in a new process with the rest of the output;
 * broken or misused snapshots are one line and exit code 2.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const cli = path.join(root, 'packages/cli/dist/main.js');

function hyvisor(...args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8', timeout: 90_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function tempDir(t: ExecutionContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hyvisor-cli-snap-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function oneLineError(t: ExecutionContext, r: ReturnType<typeof hyvisor>, pattern: RegExp): void {
  t.is(r.code, 2, r.stderr);
  const lines = r.stderr.trim().split('\n');
  t.is(lines.length, 1, `one line, got: ${r.stderr}`);
  t.regex(lines[0]!, pattern);
}

test('run --restore refuses a directory without a snapshot, a CONFIG beside it and flags that would change the guest', (t) => {
  const dir = tempDir(t);
  oneLineError(t, hyvisor('run', '--restore', dir), /no state\.json/);
  oneLineError(t, hyvisor('run', '--restore', dir, 'examples/testbed.yaml'), /give no CONFIG/);
  oneLineError(t, hyvisor('run', '--restore', dir, '--workload', 'cpu'), /--workload cannot change a restored guest/);
  oneLineError(t, hyvisor('run'), /run: expected CONFIG, a config file \(or --restore DIR/);
  fs.writeFileSync(path.join(dir, 'state.json'), '{"format":"hyvisor-snapshot","version":9,"bodyBytes":2,"sha256":"x"}\n{}');
  oneLineError(t, hyvisor('run', '--restore', dir), /format version 9 is not supported/);
});

test('SIGUSR1 saves a snapshot of the running emulator guest; --restore finishes it in a new process with the rest of its output', async (t) => {
  const dir = path.join(tempDir(t), 'snap');
  const disk = path.join(path.dirname(dir), 'disk.img');
  const config = path.join(path.dirname(dir), 'tb.yaml');
  fs.writeFileSync(config, [
    'backend: emu', 'strategy: pv', 'board: testbed', 'memory: 64MiB',
    `guest: { kernel: ${path.join(root, 'packages/guest-testbed/build/testbed.elf')}, workload: cpu, iterations: 400 }`,
    `storage: { path: ${disk}, size: 16MiB }`, 'serial: { output: stdout }', 'timeLimit: 90s', '',
  ].join('\n'));
  const child = spawn(process.execPath, [cli, 'run', config, '--snapshot-on-signal', dir], { cwd: root });
  let out = '', err = '', signalled = false;
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    // The ring-3 loop has started: the workload is under way.
    if (!signalled && out.includes('ring-3 process started')) { signalled = true; child.kill('SIGUSR1'); }
  });
  child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  t.is(code, 0, err);
  const saved = /snapshot saved to .* at (\d+) instructions/.exec(err);
  t.truthy(saved, err);
  const total = Number(/emu: (\d+) instructions/.exec(err)?.[1]);

  const r = hyvisor('run', '--restore', dir);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, new RegExp(`restored ${dir.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} \\(taken at ${saved![1]} instructions\\) on emu`));
  const after = Number(/emu: (\d+) instructions/.exec(r.stderr)?.[1]);
  t.is(Number(saved![1]) + after, total, 'instructions before the snapshot + after the restore = the whole run');
  t.true(r.stdout.includes('"check":"ok"'), r.stdout);
  t.true(out.endsWith(r.stdout), 'the restored run prints the rest of the output');
});
