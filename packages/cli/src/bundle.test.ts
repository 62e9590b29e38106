/**
 * The bundled command (scripts/bundle-cli.mjs, run by main.ts): it is what `hyvisor` runs after a
 * build, it runs only the code a run needs, paths taken from `import.meta.url` still find their
 * files, plugin configs still load their modules, and stack traces still name the TypeScript.
 */
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { Module, SourceMap } from 'node:module';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { namesModules } from './bundled.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const cli = path.join(root, 'packages/cli/dist/main.js');
const bundleFile = path.join(root, 'packages/cli/dist/bundle/hyvisor.cjs');
const backend = fs.existsSync('/dev/kvm') ? 'kvm' : 'emu';

interface Coverage {
  result: { url: string; functions: { functionName: string; ranges: { startOffset: number; count: number }[] }[] }[];
}

/** Runs the CLI with V8 coverage on: the source files (through the bundle's source map) of every function that ran in the bundle, and every script that ran. */
function executedSources(args: string[]): { status: number | null; stderr: string; sources: Set<string>; scripts: string[] } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hyvisor-coverage-'));
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8', timeout: 60_000, env: { ...process.env, NODE_V8_COVERAGE: dir } });
  // The bundle runs as a vm.Script of Module.wrap(source): offsets count from that text.
  const wrapped = Module.wrap(fs.readFileSync(bundleFile, 'utf8'));
  const prefix = Module.wrap('\0').indexOf('\0');
  const lineStarts = [0];
  for (let i = wrapped.indexOf('\n'); i >= 0; i = wrapped.indexOf('\n', i + 1)) lineStarts.push(i + 1);
  const map = new SourceMap(JSON.parse(fs.readFileSync(`${bundleFile}.map`, 'utf8')));
  const sources = new Set<string>();
  const scripts: string[] = [];
  for (const f of fs.readdirSync(dir)) {
    const cov = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as Coverage;
    for (const script of cov.result) {
      if (script.url.startsWith('node:')) continue;
      const ran = script.functions.filter((fn) => fn.ranges[0]!.count > 0);
      if (ran.length > 0) scripts.push(script.url);
      if (script.url !== pathToFileURL(bundleFile).href) continue;
      for (const fn of ran) {
        const offset = fn.ranges[0]!.startOffset;
        let line = lineStarts.length - 1;
        while (lineStarts[line]! > offset) line--;
        const column = offset - lineStarts[line]! - (line === 0 ? prefix : 0);
        const entry = map.findEntry(line, Math.max(0, column)) as { originalSource?: string };
        // As a path from the repository's root with a leading '/', e.g. /packages/vmm/src/machine/machine.ts.
        if (entry.originalSource) sources.add('/' + path.relative(root, path.resolve(path.dirname(bundleFile), entry.originalSource)).split(path.sep).join('/'));
      }
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
  return { status: r.status, stderr: r.stderr, sources, scripts };
}

test('hyvisor runs the bundle, which runs no code of another backend, a strategy package, telemetry, ws, rxjs or bench for hello.yaml', (t) => {
  t.true(fs.existsSync(bundleFile), 'the build made the bundle');
  const r = executedSources(['run', 'examples/hello.yaml', '--backend', backend]);
  t.is(r.status, 0, r.stderr);
  t.true(r.scripts.includes(pathToFileURL(bundleFile).href), 'the bundle ran');
  t.false(r.scripts.some((u) => u.includes('/packages/vmm/dist/')), 'no unbundled module of ours ran');
  const sources = [...r.sources];
  t.true(sources.some((s) => s.startsWith('/packages/vmm/src/')), 'functions map back to TypeScript sources');
  const unwanted = ['/strategy-hvm/', '/strategy-pv/', '/strategy-hybrid/', '/packages/telemetry/', '/bench/', '/ws@', '/rxjs@', backend === 'kvm' ? '/backend-emu/' : '/backend-kvm/'];
  for (const u of unwanted) {
    t.deepEqual(sources.filter((s) => s.includes(u)), [], `no ${u} code ran in the bundle`);
    t.deepEqual(r.scripts.filter((s) => s.includes(u)), [], `no ${u} module was loaded`);
  }
});

test('a config naming plugin modules runs them through the unbundled command', (t) => {
  const r = spawnSync(process.execPath, [cli, 'run', 'examples/plugin/plugin.yaml', '--backend', 'emu', '--iterations', '20'], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /all checks passed/);
});

test('namesModules finds a module anywhere in a config', (t) => {
  t.false(namesModules({ strategy: 'hvm', devices: [{ type: 'uart' }], guest: { kernel: 'x.elf' } }));
  t.true(namesModules({ strategy: { base: 'hvm', interrupt: { module: '/x/counting.js', export: 'f' } } }));
  t.true(namesModules({ devices: [{ name: 'a' }, { module: '/x/dev.js' }] }));
  t.true(namesModules({ strategy: { module: '/x/s.js' } }));
});

test('with HYVISOR_DEBUG the bundle prints stack traces that name the TypeScript sources', (t) => {
  const r = spawnSync(process.execPath, [cli, 'run', path.join(os.tmpdir(), 'hyvisor-no-such-config.yaml')], {
    cwd: root, encoding: 'utf8', timeout: 60_000, env: { ...process.env, HYVISOR_DEBUG: '1' },
  });
  t.is(r.status, 2, r.stderr);
  t.regex(r.stderr, /packages\/core\/src\/config\/load\.ts:\d+:\d+/);
});

test('the dashboard files are served by a bundled run with telemetry', async (t) => {
  const port = await new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
  // The hello guest in echo mode waits for input, so the run lasts until it is interrupted.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hyvisor-bundle-'));
  const config = path.join(dir, 'echo.yaml');
  fs.writeFileSync(config, [
    'backend: emu', 'strategy: minimal', 'board: minimal', 'memory: 16MiB',
    `guest: { kernel: ${JSON.stringify(path.join(root, 'packages/guest-hello/build/hello.elf'))}, cmdline: "echo" }`,
    'serial: { output: stdout, input: stdin }', 'timeLimit: 60s', '',
  ].join('\n'));
  const child = spawn(process.execPath, [cli, 'run', config, '--telemetry', `127.0.0.1:${port}`], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => {
        stderr += d;
        const m = /telemetry at (http:\/\/\S+?)\/ /.exec(stderr);
        if (m) resolve(m[1]!);
      });
      child.on('exit', (code) => reject(new Error(`exited with ${code}: ${stderr}`)));
    });
    for (const file of ['/', '/dashboard.js']) {
      const res = await fetch(url + file);
      t.is(res.status, 200, file);
      t.true((await res.text()).length > 100, `${file} has content`);
    }
  } finally {
    child.kill('SIGINT');
    await new Promise((resolve) => child.once('exit', resolve));
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
