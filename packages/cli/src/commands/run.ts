/**
 * `hyvisor run CONFIG`: boots a guest and exits with its exit code. Imports only what the config
 * uses: the backend and strategy it names, and the telemetry server (with `ws`) only when asked.
 * @module
 */
import { WORKLOADS, formatSize, guestCmdline, loadConfigFile, parseDuration, parseListen, type VmConfig } from '@hyvisor/core';
import { BufferSerialOutput, StdoutSerialOutput } from '@hyvisor/devices';
import { createMachineFromConfig, readSnapshot, restoreMachineFromSnapshot, type ComposedMachine, type RunResult, type StandardDevices } from '@hyvisor/vmm';
import type { ExecConsole } from '@hyvisor/guest-linux';
import type { TelemetryServer } from '@hyvisor/telemetry';
import type { GdbServer } from '@hyvisor/gdbstub';
import { namesModules, unbundledLoader } from '../bundled.js';
import { containerFor } from '../catalog.js';
import { FIRST_INSTRUCTION_ENV, reportFirstInstruction } from '../first-instruction.js';
import { UsageError, type Parsed } from '../spec.js';
import { ESCAPE_HELP, openConsoleTerminal, type ConsoleTerminal } from './terminal.js';

/** Exit code after Ctrl-C, as shells expect (128 + SIGINT). */
const EXIT_INTERRUPTED = 130;

export async function runCommand({ values, positionals }: Parsed): Promise<number> {
  const restoreDir = values.restore === undefined ? undefined : String(values.restore);
  if (restoreDir === undefined && positionals[0] === undefined) throw new UsageError('run: expected CONFIG, a config file (or --restore DIR to continue a snapshot)');
  if (restoreDir !== undefined) {
    if (positionals[0] !== undefined) throw new UsageError('run: --restore DIR takes the config saved in the snapshot; give no CONFIG');
    for (const flag of ['strategy', 'workload', 'iterations', 'exec'] as const) {
      if (values[flag] !== undefined) throw new UsageError(`run: --${flag} cannot change a restored guest (the snapshot fixes it); only --backend, --time-limit, --telemetry and --snapshot-on-signal apply`);
    }
  }
  const config = restoreDir !== undefined ? restoredConfig(restoreDir, values) : withOverrides(loadConfigFile(positionals[0]!), values);
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

  const gdbListen = values.gdb === undefined ? undefined : parseListen(String(values.gdb));
  if (values.gdb !== undefined && !gdbListen) throw new UsageError(`run: --gdb: expected [HOST:]PORT like "1234" or "0.0.0.0:1234", got "${values.gdb}"`);

  const exec = values.exec === undefined ? undefined : await execSetup(config, String(values.exec));
  const runConfig = exec?.config ?? config;
  const stdin = process.stdin;
  const raw = runConfig.serial.input === 'stdin' && stdin.isTTY;
  let quit = false;
  let terminal: ConsoleTerminal | undefined;
  let composed: ComposedMachine | undefined;
  try {
    const container = await containerFor({ backend: runConfig.backend, strategy: runConfig.strategy });
    // The guest's console on a terminal: raw, with QEMU's Ctrl-A escapes (Ctrl-C goes to the guest).
    if (raw) {
      terminal = openConsoleTerminal(stdin, (command) => {
        if (command === 'help') { process.stderr.write(`\r\n${ESCAPE_HELP}`); return; }
        quit = true;
        composed?.machine.stop('quit (Ctrl-A x)');
      });
    }
    const streams = { stdout: exec?.console ?? process.stdout, stdin: terminal?.input ?? stdin };
    composed = restoreDir !== undefined
      ? restoreMachineFromSnapshot(container, restoreDir, { backend: runConfig.backend, timeLimitMs: runConfig.timeLimitMs }, streams)
      : createMachineFromConfig(container, runConfig, streams);
  } catch (err) {
    terminal?.dispose();
    throw err;
  }
  const { machine } = composed;
  const owned = composed;
  let server: TelemetryServer | undefined;
  let gdb: GdbServer | undefined;
  try {
    // Before the telemetry server and the run: the guest holds at its first instruction for the debugger.
    gdb = gdbListen ? await (await import('@hyvisor/gdbstub')).GdbServer.start(machine, { host: gdbListen.host, port: gdbListen.port }) : undefined;
    server = telemetry
      ? await (await import('@hyvisor/telemetry')).TelemetryServer.start(machine, {
        host: telemetry.host, port: telemetry.port, intervalMs: telemetry.intervalMs,
        ...(telemetry.token ? { token: telemetry.token } : {}),
        ...(telemetry.allowedOrigins ? { allowedOrigins: telemetry.allowedOrigins } : {}),
      })
      : undefined;
  } catch (err) {
    await gdb?.close();
    terminal?.dispose();
    owned.dispose();
    throw err;
  }
  if (gdb) process.stderr.write(`hyvisor: gdb stub at ${gdb.address}: the guest waits for the debugger (gdb -ex 'target remote ${gdb.address}')\n`);
  if (server) process.stderr.write(`hyvisor: telemetry at ${server.url}/ (metrics: ${server.url}/metrics)\n`);
  // Signals end the run (and so restore the terminal) instead of killing the process.
  const onSigint = () => machine.stop('interrupted (Ctrl-C)');
  const onSigterm = () => machine.stop('terminated (SIGTERM)');
  const onSighup = () => machine.stop('terminal hung up (SIGHUP)');
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);
  process.on('SIGHUP', onSighup);
  const snapshotDir = values['snapshot-on-signal'] === undefined ? undefined : String(values['snapshot-on-signal']);
  const onSigusr1 = () => {
    machine.snapshot(snapshotDir!).then(
      (info) => process.stderr.write(`hyvisor: snapshot saved to ${info.dir} in ${info.ms.toFixed(0)} ms${info.stats['instructions'] !== undefined ? ` at ${info.stats['instructions']} instructions` : ''}\n`),
      (err: unknown) => process.stderr.write(`hyvisor: ${err instanceof Error ? err.message : String(err)}\n`),
    );
  };
  if (snapshotDir !== undefined) process.on('SIGUSR1', onSigusr1);
  if (restoreDir !== undefined) {
    const at = (composed as { snapshot?: { stats: Record<string, number> } }).snapshot?.stats['instructions'];
    process.stderr.write(`hyvisor: restored ${restoreDir}${at !== undefined ? ` (taken at ${at} instructions)` : ''} on ${machine.backend.info.name}\n`);
  }
  if (process.env[FIRST_INSTRUCTION_ENV] === '1') reportFirstInstruction(machine.vcpu);
  try {
    const result = await machine.run();
    const stats = machine.vcpu.stats?.();
    if (stats) process.stderr.write(`hyvisor: ${machine.backend.info.name}: ${statsLine(stats)}\n`);
    const lost = consoleLoss(owned.devices);
    if (lost) process.stderr.write(`hyvisor: ${lost}\n`);
    if (result.reason === 'stopped') {
      process.stderr.write(`\nhyvisor: ${result.message}\n`);
      return quit ? 0 : EXIT_INTERRUPTED;
    }
    if (exec) return exec.result(result);
    if (result.reason !== 'exit-code' && result.reason !== 'poweroff' && result.reason !== 'reset') process.stderr.write(`hyvisor: ${result.message}\n`);
    return result.exitCode;
  } finally {
    await gdb?.close();
    await server?.close();
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
    process.off('SIGHUP', onSighup);
    if (snapshotDir !== undefined) process.off('SIGUSR1', onSigusr1);
    terminal?.dispose();
    stdin.pause();
    owned.dispose();
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

/** The config saved in snapshot `dir`, with --backend and --time-limit applied. */
function restoredConfig(dir: string, flags: Flags): VmConfig {
  const saved = readSnapshot(dir).config;
  if (saved === undefined) throw new UsageError(`run: --restore: snapshot ${dir} was taken on a machine composed in code (no config saved); restore it from code with machine.restoreSnapshot()`);
  let timeLimitMs = saved.timeLimitMs;
  if (flags['time-limit'] !== undefined) {
    const t = parseDuration(String(flags['time-limit']));
    if (t === undefined) throw new UsageError(`run: --time-limit: expected a duration like "30s" or "500ms", got "${flags['time-limit']}"`);
    timeLimitMs = t;
  }
  return { ...saved, backend: flags.backend !== undefined ? String(flags.backend) : saved.backend, timeLimitMs };
}

function withOverrides(config: VmConfig, flags: Flags): VmConfig {
  const values = flags as { backend?: string; strategy?: string; 'time-limit'?: string; workload?: string; iterations?: string };
  let timeLimitMs = config.timeLimitMs;
  if (values['time-limit'] !== undefined) {
    const t = parseDuration(values['time-limit']);
    if (t === undefined) throw new UsageError(`run: --time-limit: expected a duration like "30s" or "500ms", got "${values['time-limit']}"`);
    timeLimitMs = t;
  }
  if (config.guest.boot === 'linux' && (values.workload !== undefined || values.iterations !== undefined)) {
    throw new UsageError(`run: --${values.workload !== undefined ? 'workload' : 'iterations'}: only for the testbed guest (guest.kernel); this config boots Linux (guest.linux)`);
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

/** `--exec CMD`: the config that runs CMD through the guest's init, the console that reads it, and the exit status. */
interface ExecRun {
  readonly config: VmConfig;
  readonly console: ExecConsole;
  /** The CLI's exit code: CMD's status, or 1 (with the console's last lines) when init never printed it. */
  result(run: RunResult): number;
}

/**
 * `--exec CMD` for a Linux guest: CMD goes to init on the kernel command line (`-- "CMD"`), the
 * console shows only CMD's output, stdin stays out of it, and the exit code is CMD's status.
 */
async function execSetup(config: VmConfig, command: string): Promise<ExecRun> {
  if (config.guest.boot !== 'linux') throw new UsageError('run: --exec: runs a command through a Linux guest\'s init; this config boots a guest ELF (guest.kernel), not guest.linux');
  if (/(^|\s)--(\s|$)/.test(config.guest.cmdline)) throw new UsageError('run: --exec: the config\'s guest.cmdline already passes arguments to init after "--"');
  const { ExecConsole, initCommandArgs, LinuxGuestError } = await import('@hyvisor/guest-linux');
  let args: string;
  try {
    args = initCommandArgs(command);
  } catch (err) {
    if (err instanceof LinuxGuestError) throw new UsageError(`run: --exec: ${err.message}`);
    throw err;
  }
  const console = new ExecConsole((text) => process.stdout.write(text));
  return {
    config: {
      ...config,
      guest: { ...config.guest, cmdline: [config.guest.cmdline, args].filter((w) => w !== '').join(' ') },
      serial: { ...config.serial, output: 'stdout', input: 'none' },
    },
    console,
    result(run) {
      if (console.status !== undefined) return console.status;
      const how = run.message !== '' ? run.message : `the guest ended (${run.reason})`;
      const where = console.started ? 'before the command finished' : 'before its init started the command';
      const tail = console.tail().trimEnd();
      process.stderr.write(`hyvisor: --exec: ${how} ${where}; ${tail === '' ? 'the console printed nothing' : `the console's last lines:\n${tail.split('\n').slice(-15).join('\n')}`}\n`);
      return run.exitCode !== 0 ? run.exitCode : 1;
    },
  };
}
