/**
 * `@hyvisor/guest-hostile`: tiny hostile guests in assembly (one attack each, built by `make` in
 * this package) and a harness that runs one in Hyvisor on either backend, watching the VMM's
 * resident memory meanwhile. Each guest ends with an exit code: 0 when every refusal came back as
 * docs/pv-abi.md and SECURITY.md say, N when its check N failed. See README.md.
 * @packageDocumentation
 */
import * as path from 'node:path';
import type { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createHyvisorContainer, validateConfig } from '@hyvisor/core';
import { registerKvmBackend } from '@hyvisor/backend-kvm';
import { registerEmuBackend } from '@hyvisor/backend-emu';
import { registerHvmStrategies } from '@hyvisor/strategy-hvm';
import { registerPvStrategy } from '@hyvisor/strategy-pv';
import { registerHybridStrategy } from '@hyvisor/strategy-hybrid';
import { createMachineFromConfig, registerMinimalStrategy, type ComposedMachine, type RunResult } from '@hyvisor/vmm';

/** The hostile guests this package builds (`build/NAME.elf`). */
export const HOSTILE_GUESTS = [
  'uart-flood', 'uart-poll', 'cr3-attack', 'cr3-variants', 'random-hypercalls', 'random-ports', 'mmio-flood',
] as const;
/** One of {@link HOSTILE_GUESTS}. */
export type HostileGuest = (typeof HOSTILE_GUESTS)[number];

/** Path of a hostile guest's ELF. */
export function hostileElf(name: HostileGuest): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../build', `${name}.elf`);
}

/** Options of {@link runHostile}. */
export interface HostileOptions {
  readonly guest: HostileGuest;
  /** `emu` (default) or `kvm`. */
  readonly backend?: string;
  /** Strategy name (default `minimal`). */
  readonly strategy?: string;
  /** The number the guest reads from its command line (a count, a seed, …). */
  readonly arg?: number;
  /** Console sink: `buffer` (default), `none` or `stdout` (then `stdout` is the stream). */
  readonly serial?: 'buffer' | 'none' | 'stdout';
  readonly bufferLimit?: string;
  readonly stdout?: Writable;
  readonly timeLimit?: string;
  readonly memory?: string;
  /** Called with the composed machine before it runs (extra devices, counters). */
  readonly prepare?: (composed: ComposedMachine) => void;
}

/** What a hostile run left behind. */
export interface HostileRun {
  readonly result: RunResult;
  /** Highest resident set size of this process seen during the run (bytes, sampled every 50 ms). */
  readonly peakRss: number;
  /** Counters at the end of the run (telemetry names). */
  readonly counters: Record<string, number>;
  /** Bytes the guest lost writing to a full UART transmitter; bytes the sink discarded. */
  readonly txDropped: number;
  readonly sinkDropped: number;
  /** Bytes the buffer sink kept. */
  readonly consoleBytes: number;
}

/** Runs one hostile guest to its end (exit code, time limit or VMM error) and reports. */
export async function runHostile(o: HostileOptions): Promise<HostileRun> {
  const container = createHyvisorContainer();
  registerKvmBackend(container);
  registerEmuBackend(container);
  registerMinimalStrategy(container);
  registerHvmStrategies(container);
  registerPvStrategy(container);
  registerHybridStrategy(container);
  const config = validateConfig({
    name: `hostile-${o.guest}`, backend: o.backend ?? 'emu', strategy: o.strategy ?? 'minimal', board: 'testbed', memory: o.memory ?? '64MiB',
    guest: { kernel: hostileElf(o.guest), cmdline: o.arg !== undefined ? `n=${o.arg}` : '' },
    serial: { output: o.serial ?? 'buffer', ...(o.bufferLimit ? { bufferLimit: o.bufferLimit } : {}) },
    timeLimit: o.timeLimit ?? '120s',
  });
  const composed = createMachineFromConfig(container, config, o.stdout ? { stdout: o.stdout } : {});
  let peakRss = process.memoryUsage.rss();
  const sampler = setInterval(() => { peakRss = Math.max(peakRss, process.memoryUsage.rss()); }, 50);
  try {
    o.prepare?.(composed);
    const result = await composed.machine.run();
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
    const out = composed.devices.serialOutput as { dropped?: number; length?: number };
    return {
      result, peakRss, counters: composed.machine.telemetry.counters.snapshot(),
      txDropped: composed.devices.uart.txDropped, sinkDropped: out.dropped ?? 0, consoleBytes: out.length ?? 0,
    };
  } finally {
    clearInterval(sampler);
    composed.dispose();
  }
}
