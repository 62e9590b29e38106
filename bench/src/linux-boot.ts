/**
 * `linux-boot`: Debian's stock kernel and the busybox initramfs from `@hyvisor/guest-linux`, the
 * same files and the same kernel command line, booted on Hyvisor's emulator (`examples/linux.yaml`)
 * and on QEMU TCG (`-M microvm`, {@link qemuArgs}), alternating who goes first, ≥ 3 rounds;
 * medians of the time from process start to init's `HYVISOR-INIT-OK` line on each side, their
 * ratio, the emulator's instructions to the marker and its MIPS, and the ten kernel functions
 * with the most instructions on the emulator (sampled, see `linux-boot-child.ts`).
 *
 * Symbols: Debian's `System.map` in the kernel package is a placeholder (the real one is in the
 * `-dbg` package, ~1 GB), so the kernel's own symbol table is read once from `/proc/kallsyms`
 * under QEMU with `nokaslr` (the command line both sides use, so addresses agree) and cached beside
 * the guest as `kallsyms-<release>.txt`.
 * @module
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bootUnderQemu, qemuArgs, qemuUnavailable, readGuest, type LinuxGuest } from '@hyvisor/guest-linux';
import { median, positiveInt, type Benchmark } from './benchmark.js';
import type { ChildResult } from './linux-boot-child.js';

const child = path.join(path.dirname(fileURLToPath(import.meta.url)), 'linux-boot-child.js');

/** The command init runs after the marker: nothing that costs time (both sides stop timing at the marker). */
const COMMAND = 'true';
/** Both sides boot with this added, so the kernel sits at its link address and kallsyms names emulator RIPs. */
const EXTRA = 'nokaslr';

/** One kernel function's share of the emulator's instructions. */
export interface TopFunction {
  readonly name: string;
  readonly instructions: number;
  /** Percent of the instructions to the marker. */
  readonly percent: number;
}

/** Result printed by `hyvisor bench linux-boot --json`. */
export interface LinuxBootResult {
  readonly benchmark: 'linux-boot';
  readonly kernel: string;
  readonly cmdline: string;
  readonly rounds: number;
  /** Median seconds from spawning `node … linux-boot-child.js` to the marker on its console. */
  readonly hyvisorS: number;
  /** Median seconds from spawning QEMU to the marker, or null without QEMU. */
  readonly qemuS: number | null;
  /** hyvisorS / qemuS (10 = ten times slower than QEMU TCG), or null without QEMU. */
  readonly ratio: number | null;
  /** Guest instructions the emulator retired to the marker (the same every round: deterministic up to the RTC's time of day). */
  readonly instructions: number;
  /** Instructions per µs of the emulator's run to the marker (median over rounds). */
  readonly mips: number;
  /** Every round's seconds, in round order. */
  readonly hyvisorRunsS: readonly number[];
  readonly qemuRunsS: readonly number[];
  /** The ten kernel functions with the most instructions (first round's profile). */
  readonly topFunctions: readonly TopFunction[];
  readonly note?: string;
}

interface HyvisorRound { readonly ms: number; readonly result: ChildResult }

/** Spawns one Hyvisor round; the time is spawn → the child's `@marker` line. */
function hyvisorRound(cmdline: string, timeoutMs: number): Promise<HyvisorRound> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const p = spawn(process.execPath, [child, cmdline, String(timeoutMs)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '', markerMs: number | undefined;
    p.stdout.setEncoding('utf8');
    p.stdout.on('data', (s: string) => {
      out += s;
      if (markerMs === undefined && out.includes('@marker\n')) markerMs = performance.now() - started;
    });
    p.stderr.setEncoding('utf8');
    p.stderr.on('data', (s: string) => { err += s; });
    p.on('error', reject);
    p.on('close', (code) => {
      const line = /^@result (.*)$/m.exec(out);
      if (!line) { reject(new Error(`emulator round ended (exit code ${code}) without a result:\n${err.trim()}`)); return; }
      const result = JSON.parse(line[1]!) as ChildResult;
      if (markerMs === undefined || result.error !== undefined) {
        reject(new Error(`emulator: no init marker (${result.error ?? 'unknown'}) after ${result.instructions} instructions; console's last lines:\n${result.tail ?? ''}`));
        return;
      }
      resolve({ ms: markerMs, result });
    });
  });
}

/** Kernel text symbols (address-sorted), from the cache or read once under QEMU. */
async function kernelSymbols(guest: LinuxGuest, log: (l: string) => void): Promise<{ addr: number; name: string }[]> {
  const file = path.join(path.dirname(guest.initramfs), `kallsyms-${guest.manifest.kernel.release}.txt`);
  if (!fs.existsSync(file)) {
    if (qemuUnavailable() !== undefined) return [];
    log('reading the kernel\'s symbols from /proc/kallsyms under QEMU (once; cached)…');
    const r = await bootUnderQemu({
      kernel: guest.kernel, initramfs: guest.initramfs, command: "grep -i ' t ' /proc/kallsyms", extraCmdline: EXTRA, timeoutMs: 600_000,
    });
    if (r.exitStatus !== 0 || r.commandOutput === undefined) return [];
    fs.writeFileSync(file, r.commandOutput);
  }
  return parseKallsyms(fs.readFileSync(file, 'utf8'));
}

/**
 * The low 48 bits of a hex address, exact as a number (a full kernel address, 0xffffffff8…, is
 * not: doubles hold 53 bits), and whether it is in the upper (kernel) half.
 */
function low48(hex: string): { addr: number; kernel: boolean } {
  const v = BigInt(`0x${hex}`);
  return { addr: Number(v & 0xffff_ffff_ffffn), kernel: v >= 0xffff_8000_0000_0000n };
}

/** Parses `/proc/kallsyms` text lines (`ffffffff81000000 T startup_64`) into address-sorted entries (addresses as {@link low48}). */
export function parseKallsyms(text: string): { addr: number; name: string }[] {
  const out: { addr: number; name: string }[] = [];
  for (const m of text.matchAll(/^(ffff[0-9a-f]{12}) [tT] (\S+)/gm)) out.push({ addr: low48(m[1]!).addr, name: m[2]! });
  return out.sort((a, b) => a.addr - b.addr);
}

/**
 * Sums sampled instructions by function: a kernel-half RIP goes to the nearest symbol at or below
 * it; lower-half RIPs (the bzImage's decompressor, which runs at physical addresses, and user
 * space) are one row.
 */
export function topFunctions(samples: Record<string, number>, symbols: readonly { addr: number; name: string }[], total: number, n = 10): TopFunction[] {
  const by = new Map<string, number>();
  for (const [hex, count] of Object.entries(samples)) {
    const { addr: rip, kernel } = low48(hex);
    let name: string;
    if (!kernel) name = '(lower half: bzImage decompressor, user space)';
    else {
      let lo = 0, hi = symbols.length - 1, at = -1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        if (symbols[mid]!.addr <= rip) { at = mid; lo = mid + 1; } else hi = mid - 1;
      }
      name = at >= 0 ? symbols[at]!.name : `0x${hex}`;
    }
    by.set(name, (by.get(name) ?? 0) + count);
  }
  return [...by].sort((a, b) => b[1] - a[1]).slice(0, n)
    .map(([name, instructions]) => ({ name, instructions, percent: Math.round((1000 * instructions) / total) / 10 }));
}

export const linuxBoot: Benchmark = {
  async run(options, log) {
    const guest = readGuest();
    if (!guest) throw new Error('the Linux guest is not built: run `pnpm guest:linux` first');
    const rounds = positiveInt('rounds', options.rounds, 3);
    if (rounds < 3) throw new RangeError(`--rounds: at least 3 (medians of fewer say little), got ${rounds}`);
    const timeoutMs = positiveInt('timeout', options.timeout, 1800) * 1000;
    const qemuMissing = options['no-qemu'] ? 'skipped (--no-qemu)' : qemuUnavailable();
    const q = { kernel: guest.kernel, initramfs: guest.initramfs, command: COMMAND, extraCmdline: EXTRA, timeoutMs };
    const args = qemuArgs(q);
    const cmdline = args[args.indexOf('-append') + 1]!;
    const hyvisor: HyvisorRound[] = [];
    const qemu: number[] = [];
    const qemuRound = async (): Promise<number> => {
      const r = await bootUnderQemu(q);
      if (r.initMarkerMs === undefined) throw new Error(`QEMU: no init marker:\n${r.output.split('\n').slice(-12).join('\n')}`);
      return r.initMarkerMs;
    };
    for (let r = 0; r < rounds; r++) {
      // Who goes first alternates, so drift in the host's load hits both sides alike.
      let qm: number | undefined;
      if (qemuMissing === undefined && r % 2 === 1) qm = await qemuRound();
      const h = await hyvisorRound(cmdline, timeoutMs);
      if (qemuMissing === undefined && r % 2 === 0) qm = await qemuRound();
      hyvisor.push(h);
      if (qm !== undefined) qemu.push(qm);
      log(`round ${r + 1}/${rounds}: Hyvisor ${(h.ms / 1000).toFixed(2)} s (${h.result.instructions} instructions, ` +
        `${(h.result.instructions / h.result.runMs / 1000).toFixed(2)} MIPS)${qm === undefined ? '' : `, QEMU TCG ${(qm / 1000).toFixed(2)} s`}`);
    }
    const hyvisorS = round3(median(hyvisor.map((h) => h.ms)) / 1000);
    const qemuS = qemu.length > 0 ? round3(median(qemu) / 1000) : null;
    const first = hyvisor[0]!.result;
    const symbols = await kernelSymbols(guest, log);
    const result: LinuxBootResult = {
      benchmark: 'linux-boot',
      kernel: guest.manifest.kernel.release,
      cmdline,
      rounds,
      hyvisorS,
      qemuS,
      ratio: qemuS === null ? null : round3(hyvisorS / qemuS),
      instructions: first.instructions,
      mips: round3(median(hyvisor.map((h) => h.result.instructions / h.result.runMs / 1000))),
      hyvisorRunsS: hyvisor.map((h) => round3(h.ms / 1000)),
      qemuRunsS: qemu.map((m) => round3(m / 1000)),
      topFunctions: topFunctions(first.samples, symbols, first.instructions),
      ...(qemuMissing !== undefined ? { note: `no QEMU comparison: ${qemuMissing}` } : symbols.length === 0 ? { note: 'no kernel symbols (QEMU could not read /proc/kallsyms): functions are addresses' } : {}),
    };
    return result;
  },
  format(r) {
    const x = r as LinuxBootResult;
    const lines = [
      `linux-boot (${x.kernel}, median of ${x.rounds}): Hyvisor emulator ${x.hyvisorS} s to init's marker` +
        (x.qemuS === null ? '' : `, QEMU TCG ${x.qemuS} s, ratio ${x.ratio}`),
      `emulator: ${x.instructions} instructions to the marker, ${x.mips} MIPS`,
      'kernel functions with the most instructions (emulator, sampled every 10 k instructions):',
      ...x.topFunctions.map((f) => `  ${f.percent.toFixed(1).padStart(5)} %  ${String(f.instructions).padStart(11)}  ${f.name}`),
    ];
    if (x.note) lines.push(x.note);
    return lines.join('\n');
  },
};

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
