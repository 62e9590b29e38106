/**
 * `hyvisor run CONFIG`: boots a guest and exits with its exit code. Imports only what the config
 * uses: the backend and strategy it names, and the telemetry server (with `ws`) only when asked.
 * @module
 */
import { WORKLOADS, formatSize, guestCmdline, loadConfigFile, parseDuration, parseListen, type VmConfig } from '@hyvisor/core';
import { BufferSerialOutput, StdoutSerialOutput } from '@hyvisor/devices';
import { createMachineFromConfig, type StandardDevices } from '@hyvisor/vmm';
import type { TelemetryServer } from '@hyvisor/telemetry';
import { namesModules, unbundledLoader } from '../bundled.js';
import { containerFor } from '../catalog.js';
import { FIRST_INSTRUCTION_ENV, reportFirstInstruction } from '../first-instruction.js';
import { UsageError, type Parsed } from '../spec.js';

/** Exit code after Ctrl-C, as shells expect (128 + SIGINT). */
const EXIT_INTERRUPTED = 130;

export async function runCommand({ values, positionals }: Parsed): Promise<number> {
  const config = withOverrides(loadConfigFile(positionals[0]!), values);
  const unbundled = unbundledLoader();
  if (unbundled && namesModules(config)) {
    // Plugin modules share the unbundled packages' instances only with the unbundled command: run
    // that one (it reads the config again; a plugin run does not need the faster start).
    return (await unbundled()).cli(process.argv.slice(2));
  }

  let telemetry = config.telemetry;
  if (values.telemetry !== undefined) {
    const listen = parseListen(String(values.telemetry));
    if (!listen) throw new UsageError(`run: --telemetry: expected [HOST:]PORT like "9464" or "0.0.0.0:9464", got "${values.telemetry}"`);
    telemetry = { ...config.telemetry, ...listen, intervalMs: config.telemetry?.intervalMs ?? 100 };
  }

  const container = await containerFor({ backend: config.backend, strategy: config.strategy });
  const composed = createMachineFromConfig(container, config, { stdout: process.stdout, stdin: process.stdin });
  const { machine } = composed;
  let server: TelemetryServer | undefined;
  try {
    server = telemetry
      ? await (await import('@hyvisor/telemetry')).TelemetryServer.start(machine, {
        host: telemetry.host, port: telemetry.port, intervalMs: telemetry.intervalMs,
        ...(telemetry.token ? { token: telemetry.token } : {}),
        ...(telemetry.allowedOrigins ? { allowedOrigins: telemetry.allowedOrigins } : {}),
      })
      : undefined;
  } catch (err) {
    composed.dispose();
    throw err;
  }
  if (server) process.stderr.write(`hyvisor: telemetry at ${server.url}/ (metrics: ${server.url}/metrics)\n`);
  const stdin = process.stdin;
  const raw = config.serial.input === 'stdin' && stdin.isTTY;
  const onSigint = () => machine.stop('interrupted (Ctrl-C)');
  process.on('SIGINT', onSigint);
  if (raw) {
    // Raw mode sends Ctrl-C to us as a byte, not as SIGINT: keep it as the way out.
    stdin.setRawMode(true);
    stdin.on('data', (b: Buffer) => { if (b.includes(3)) onSigint(); });
  }
  if (process.env[FIRST_INSTRUCTION_ENV] === '1') reportFirstInstruction(machine.vcpu);
  try {
    const result = await machine.run();
    const stats = machine.vcpu.stats?.();
    if (stats) process.stderr.write(`hyvisor: ${machine.backend.info.name}: ${statsLine(stats)}\n`);
    const lost = consoleLoss(composed.devices);
    if (lost) process.stderr.write(`hyvisor: ${lost}\n`);
    if (result.reason === 'stopped') {
      process.stderr.write(`\nhyvisor: ${result.message}\n`);
      return EXIT_INTERRUPTED;
    }
    if (result.reason !== 'exit-code' && result.reason !== 'poweroff' && result.reason !== 'reset') process.stderr.write(`hyvisor: ${result.message}\n`);
    return result.exitCode;
  } finally {
    await server?.close();
    process.off('SIGINT', onSigint);
    if (raw) stdin.setRawMode(false);
    stdin.pause();
    composed.dispose();
  }
}

/** What the console lost during the run, as one line, or '' if nothing was lost. */
export function consoleLoss(devices: StandardDevices): string {
  const parts: string[] = [];
  const out = devices.serialOutput;
  // A closed stdout ended the run with its own line; what was lost after that is no news.
  if (out instanceof StdoutSerialOutput && out.isClosed) return '';
  if (out instanceof BufferSerialOutput && out.dropped > 0) {
    parts.push(`${out.dropped} bytes past serial.bufferLimit (${formatSize(out.limit)}) discarded`);
  }
  if (devices.uart.txDropped > 0) parts.push(`${devices.uart.txDropped} bytes the guest wrote to a full transmitter lost`);
  return parts.length > 0 ? `serial console: ${parts.join('; ')}` : '';
}

/** `12345678 instructions, exits: io 1234, mmio 0, hlt 3, …` from a backend's `Vcpu.stats()` (io, mmio and hlt always; other kinds when non-zero). */
function statsLine(stats: Record<string, number>): string {
  const exits = Object.entries(stats).filter(([k, v]) => k.startsWith('exits.') && (v > 0 || ['exits.io', 'exits.mmio', 'exits.hlt'].includes(k)));
  const rest = Object.entries(stats).filter(([k]) => !k.startsWith('exits.') && k !== 'instructions');
  return [`${stats['instructions'] ?? 0} instructions`, ...rest.map(([k, v]) => `${k} ${v}`)].join(', ') +
    `, exits: ${exits.map(([k, v]) => `${k.slice(6)} ${v}`).join(', ')}`;
}

type Flags = Record<string, string | boolean | undefined>;

function withOverrides(config: VmConfig, flags: Flags): VmConfig {
  const values = flags as { backend?: string; strategy?: string; 'time-limit'?: string; workload?: string; iterations?: string };
  let timeLimitMs = config.timeLimitMs;
  if (values['time-limit'] !== undefined) {
    const t = parseDuration(values['time-limit']);
    if (t === undefined) throw new UsageError(`run: --time-limit: expected a duration like "30s" or "500ms", got "${values['time-limit']}"`);
    timeLimitMs = t;
  }
  const workload = values.workload ?? config.guest.workload;
  if (workload !== undefined && !(WORKLOADS as readonly string[]).includes(workload)) {
    throw new UsageError(`run: --workload: expected one of ${WORKLOADS.join(', ')}, got "${workload}"`);
  }
  let iterations = config.guest.iterations;
  if (values.iterations !== undefined) {
    iterations = /^\d+$/.test(values.iterations) ? Number(values.iterations) : NaN;
    if (!Number.isSafeInteger(iterations) || iterations < 1) throw new UsageError(`run: --iterations: expected a whole number ≥ 1, got "${values.iterations}"`);
  }
  const guest = {
    ...config.guest,
    cmdline: guestCmdline(config.guest.cmdline, workload, iterations),
    ...(workload !== undefined ? { workload } : {}),
    ...(iterations !== undefined ? { iterations } : {}),
  };
  return { ...config, backend: values.backend ?? config.backend, strategy: values.strategy ?? config.strategy, timeLimitMs, guest };
}
