/**
 * `telemetry`: what live telemetry costs the exit path. The same exit-heavy guest loop (the hello
 * guest's `exits=N` port writes) runs with telemetry off (no server, no probes) and on (probes,
 * the telemetry server, and one WebSocket client subscribed to every topic), alternating in one
 * run so drift in the host's load hits both sides alike. Goal: overhead ≤ 3 %. An "on" round
 * starts the guest only once the server has acknowledged the subscription (`subscribed`), and
 * fails unless samples reached the client while the guest ran: an "on" round that streamed
 * nothing would measure telemetry off.
 * @module
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { createHyvisorContainer, validateConfig } from '@hyvisor/core';
import { KvmBackend, registerKvmBackend } from '@hyvisor/backend-kvm';
import { createMachineFromConfig, registerMinimalStrategy, type ComposedMachine } from '@hyvisor/vmm';
import { TelemetryServer, attachStandInProbes } from '@hyvisor/telemetry';
import { median, positiveInt, type Benchmark } from './benchmark.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const guestElf = path.join(repoRoot, 'packages/guest-hello/build/hello.elf');

interface Round {
  readonly offUsPerExit: number;
  readonly onUsPerExit: number;
  /** Hot-path events (exits, port I/O operations) counted per second with telemetry on. */
  readonly eventsPerSec: number;
  /** Messages the client received per second. */
  readonly messagesPerSec: number;
  /** `sample` messages the client received while the guest ran (at least 1, or the round fails). */
  readonly samples: number;
  readonly dropped: number;
}

/** Result printed by `hyvisor bench telemetry --json`. */
export interface TelemetryBenchResult {
  readonly benchmark: 'telemetry';
  readonly host: string;
  readonly exitsPerRound: number;
  readonly rounds: number;
  readonly intervalMs: number;
  readonly offUsPerExit: number;
  readonly onUsPerExit: number;
  /** (on − off) / off, medians, in percent. */
  readonly overheadPct: number;
  readonly eventsPerSec: number;
  readonly messagesPerSec: number;
  readonly dropped: number;
  readonly perRound: readonly Round[];
}

function machine(exits: number): ComposedMachine {
  const container = createHyvisorContainer();
  registerKvmBackend(container);
  registerMinimalStrategy(container);
  const config = validateConfig({
    name: 'bench-telemetry', backend: 'kvm', strategy: 'minimal', board: 'testbed', memory: '64MiB',
    guest: { kernel: guestElf, cmdline: `exits=${exits}` }, serial: { output: 'none' },
  });
  return createMachineFromConfig(container, config);
}

async function runGuest(composed: ComposedMachine, exits: number): Promise<{ usPerExit: number; ms: number }> {
  const t0 = performance.now();
  const result = await composed.machine.run();
  const ms = performance.now() - t0;
  if (result.reason === 'error' || result.reason === 'shutdown') throw new Error(`guest failed: ${result.message}`);
  const b = composed.devices.bench;
  if (b.count !== exits) throw new Error(`guest made ${b.count} bench exits, expected ${exits}`);
  return { usPerExit: b.usPerWrite(), ms };
}

async function offRound(exits: number): Promise<number> {
  const composed = machine(exits);
  try {
    return (await runGuest(composed, exits)).usPerExit;
  } finally {
    composed.dispose();
  }
}

async function onRound(exits: number, intervalMs: number): Promise<Omit<Round, 'offUsPerExit'>> {
  const composed = machine(exits);
  composed.machine.own(attachStandInProbes(composed.machine));
  const server = await TelemetryServer.start(composed.machine, { port: 0, intervalMs, env: {} });
  let messages = 0;
  let samples = 0;
  let dropped = 0;
  const ws = new WebSocket(server.wsUrl);
  try {
    // Subscribe after the server's hello and wait for its `subscribed` reply (with our id), so
    // the guest starts only once samples are being streamed to this client.
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('telemetry: no `subscribed` reply within 10 s')), 10_000);
      ws.once('error', reject);
      ws.on('message', (data) => {
        messages++;
        const m = JSON.parse(String(data)) as { type: string; id?: unknown; dropped?: number; message?: string };
        if (typeof m.dropped === 'number') dropped = m.dropped;
        if (m.type === 'sample') samples++;
        if (m.type === 'hello') ws.send(JSON.stringify({ type: 'subscribe', id: 'bench', topics: ['*'] }));
        else if (m.type === 'subscribed' && m.id === 'bench') { clearTimeout(timer); resolve(); }
        else if (m.type === 'error') { clearTimeout(timer); reject(new Error(`telemetry: ${m.message ?? 'error'}`)); }
      });
    });
    const before = messages;
    const samplesBefore = samples;
    const { usPerExit, ms } = await runGuest(composed, exits);
    const streamed = samples - samplesBefore;
    if (streamed === 0) throw new Error(`telemetry: no sample reached the client during an "on" round (${ms.toFixed(0)} ms, interval ${intervalMs} ms): the round would have measured telemetry off`);
    const c = composed.machine.telemetry.counters;
    const events = Object.entries(c.snapshot()).filter(([k]) => k.startsWith('exits.') || /^io\.(pio|mmio)\.(read|write)\.ops$/.test(k)).reduce((s, [, v]) => s + v, 0);
    return { onUsPerExit: usPerExit, eventsPerSec: events / (ms / 1000), messagesPerSec: (messages - before) / (ms / 1000), samples: streamed, dropped };
  } finally {
    ws.terminate();
    await server.close();
    composed.dispose();
  }
}

export const telemetry: Benchmark = {
  async run(options, log) {
    const rounds = Math.max(4, positiveInt('rounds', options.rounds, 8));
    const exits = positiveInt('exits', options.exits, 200_000);
    const intervalMs = positiveInt('interval', options.interval, 100);
    if (!fs.existsSync(guestElf)) throw new Error(`${guestElf} is missing: run \`pnpm build\` first`);
    const host = new KvmBackend();
    const flavour = host.info.flavour;
    host.dispose();
    await offRound(Math.min(exits, 20_000)); // warm-up: JIT and page cache, not counted
    const perRound: Round[] = [];
    for (let r = 0; r < rounds; r++) {
      let off: number, on: Omit<Round, 'offUsPerExit'>;
      if (r % 2 === 0) { off = await offRound(exits); on = await onRound(exits, intervalMs); }
      else { on = await onRound(exits, intervalMs); off = await offRound(exits); }
      perRound.push({ offUsPerExit: off, ...on });
      log(`round ${r + 1}/${rounds}: off ${off.toFixed(3)} µs/exit, on ${on.onUsPerExit.toFixed(3)} µs/exit, ${Math.round(on.eventsPerSec)} events/s, ${on.messagesPerSec.toFixed(0)} msgs/s, ${on.samples} samples during the run`);
    }
    const off = median(perRound.map((p) => p.offUsPerExit));
    const on = median(perRound.map((p) => p.onUsPerExit));
    const result: TelemetryBenchResult = {
      benchmark: 'telemetry', host: flavour, exitsPerRound: exits, rounds, intervalMs,
      offUsPerExit: round3(off), onUsPerExit: round3(on), overheadPct: round3(((on - off) / off) * 100),
      eventsPerSec: Math.round(median(perRound.map((p) => p.eventsPerSec))),
      messagesPerSec: round3(median(perRound.map((p) => p.messagesPerSec))),
      dropped: perRound.reduce((s, p) => s + p.dropped, 0), perRound,
    };
    return result;
  },
  format(r) {
    const x = r as TelemetryBenchResult;
    return `telemetry on ${x.host}: off ${x.offUsPerExit} µs/exit, on ${x.onUsPerExit} µs/exit, overhead ${x.overheadPct} % (goal ≤ 3 %), ${x.eventsPerSec} events/s, ${x.messagesPerSec} msgs/s to the client (median of ${x.rounds} rounds × ${x.exitsPerRound} exits)`;
  },
};

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
