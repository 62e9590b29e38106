/**
 * `startup`: how long `hyvisor run` of the hello guest takes as a whole process, against Node's
 * own floor (`node -e 0`), in alternating rounds; and the VMM's own time from process start to the
 * guest's first instruction at 64 MiB and at 4 GiB of guest memory (it should not grow with
 * memory: RAM is an anonymous mapping the host fills lazily, and only the boot tables are written).
 *
 * The command measured is `node packages/cli/dist/main.js run …`, what the installed `hyvisor`
 * bin runs (`pnpm hyvisor` adds pnpm's own start, which is not Hyvisor's).
 * @module
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, positiveInt, type Benchmark } from './benchmark.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const cli = path.join(repoRoot, 'packages/cli/dist/main.js');
const helloYaml = path.join(repoRoot, 'examples/hello.yaml');
const helloElf = path.join(repoRoot, 'packages/guest-hello/build/hello.elf');

/** The CLI prints the first-instruction time when this is `1` (packages/cli/src/first-instruction.ts). */
export const FIRST_INSTRUCTION_ENV = 'HYVISOR_REPORT_FIRST_INSTRUCTION';

/**
 * Reads the CLI's `hyvisor: first instruction at ms N (cpu ms C)` line from `stderr`: wall and
 * CPU ms since the process started, or undefined.
 */
export function parseFirstInstruction(stderr: string): { ms: number; cpuMs: number } | undefined {
  const m = /^hyvisor: first instruction at ms (\d+(?:\.\d+)?) \(cpu ms (\d+(?:\.\d+)?)\)$/m.exec(stderr);
  return m ? { ms: Number(m[1]), cpuMs: Number(m[2]) } : undefined;
}

/**
 * CPU ms (user + system) used by this process's reaped children, from /proc/self/stat (Linux;
 * undefined elsewhere). The difference around one child's life is that child's CPU time: a figure
 * that load from other processes on the host inflates far less than wall time. Resolution: one
 * clock tick (10 ms), so only medians of it mean something.
 */
function childrenCpuMs(): number | undefined {
  try {
    const stat = fs.readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields after the command name start at field 3 (state); cutime and cstime are fields 16 and 17.
    return (Number(fields[16 - 3]) + Number(fields[17 - 3])) * 10;
  } catch {
    return undefined;
  }
}

/** Fewer rounds than this give medians not worth printing. */
export const MIN_ROUNDS = 10;

/** One round's figures (ms). */
interface Round {
  readonly hyvisorMs: number;
  readonly nodeMs: number;
  readonly firstInstructionMs64MiB: number;
  readonly hyvisor4GiBMs: number;
  readonly firstInstructionMs4GiB: number;
  readonly hyvisorCpuMs: number;
  readonly nodeCpuMs: number;
  readonly firstInstructionCpuMs64MiB: number;
  readonly firstInstructionCpuMs4GiB: number;
}

/** Result printed by `hyvisor bench startup --json`. */
export interface StartupResult {
  readonly benchmark: 'startup';
  readonly backend: string;
  readonly rounds: number;
  /** Median wall time of `hyvisor run examples/hello.yaml` (64 MiB), process start to exit. */
  readonly hyvisorMs: number;
  /** Median wall time of `node -e 0`. */
  readonly nodeMs: number;
  /** hyvisorMs / nodeMs. */
  readonly ratio: number;
  /** Median ms from process start to the first KVM_RUN / emulator step, by guest memory size. */
  readonly firstInstructionMs: { readonly '64MiB': number; readonly '4GiB': number };
  /** Median wall time of the same run with 4 GiB of guest memory. */
  readonly hyvisor4GiBMs: number;
  /**
   * The same in CPU ms (user + system; whole process from /proc on Linux, 10 ms resolution), which
   * host load inflates less than wall time: `hyvisorCpuMs`, `nodeCpuMs`, their `ratio`, and the
   * CPU used by the first instruction at each memory size.
   */
  readonly cpu: {
    readonly hyvisorMs: number;
    readonly nodeMs: number;
    readonly ratio: number;
    readonly firstInstructionMs: { readonly '64MiB': number; readonly '4GiB': number };
  };
  readonly perRound: readonly Round[];
}

/** Runs `args` with `env` added; wall ms from spawn to exit, and stderr. Throws if it fails. */
function timed(args: readonly string[], env: Record<string, string> = {}): Promise<{ ms: number; cpuMs: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const cpu0 = childrenCpuMs() ?? NaN;
    const t0 = performance.now();
    const child = spawn(process.execPath, args, { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d; });
    child.on('error', reject);
    child.on('exit', (code) => {
      const ms = performance.now() - t0;
      const cpuMs = (childrenCpuMs() ?? NaN) - cpu0;
      if (code !== 0) reject(new Error(`${args.join(' ')} exited with ${code}: ${stderr.trim()}`));
      else resolve({ ms, cpuMs, stderr });
    });
  });
}

interface HyvisorRun {
  readonly ms: number;
  readonly cpuMs: number;
  readonly first: { readonly ms: number; readonly cpuMs: number };
}

async function hyvisorRun(config: string, backend: string): Promise<HyvisorRun> {
  const r = await timed([cli, 'run', config, '--backend', backend], { [FIRST_INSTRUCTION_ENV]: '1' });
  const first = parseFirstInstruction(r.stderr);
  if (first === undefined) throw new Error(`hyvisor run ${config} printed no first-instruction time: ${r.stderr.trim()}`);
  return { ms: r.ms, cpuMs: r.cpuMs, first };
}

function kvmUsable(): boolean {
  try {
    fs.accessSync('/dev/kvm', fs.constants.R_OK | fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

export const startup: Benchmark = {
  async run(options, log) {
    const rounds = positiveInt('rounds', options.rounds, MIN_ROUNDS);
    if (rounds < MIN_ROUNDS) throw new RangeError(`--rounds: at least ${MIN_ROUNDS}, got ${rounds}`);
    const backend = typeof options.backend === 'string' ? options.backend : kvmUsable() ? 'kvm' : 'emu';
    if (backend !== 'kvm' && backend !== 'emu') throw new RangeError(`--backend: expected kvm or emu, got "${backend}"`);
    for (const f of [cli, helloElf]) if (!fs.existsSync(f)) throw new Error(`${f} is missing: run \`pnpm build\` first`);
    // The 4 GiB config differs from hello.yaml in its memory line only.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hyvisor-startup-'));
    const big = path.join(dir, 'hello-4g.yaml');
    const text = fs.readFileSync(helloYaml, 'utf8');
    if (!/^memory: .*$/m.test(text)) throw new Error(`${helloYaml} has no memory line to change`);
    fs.writeFileSync(big, text.replace(/^memory: .*$/m, 'memory: 4GiB').replace(/^(\s*kernel:).*$/m, `$1 ${JSON.stringify(helloElf)}`));
    const perRound: Round[] = [];
    try {
      await timed(['-e', '0']); // warm the file cache for both sides
      await hyvisorRun(helloYaml, backend);
      for (let r = 0; r < rounds; r++) {
        // Alternate who goes first so drift in the host's load hits both sides alike.
        const node = () => timed(['-e', '0']);
        let small: HyvisorRun, large: HyvisorRun, nodeRun: { ms: number; cpuMs: number };
        if (r % 2 === 0) {
          small = await hyvisorRun(helloYaml, backend); nodeRun = await node(); large = await hyvisorRun(big, backend);
        } else {
          large = await hyvisorRun(big, backend); nodeRun = await node(); small = await hyvisorRun(helloYaml, backend);
        }
        perRound.push({
          hyvisorMs: round1(small.ms), nodeMs: round1(nodeRun.ms), firstInstructionMs64MiB: round1(small.first.ms),
          hyvisor4GiBMs: round1(large.ms), firstInstructionMs4GiB: round1(large.first.ms),
          hyvisorCpuMs: small.cpuMs, nodeCpuMs: nodeRun.cpuMs,
          firstInstructionCpuMs64MiB: round1(small.first.cpuMs), firstInstructionCpuMs4GiB: round1(large.first.cpuMs),
        });
        log(`round ${r + 1}/${rounds}: hyvisor ${small.ms.toFixed(0)} ms (first instruction ${small.first.ms.toFixed(0)} ms; 4 GiB: ${large.first.ms.toFixed(0)} ms), node -e 0 ${nodeRun.ms.toFixed(0)} ms`);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const med = (k: keyof Round) => median(perRound.map((p) => p[k]));
    const result: StartupResult = {
      benchmark: 'startup', backend, rounds,
      hyvisorMs: round1(med('hyvisorMs')), nodeMs: round1(med('nodeMs')), ratio: Math.round((med('hyvisorMs') / med('nodeMs')) * 100) / 100,
      firstInstructionMs: { '64MiB': round1(med('firstInstructionMs64MiB')), '4GiB': round1(med('firstInstructionMs4GiB')) },
      hyvisor4GiBMs: round1(med('hyvisor4GiBMs')),
      cpu: {
        hyvisorMs: round1(med('hyvisorCpuMs')), nodeMs: round1(med('nodeCpuMs')),
        ratio: Math.round((med('hyvisorCpuMs') / med('nodeCpuMs')) * 100) / 100,
        firstInstructionMs: { '64MiB': round1(med('firstInstructionCpuMs64MiB')), '4GiB': round1(med('firstInstructionCpuMs4GiB')) },
      },
      perRound,
    };
    return result;
  },
  format(r) {
    const x = r as StartupResult;
    return `startup on ${x.backend}: hyvisor run hello ${x.hyvisorMs} ms, node -e 0 ${x.nodeMs} ms, ratio ${x.ratio}; ` +
      `first instruction at ${x.firstInstructionMs['64MiB']} ms (64 MiB) and ${x.firstInstructionMs['4GiB']} ms (4 GiB); ` +
      `CPU ms: hyvisor ${x.cpu.hyvisorMs}, node ${x.cpu.nodeMs}, ratio ${x.cpu.ratio}, first instruction ${x.cpu.firstInstructionMs['64MiB']} / ${x.cpu.firstInstructionMs['4GiB']} (medians of ${x.rounds} rounds)`;
  },
};

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}
