/**
 * One Hyvisor round of `bench linux-boot`, as its own process (so the round is timed from process
 * start, as QEMU's is): boots `examples/linux.yaml` on the emulator with the command line given in
 * argv[2], prints `@marker` the moment init's marker line reaches the console, stops the machine
 * there and prints `@result {json}` ({@link ChildResult}).
 *
 * The profile: every {@link SAMPLE_EVERY} ns of virtual time (one instruction is one ns) a clock
 * event stops the vCPU at that exact instruction count and the instructions retired since the last
 * sample are attributed to the RIP it stopped at. Halted time retires nothing, so it counts nothing.
 * @module
 */
import 'reflect-metadata';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createHyvisorContainer, loadConfigFile } from '@hyvisor/core';
import { registerEmuBackend } from '@hyvisor/backend-emu';
import { registerBuiltinDevices } from '@hyvisor/devices';
import { registerHvmStrategies } from '@hyvisor/strategy-hvm';
import { createMachineFromConfig } from '@hyvisor/vmm';

/** Virtual ns (= instructions while the guest runs) between two profile samples. */
export const SAMPLE_EVERY = 10_000;

/** What the child reports. */
export interface ChildResult {
  /** Instructions retired when the marker line reached the console. */
  readonly instructions: number;
  /** ms from `machine.run()` to the marker (the emulator's own time, without Node's start). */
  readonly runMs: number;
  /** Instructions by sampled RIP (hex), see the module comment. */
  readonly samples: Record<string, number>;
  /** Why the run ended, when it ended without the marker. */
  readonly error?: string;
  /** The console's last lines, when it ended without the marker. */
  readonly tail?: string;
}

const MARKER = 'HYVISOR-INIT-OK';
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

async function main(): Promise<void> {
  const cmdline = process.argv[2] ?? '';
  const limitMs = Number(process.argv[3] ?? 1_800_000);
  const config = loadConfigFile(path.join(root, 'examples/linux.yaml'));
  const container = createHyvisorContainer();
  registerEmuBackend(container);
  registerHvmStrategies(container);
  registerBuiltinDevices(container);
  let text = '';
  let markerInstructions = -1, markerMs = 0, runStart = 0;
  let stop: () => void = () => undefined;
  let retired: () => number = () => 0;
  const console = new Writable({
    write(chunk: Buffer, _enc, done) {
      if (markerInstructions < 0) {
        text = (text + chunk.toString('latin1')).slice(-4000);
        if (text.includes(MARKER)) {
          markerInstructions = retired();
          markerMs = performance.now() - runStart;
          process.stdout.write('@marker\n');
          stop();
        }
      }
      done();
    },
  });
  const composed = createMachineFromConfig(container, { ...config, backend: 'emu', timeLimitMs: limitMs, guest: { ...config.guest, cmdline } }, { stdout: console });
  try {
    const { machine } = composed;
    retired = () => machine.vcpu.stats?.()['instructions'] ?? 0;
    stop = () => machine.stop('init marker');
    // Keyed by hex: a kernel address (0xffffffff8…) does not fit a double's 53 bits exactly.
    const samples = new Map<string, number>();
    let last = 0;
    const sample = (now: number): void => {
      const n = retired();
      if (n > last) {
        const rip = machine.vcpu.getRegisters().rip.toString(16);
        samples.set(rip, (samples.get(rip) ?? 0) + n - last);
        last = n;
      }
      machine.clock.schedule(now + SAMPLE_EVERY, sample);
    };
    machine.clock.schedule(machine.clock.now() + SAMPLE_EVERY, sample);
    runStart = performance.now();
    const r = await machine.run();
    const out: ChildResult = markerInstructions >= 0
      ? { instructions: markerInstructions, runMs: markerMs, samples: Object.fromEntries(samples) }
      : { instructions: retired(), runMs: performance.now() - runStart, samples: {}, error: `${r.reason}${r.message ? `: ${r.message}` : ''}`, tail: text.split('\n').slice(-12).join('\n') };
    process.stdout.write(`@result ${JSON.stringify(out)}\n`);
  } finally {
    composed.dispose();
  }
}

await main();
