#!/usr/bin/env node
/**
 * `pnpm guest:linux [--refresh]`: fetches and builds the Linux guest, prints what it holds.
 * `pnpm guest:linux qemu [CMD…]`: boots it under QEMU TCG (the reference boot); with CMD, runs it
 * in the guest, prints its output and exits with its status; without, gives the busybox shell
 * (QEMU's `Ctrl-A x` quits).
 * @module
 */
import * as path from 'node:path';
import { HyvisorError } from '@hyvisor/core';
import { ensureLinuxGuest } from './guest.js';
import { bootUnderQemu, qemuArgs, qemuUnavailable } from './qemu.js';
import { spawn } from 'node:child_process';

const USAGE = 'usage: pnpm guest:linux [--refresh] | pnpm guest:linux qemu [--] [CMD…]';

async function main(argv: string[]): Promise<number> {
  const refresh = argv.includes('--refresh');
  const args = argv.filter((a) => a !== '--refresh');
  if (args.includes('--help') || args.includes('-h')) { console.log(USAGE); return 0; }
  const guest = ensureLinuxGuest({ refresh, log: (l) => console.error(`guest-linux: ${l}`) });
  const m = guest.manifest;
  if (args[0] !== 'qemu') {
    if (args.length > 0) { console.error(USAGE); return 2; }
    const rel = (p: string) => path.relative(process.cwd(), p);
    console.log(`kernel     ${m.kernel.package} ${m.kernel.version} (${m.kernel.release}, ${m.kernel.bytes} bytes): ${rel(guest.kernel)}`);
    console.log(`busybox    ${m.busybox.package} ${m.busybox.version}`);
    console.log(`initramfs  ${m.initramfs.members} members, ${m.initramfs.bytes} bytes gzip: ${rel(guest.initramfs)}`);
    console.log(`manifest   ${rel(path.join(guest.dir, 'manifest.json'))}`);
    return 0;
  }
  const missing = qemuUnavailable();
  if (missing) { console.error(`guest-linux: ${missing}`); return 1; }
  const rest = args.slice(1);
  const command = (rest[0] === '--' ? rest.slice(1) : rest).join(' ');
  if (!command) {
    // Interactive: QEMU owns the terminal.
    const child = spawn('qemu-system-x86_64', qemuArgs({ kernel: guest.kernel, initramfs: guest.initramfs }), { stdio: 'inherit' });
    return new Promise((resolve) => child.on('close', (code) => resolve(code ?? 1)));
  }
  const r = await bootUnderQemu({ kernel: guest.kernel, initramfs: guest.initramfs, command, onOutput: (t) => process.stdout.write(t) });
  const marker = r.initMarkerMs === undefined ? 'never reached' : `${(r.initMarkerMs / 1000).toFixed(2)} s`;
  console.error(`guest-linux: init marker ${marker}, QEMU ran ${(r.totalMs / 1000).toFixed(2)} s${r.timedOut ? ' (killed at the timeout)' : ''}`);
  return r.exitStatus ?? 1;
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e: unknown) => {
  console.error(e instanceof HyvisorError ? `guest-linux: ${e.message}` : e);
  process.exitCode = 1;
});
