/**
 * `snapshot`: how long a snapshot takes to save and to restore, per backend and guest memory size
 * (64 MiB, 1 GiB, 4 GiB). The testbed (`hybrid`: no page-table pool, so any RAM size) runs its
 * `cpu` workload; at the workload's start marker the machine is saved (`snapshotMs`: from the
 * request at the next slice boundary to the files written), then the run is stopped and the
 * snapshot restored into a newly built machine (`restoreMs`: `restoreMachineFromSnapshot` with its
 * checks, from the call until the machine could enter the guest). Medians of `--rounds` rounds.
 * @module
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BACKENDS, formatSize } from '@hyvisor/core';
import { createMachineFromConfig, restoreMachineFromSnapshot, type SnapshotInfo } from '@hyvisor/vmm';
import { testbedConfig, testbedContainer } from '@hyvisor/guest-testbed';
import { median, positiveInt, type Benchmark } from './benchmark.js';

/** One row: a backend and a memory size. */
export interface SnapshotRow {
  readonly backend: string;
  readonly memoryBytes: number;
  /** Median ms to save the machine (memory, vCPU, devices, facets; checksums included). */
  readonly snapshotMs: number;
  /** Median ms to restore it into a new machine (build, checks, memory, state). */
  readonly restoreMs: number;
  /** Bytes the snapshot takes on disk (zero pages are holes). */
  readonly diskBytes: number;
}

export interface SnapshotBenchResult {
  readonly rounds: number;
  readonly rows: readonly SnapshotRow[];
}

const SIZES = ['64MiB', '1GiB', '4GiB'] as const;

function duBytes(dir: string): number {
  let n = 0;
  for (const f of fs.readdirSync(dir)) n += fs.statSync(path.join(dir, f)).blocks * 512;
  return n;
}

async function round(backend: string, memory: string, dir: string): Promise<{ snapshotMs: number; restoreMs: number; diskBytes: number; memoryBytes: number }> {
  const container = testbedContainer();
  const config = testbedConfig({ backend, strategy: 'hybrid', workload: 'cpu', iterations: 1_000_000, memory, diskPath: null, timeLimit: '120s' });
  const composed = createMachineFromConfig(container, config);
  let info: SnapshotInfo | undefined;
  try {
    let requested = 0;
    composed.devices.bench.onMarker = (v) => {
      if (v !== 1 || requested !== 0) return;
      requested = performance.now();
      composed.machine.snapshot(dir).then(
        (i) => { info = { ...i, ms: performance.now() - requested }; composed.machine.stop('benchmark: snapshot taken'); },
        (err: unknown) => { composed.machine.fail(`snapshot failed: ${String(err)}`); },
      );
    };
    const r = await composed.machine.run();
    if (info === undefined) throw new Error(`bench snapshot: no snapshot on ${backend} with ${memory} (${r.reason}: ${r.message})`);
  } finally {
    composed.dispose();
  }
  const t0 = performance.now();
  const restored = restoreMachineFromSnapshot(container, dir);
  const restoreMs = performance.now() - t0;
  restored.dispose();
  return { snapshotMs: info.ms, restoreMs, diskBytes: duBytes(dir), memoryBytes: restored.machine.ramSize };
}

export const snapshot: Benchmark = {
  async run(options, log) {
    const rounds = positiveInt('rounds', options['rounds'], 3);
    const container = testbedContainer();
    const backends: string[] = [];
    for (const name of ['kvm', 'emu']) {
      try {
        container.resolve(BACKENDS).create(name).dispose();
        backends.push(name);
      } catch (err) {
        log(`${name}: not available (${err instanceof Error ? err.message : String(err)})`);
      }
    }
    const rows: SnapshotRow[] = [];
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hyvisor-bench-snapshot-'));
    try {
      for (const backend of backends) {
        for (const memory of SIZES) {
          const rs = [];
          for (let i = 0; i < rounds; i++) {
            rs.push(await round(backend, memory, dir));
            log(`${backend} ${memory} round ${i + 1}: snapshot ${rs.at(-1)!.snapshotMs.toFixed(1)} ms, restore ${rs.at(-1)!.restoreMs.toFixed(1)} ms`);
          }
          rows.push({
            backend, memoryBytes: rs[0]!.memoryBytes,
            snapshotMs: median(rs.map((r) => r.snapshotMs)), restoreMs: median(rs.map((r) => r.restoreMs)), diskBytes: median(rs.map((r) => r.diskBytes)),
          });
        }
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    return { rounds, rows } satisfies SnapshotBenchResult;
  },
  format(result) {
    const r = result as SnapshotBenchResult;
    const lines = [`snapshot and restore of the testbed (hybrid, cpu workload at its start marker), median of ${r.rounds} rounds`, ''];
    lines.push('backend  memory   snapshot ms  restore ms  on disk');
    for (const row of r.rows) {
      lines.push(`${row.backend.padEnd(8)} ${formatSize(row.memoryBytes).padEnd(8)} ${row.snapshotMs.toFixed(1).padStart(11)} ${row.restoreMs.toFixed(1).padStart(11)}  ${formatSize(row.diskBytes)}`);
    }
    return lines.join('\n');
  },
  jsonLines(result) {
    return (result as SnapshotBenchResult).rows.map((row) => ({ backend: row.backend, memoryBytes: row.memoryBytes, snapshotMs: row.snapshotMs, restoreMs: row.restoreMs, diskBytes: row.diskBytes }));
  },
};
