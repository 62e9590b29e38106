/**
 * The CLI's help and parser come from one table: every command's help exits 0 and names each of
 * its options, lists come from the registries, mistakes get one line with a likely fix.
 */
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BENCHMARKS } from '@hyvisor/bench';
import { BACKENDS, FACETS, FACET_NAMES, STRATEGIES, createHyvisorContainer } from '@hyvisor/core';
import { COMMANDS } from './commands.js';
import { BUILTIN_PLUGINS, containerFor, pluginsFor } from './catalog.js';
import { FIRST_INSTRUCTION_ENV, reportFirstInstruction } from './first-instruction.js';
import { editDistance, optionLabel, optionsOf, suggest, type CommandSpec } from './spec.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const cli = path.join(root, 'packages/cli/dist/main.js');

function hyvisor(...args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Every command and subcommand spec. */
async function allSpecs(): Promise<CommandSpec[]> {
  const out: CommandSpec[] = [];
  for (const c of COMMANDS) {
    const spec = await c.spec();
    out.push(spec, ...(spec.subcommands?.() ?? []));
  }
  return out;
}

test('every command and subcommand: --help and -h exit 0 and name each option', async (t) => {
  const specs = await allSpecs();
  t.true(specs.length >= 4 + Object.keys(BENCHMARKS).length);
  for (const spec of specs) {
    for (const flag of ['--help', '-h']) {
      const r = hyvisor(...spec.path.split(' '), flag);
      t.is(r.code, 0, `${spec.path} ${flag}: ${r.stderr}`);
      t.is(r.stderr, '', `${spec.path} ${flag}`);
      t.true(r.stdout.startsWith(`usage: hyvisor ${spec.path}`), `${spec.path} ${flag}: ${r.stdout.slice(0, 80)}`);
      for (const [name, o] of Object.entries(optionsOf(spec))) {
        t.true(r.stdout.includes(optionLabel(name, o)), `${spec.path} --help names ${optionLabel(name, o)}`);
      }
    }
  }
});

test('help works with other arguments around it, and `help COMMAND` equals `COMMAND --help`', (t) => {
  const direct = hyvisor('bench', 'paper', '--help');
  t.is(hyvisor('bench', 'paper', '--rounds', '2', '--help').stdout, direct.stdout);
  t.is(hyvisor('help', 'bench', 'paper').stdout, direct.stdout);
  t.is(hyvisor('help', 'run').stdout, hyvisor('run', 'examples/hello.yaml', '-h').stdout);
  const top = hyvisor('--help');
  t.is(top.code, 0);
  t.is(hyvisor('help').stdout, top.stdout);
  const bare = hyvisor();
  t.is(bare.code, 2, 'no command is a usage error');
  t.is(bare.stderr, top.stdout, 'and prints the overview to stderr');
});

test('the benchmark list in help equals the registered benchmarks', (t) => {
  const names = Object.keys(BENCHMARKS);
  const top = hyvisor('--help').stdout;
  const listed = [...top.matchAll(/^ {4}bench (\S+) \[options\]/gm)].map((m) => m[1]);
  t.deepEqual(listed, names);
  const bench = hyvisor('bench', '--help').stdout;
  const section = bench.slice(bench.indexOf('\nNAME:\n'));
  t.deepEqual([...section.matchAll(/^ {2}(\S+) /gm)].map((m) => m[1]), names);
});

test('run --help lists the registered backends, strategies and facets', async (t) => {
  const help = hyvisor('run', '--help').stdout;
  const c = await containerFor();
  const listed = (title: string) => {
    const start = help.indexOf(`\n${title}`);
    t.not(start, -1, title);
    const body = help.slice(help.indexOf('\n', start + 1) + 1);
    // Row starts only (wrapped descriptions continue on deeper-indented lines).
    return body.slice(0, body.search(/\n\n|$/)).split('\n').filter((l) => /^ {2}\S/.test(l));
  };
  t.deepEqual(listed('backends:').map((l) => l.trim().split(/\s+/)[0]), c.resolve(BACKENDS).list().map((b) => b.name));
  t.deepEqual(listed('strategies:').map((l) => l.trim().split(/\s+/)[0]), c.resolve(STRATEGIES).list().map((s) => s.name));
  const facets = c.resolve(FACETS);
  const facetLines = listed('facets');
  for (const kind of FACET_NAMES) {
    const line = facetLines.find((l) => l.trim().startsWith(`${kind} `));
    t.deepEqual(line?.trim().split(/\s+/).slice(1).join(' ').split(', '), facets.names(kind), kind);
  }
});

test('each built-in plugin registers exactly the names the catalog says', async (t) => {
  for (const p of BUILTIN_PLUGINS) {
    const c = createHyvisorContainer();
    await p.register(c);
    t.deepEqual(c.resolve(BACKENDS).list().map((b) => b.name), [...p.backends].sort(), p.package);
    t.deepEqual(c.resolve(STRATEGIES).list().map((s) => s.name), [...p.strategies].sort(), p.package);
  }
});

test('a run loads only the plugins its backend and strategy name; anything else loads all', (t) => {
  const pkgs = (n: Parameters<typeof pluginsFor>[0]) => [...pluginsFor(n)].map((p) => p.package).sort();
  t.deepEqual(pkgs({ backend: 'kvm', strategy: 'minimal' }), ['@hyvisor/backend-kvm', '@hyvisor/vmm']);
  t.deepEqual(pkgs({ backend: 'emu', strategy: 'pv' }), ['@hyvisor/backend-emu', '@hyvisor/strategy-pv']);
  const all = BUILTIN_PLUGINS.map((p) => p.package).sort();
  t.deepEqual(pkgs({}), all);
  t.deepEqual(pkgs({ backend: 'xen', strategy: 'pvh' }), all, 'unknown names: every registry is full for the error message');
  const facetOverride = pkgs({ backend: 'kvm', strategy: { base: 'hybrid', facets: { timer: 'emulated-pit' } } as never });
  t.deepEqual(facetOverride, all.filter((p) => p !== '@hyvisor/backend-emu'));
});

test('unknown options, commands and benchmarks suggest the close one', (t) => {
  const one = (args: string[], re: RegExp) => {
    const r = hyvisor(...args);
    t.is(r.code, 2, r.stderr);
    t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    t.regex(r.stderr, re);
  };
  one(['run', 'examples/hello.yaml', '--strategi', 'pv'], /^hyvisor: run: unknown option '--strategi'; did you mean --strategy\?$/m);
  one(['runn', 'examples/hello.yaml'], /^hyvisor: unknown command 'runn'; did you mean run\?$/m);
  one(['bench', 'exitcost'], /^hyvisor: bench: unknown benchmark 'exitcost'; did you mean exit-cost\?$/m);
  one(['bench', 'paper', '--round', '5'], /^hyvisor: bench paper: unknown option '--round'; did you mean --rounds\?$/m);
  one(['run', 'examples/hello.yaml', '--backend'], /^hyvisor: run: option '--backend' needs a value \(NAME\)$/m);
  one(['info', '--json=yes'], /^hyvisor: info: option '--json' takes no value$/m);
  one(['info', 'extra'], /^hyvisor: info: unexpected argument 'extra'/m);
  one(['run'], /^hyvisor: run: expected CONFIG/m);
  one(['bench'], /^hyvisor: bench: expected a benchmark name \(exit-cost, /m);
});

test('did-you-mean: edit distance with neighbour swaps, and only close words', (t) => {
  t.is(editDistance('kitten', 'sitting'), 3);
  t.is(editDistance('strategy', 'stratgey'), 1);
  t.is(suggest('--time-limt', ['--time-limit', '--telemetry']), '--time-limit');
  t.is(suggest('xyz', ['run', 'info', 'bench']), undefined);
});

test('a telemetry port that is taken is a runtime error: one line, exit 1', async (t) => {
  const blocker = net.createServer();
  await new Promise<void>((res) => blocker.listen(0, '127.0.0.1', res));
  const port = (blocker.address() as net.AddressInfo).port;
  try {
    // Spawned asynchronously: the blocking socket lives on this process's event loop.
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [cli, 'run', 'examples/hello.yaml', '--backend', 'emu', '--telemetry', String(port)], { cwd: root });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => { stderr += d; });
      child.on('exit', (code: number | null) => resolve({ code, stderr }));
    });
    t.is(r.code, 1, r.stderr);
    t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    t.regex(r.stderr, new RegExp(`^hyvisor: telemetry: cannot listen on 127\\.0\\.0\\.1:${port}: EADDRINUSE$`, 'm'));
  } finally {
    blocker.close();
  }
});

test("the README's command table uses only commands, benchmarks and options the CLI defines", async (t) => {
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const specs = await allSpecs();
  const rows = [...readme.matchAll(/^\| `pnpm hyvisor ([^`]+)` \|/gm)].map((m) => m[1]!.replace(/\\\|/g, '|'));
  t.true(rows.length > 5);
  for (const row of rows) {
    const words = row.split(/\s+/);
    const spec = specs.find((s) => s.path === words.slice(0, 2).join(' ')) ?? specs.find((s) => s.path === words[0]);
    t.truthy(spec, `README row \`${row}\` names a command`);
    if (!spec) continue;
    for (const m of row.matchAll(/--([\w-]+)/g)) t.true(m[1]! in optionsOf(spec), `README \`${row}\`: ${spec.path} has --${m[1]}`);
  }
  for (const name of Object.keys(BENCHMARKS)) t.true(rows.some((r) => r.startsWith(`bench ${name}`)), `README has a row for bench ${name}`);
});

test('an unbundled run of hello.yaml loads no other backend, strategy package, telemetry server, ws, rxjs or bench code', (t) => {
  // A module-loader hook records every module the ESM loader loads (CommonJS ones through import included).
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hyvisor-loads-'));
  const log = path.join(dir, 'loaded.txt');
  fs.writeFileSync(path.join(dir, 'hooks.mjs'), `import fs from 'node:fs';\nexport async function load(url, context, next) { fs.appendFileSync(${JSON.stringify(log)}, url + '\\n'); return next(url, context); }\n`);
  fs.writeFileSync(path.join(dir, 'register.mjs'), `import { register } from 'node:module';\nregister('./hooks.mjs', import.meta.url);\n`);
  // Run it for real (on the emulator where KVM is missing).
  const backend = fs.existsSync('/dev/kvm') ? 'kvm' : 'emu';
  // HYVISOR_BUNDLE=0: the modules as tsc wrote them (bundle.test.ts checks the bundle the same way).
  const r = spawnSync(process.execPath, ['--import', path.join(dir, 'register.mjs'), cli, 'run', 'examples/hello.yaml', '--backend', backend], {
    cwd: root, encoding: 'utf8', timeout: 60_000, env: { ...process.env, HYVISOR_BUNDLE: '0' },
  });
  t.is(r.status, 0, r.stderr);
  const loaded = fs.readFileSync(log, 'utf8').split('\n').filter(Boolean);
  t.true(loaded.some((u) => u.includes('/packages/vmm/')), 'the hook saw the run');
  const unwanted = ['/strategy-hvm/', '/strategy-pv/', '/strategy-hybrid/', '/packages/telemetry/', '/bench/', '/ws@', '/rxjs@', backend === 'kvm' ? '/backend-emu/' : '/backend-kvm/'];
  for (const u of unwanted) t.deepEqual(loaded.filter((x) => x.includes(u)), [], `no ${u} module`);
});

test('the first-instruction report is what bench startup reads, and the vCPU gets its own run back', async (t) => {
  const { parseFirstInstruction, FIRST_INSTRUCTION_ENV: benchEnv } = await import('@hyvisor/bench/dist/startup.js');
  t.is(benchEnv, FIRST_INSTRUCTION_ENV);
  class FakeVcpu { runs = 0; run() { this.runs++; return 'exit'; } }
  const vcpu = new FakeVcpu();
  let out = '';
  reportFirstInstruction(vcpu as never, { write: (s: string) => { out += s; return true; } } as never);
  t.is(vcpu.run(), 'exit');
  t.is(vcpu.run(), 'exit');
  t.is(vcpu.runs, 2);
  t.false(Object.prototype.hasOwnProperty.call(vcpu, 'run'), 'the wrapper is gone after the first run');
  t.is(out.split('\n').filter(Boolean).length, 1, 'one report');
  const parsed = parseFirstInstruction(out);
  t.truthy(parsed);
  t.true(parsed!.ms > 0 && parsed!.cpuMs > 0);
});

test('hyvisor run with the report on prints the first-instruction line', (t) => {
  const r = spawnSync(process.execPath, [cli, 'run', 'examples/hello.yaml', '--backend', 'emu'], {
    cwd: root, encoding: 'utf8', timeout: 60_000, env: { ...process.env, [FIRST_INSTRUCTION_ENV]: '1' },
  });
  t.is(r.status, 0, r.stderr);
  t.regex(r.stderr, /^hyvisor: first instruction at ms \d+\.\d{3} \(cpu ms \d+\.\d{3}\)$/m);
});
