/**
 * Getting Debian packages without installing them: `apt-get download` into a folder (running
 * `apt-get update` once when the package lists are missing), `dpkg-deb -f` for the control
 * fields and `dpkg-deb -x` to unpack. Everything runs as child processes with argument arrays
 * (no shell), and every failure becomes one {@link LinuxGuestError} line.
 * @module
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HyvisorError } from '@hyvisor/core';

/** The Linux guest's packages cannot be fetched, unpacked or assembled. */
export class LinuxGuestError extends HyvisorError {
  constructor(message: string) {
    super('GUEST_LINUX', message);
  }
}

/** A downloaded `.deb` with its control fields. */
export interface DebPackage {
  /** `Package:` field. */
  readonly name: string;
  /** `Version:` field (with epoch, e.g. `1:1.35.0-4+deb12u1+b1`). */
  readonly version: string;
  /** Absolute path of the `.deb` file. */
  readonly file: string;
}

/** Runs `cmd` and returns its stdout; on failure throws with the last line of its stderr. */
function run(cmd: string, args: string[], cwd?: string): string {
  try {
    return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 16 << 20 });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === 'ENOENT') throw new Error(`${cmd} is not installed (a Debian or Ubuntu host has it)`);
    const lines = (err.stderr ?? '').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('W:'));
    throw new Error(lines.at(-1) ?? `${cmd} failed`);
  }
}

/** The control field `field` of a `.deb`. */
export function debField(file: string, field: string): string {
  return run('dpkg-deb', ['-f', file, field]).trim();
}

/**
 * Downloads `spec` (`name` or `name=version`) into `dir` with `apt-get download` and returns it.
 * When the first try fails (typically: no package lists yet on a fresh container), runs
 * `apt-get update` and tries once more.
 */
export function aptDownload(spec: string, dir: string): DebPackage {
  fs.mkdirSync(dir, { recursive: true });
  const name = spec.split('=')[0]!;
  // As root, apt drops to the _apt user for downloads, which cannot write a root-owned folder;
  // downloading as root avoids the warning and the fallback.
  const download = (): void => { run('apt-get', ['download', '-q', '-o', 'APT::Sandbox::User=root', spec], dir); };
  try {
    download();
  } catch (first) {
    if ((first as Error).message.includes('not installed')) throw new LinuxGuestError(`cannot download Debian package ${name}: ${(first as Error).message}`);
    try {
      run('apt-get', ['update', '-q']);
    } catch (update) {
      throw new LinuxGuestError(`cannot download Debian package ${name}: ${(first as Error).message}; apt-get update failed too: ${(update as Error).message}`);
    }
    try {
      download();
    } catch (again) {
      throw new LinuxGuestError(`cannot download Debian package ${name} (after apt-get update): ${(again as Error).message}`);
    }
  }
  const file = fs.readdirSync(dir)
    .filter((f) => f.startsWith(`${name}_`) && f.endsWith('.deb'))
    .map((f) => path.join(dir, f))
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs)[0];
  if (!file) throw new LinuxGuestError(`apt-get download ${spec} reported success but left no ${name}_*.deb in ${dir}`);
  return { name: debField(file, 'Package'), version: debField(file, 'Version'), file };
}

/**
 * The kernel image package a metapackage such as `linux-image-cloud-amd64` points at, as an
 * apt spec (`linux-image-6.1.0-50-cloud-amd64=6.1.176-1`), read from its `Depends:` field.
 */
export function kernelPackageOf(meta: DebPackage): string {
  const depends = debField(meta.file, 'Depends');
  const m = /(linux-image-[0-9][^\s,(]*)(?:\s*\(=\s*([^)\s]+)\))?/.exec(depends);
  if (!m) throw new LinuxGuestError(`${meta.name} ${meta.version} does not depend on a linux-image-<version> package (Depends: ${depends})`);
  return m[2] ? `${m[1]}=${m[2]}` : m[1]!;
}

/** Unpacks the files of `deb` under `dir` (`dpkg-deb -x`, no maintainer scripts run). */
export function debExtract(deb: DebPackage, dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  try {
    run('dpkg-deb', ['-x', deb.file, dir]);
  } catch (e) {
    throw new LinuxGuestError(`cannot unpack ${path.basename(deb.file)}: ${(e as Error).message}`);
  }
}
