/**
 * The reference boot: the same kernel and initramfs under QEMU's TCG emulator, with no firmware
 * (`-M microvm`, direct kernel entry), the platform devices Linux needs (8259, PIT, RTC) and a
 * serial console. It proves the initramfs right and is what `bench linux-boot` compares
 * Hyvisor against.
 * @module
 */
import { execFileSync, spawn } from 'node:child_process';
import { initCommandArgs } from './exec.js';
import { EXIT_MARKER, INIT_MARKER } from './guest.js';

/** The kernel command line of the reference boot (see the measured facts). */
export const REFERENCE_CMDLINE = 'console=ttyS0 reboot=t panic=-1 cryptomgr.notests';

/** Options for {@link bootUnderQemu}. */
export interface QemuBootOptions {
  readonly kernel: string;
  readonly initramfs: string;
  /** Run this shell command in the guest (after `--` on the kernel command line); none = a shell. */
  readonly command?: string;
  /** Guest RAM in MiB; default 256. */
  readonly memoryMiB?: number;
  /** Words added to the kernel command line before `--`. */
  readonly extraCmdline?: string;
  /** Kill QEMU after this long; default 120 s. */
  readonly timeoutMs?: number;
  /** QEMU binary; default `qemu-system-x86_64`. */
  readonly qemu?: string;
  /** Console output as it arrives. */
  readonly onOutput?: (text: string) => void;
}

/** What a reference boot did. */
export interface QemuBootResult {
  /** Everything the serial console printed (CR removed). */
  readonly output: string;
  /** Milliseconds from spawning QEMU to the init marker; undefined if it never came. */
  readonly initMarkerMs?: number;
  /** The command's exit status from `HYVISOR-EXIT=`; undefined without a command or marker. */
  readonly exitStatus?: number;
  /** What the command printed: the lines between the init marker and the exit marker. */
  readonly commandOutput?: string;
  /** Milliseconds from spawn to QEMU's exit (or the kill). */
  readonly totalMs: number;
  /** QEMU's exit code; null when it was killed. */
  readonly qemuExitCode: number | null;
  readonly timedOut: boolean;
}

/** Why QEMU cannot be used here, or undefined if `qemu-system-x86_64 --version` works. */
export function qemuUnavailable(qemu = 'qemu-system-x86_64'): string | undefined {
  try {
    execFileSync(qemu, ['--version'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return `${qemu} is not installed (Debian package qemu-system-x86)`;
  }
}

/** The QEMU command line for a reference boot (without the binary). */
export function qemuArgs(o: QemuBootOptions): string[] {
  const words = [REFERENCE_CMDLINE];
  if (o.command !== undefined) words.push('hyvisor.end=reboot'); // a triple fault ends QEMU under -no-reboot
  if (o.extraCmdline) words.push(o.extraCmdline);
  if (o.command !== undefined) words.push(initCommandArgs(o.command));
  return [
    '-M', 'microvm,acpi=off,pic=on,pit=on,rtc=on',
    '-cpu', 'qemu64',
    '-m', `${o.memoryMiB ?? 256}M`,
    '-kernel', o.kernel,
    '-initrd', o.initramfs,
    '-append', words.join(' '),
    '-nographic', '-no-reboot',
  ];
}

/**
 * Boots the kernel and initramfs under QEMU TCG and resolves when QEMU exits (with a command,
 * init reboots the guest after it, which ends QEMU) or when the timeout kills it.
 */
export function bootUnderQemu(o: QemuBootOptions): Promise<QemuBootResult> {
  const started = performance.now();
  const child = spawn(o.qemu ?? 'qemu-system-x86_64', qemuArgs(o), { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  let stderr = '';
  let initMarkerMs: number | undefined;
  let timedOut = false;
  const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, o.timeoutMs ?? 120_000);
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (text: string) => {
    text = text.replace(/\r/g, '');
    output += text;
    if (initMarkerMs === undefined && output.includes(`${INIT_MARKER}\n`)) initMarkerMs = performance.now() - started;
    o.onOutput?.(text);
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text: string) => { stderr += text; });
  return new Promise((resolve, reject) => {
    child.on('error', (e) => { clearTimeout(timer); reject(new Error(`cannot start QEMU: ${e.message}`)); });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (stderr.trim() && initMarkerMs === undefined) output += `\n[qemu stderr] ${stderr.trim()}`;
      resolve({ output, initMarkerMs, totalMs: performance.now() - started, qemuExitCode: code, timedOut, ...commandResult(output) });
    });
  });
}

/** The command's output and status from the console text, if init got that far. */
export function commandResult(output: string): { exitStatus?: number; commandOutput?: string } {
  const start = output.indexOf(`${INIT_MARKER}\n`);
  if (start < 0) return {};
  const rest = output.slice(start + INIT_MARKER.length + 1);
  const m = new RegExp(`^${EXIT_MARKER}(\\d+)$`, 'm').exec(rest);
  if (!m) return {};
  return { exitStatus: Number(m[1]), commandOutput: rest.slice(0, m.index) };
}
