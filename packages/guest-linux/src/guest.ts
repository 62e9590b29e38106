/**
 * The Linux guest on disk: Debian's cloud kernel and a busybox initramfs with Hyvisor's `init`,
 * fetched and built once into the package's `build/` folder and reused while the recorded
 * manifest still matches (same `init`, files present).
 * @module
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { writeCpio, type CpioEntry } from './cpio.js';
import { aptDownload, debExtract, kernelPackageOf, LinuxGuestError, type DebPackage } from './debian.js';

/** The Debian metapackage that always points at the current cloud kernel. */
export const KERNEL_METAPACKAGE = 'linux-image-cloud-amd64';
/** The Debian package with a statically linked busybox. */
export const BUSYBOX_PACKAGE = 'busybox-static';
/** Marker line the initramfs `init` prints once user space runs. */
export const INIT_MARKER = 'HYVISOR-INIT-OK';
/** Prefix of the line `init` prints after running a command: `HYVISOR-EXIT=<status>`. */
export const EXIT_MARKER = 'HYVISOR-EXIT=';
/** Bumped when the manifest's shape or the initramfs layout changes, so old caches are rebuilt. */
const MANIFEST_FORMAT = 1;

const packageDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Where the guest is cached unless told otherwise: `packages/guest-linux/build`. */
export const DEFAULT_GUEST_DIR = path.join(packageDir, 'build');
/** The `init` script kept in the repository. */
export const INIT_SCRIPT = path.join(packageDir, 'initramfs', 'init');

/** What was fetched and built, recorded as `manifest.json` beside the files. */
export interface LinuxGuestManifest {
  readonly format: number;
  /** The metapackage resolved, e.g. `linux-image-cloud-amd64` `6.1.176-1`. */
  readonly metapackage: { readonly name: string; readonly version: string };
  readonly kernel: {
    readonly package: string;
    readonly version: string;
    /** `uname -r` of the kernel, e.g. `6.1.0-50-cloud-amd64`. */
    readonly release: string;
    /** Path of the bzImage relative to the guest folder. */
    readonly file: string;
    readonly bytes: number;
    readonly sha256: string;
  };
  readonly busybox: { readonly package: string; readonly version: string; readonly sha256: string };
  readonly initramfs: {
    readonly file: string;
    readonly bytes: number;
    readonly sha256: string;
    /** sha256 of the `init` script it was built with. */
    readonly initSha256: string;
    readonly members: number;
  };
  /** ISO time of the fetch. */
  readonly fetchedAt: string;
}

/** The ready guest: absolute paths and the manifest. */
export interface LinuxGuest {
  readonly dir: string;
  /** Debian's bzImage (`vmlinuz-<release>`). */
  readonly kernel: string;
  /** The gzip-compressed newc initramfs. */
  readonly initramfs: string;
  /** The unpacked kernel package's `/lib/modules/<release>`. */
  readonly modules: string;
  readonly manifest: LinuxGuestManifest;
}

/** Options for {@link ensureLinuxGuest}. */
export interface EnsureOptions {
  /** Cache folder; default {@link DEFAULT_GUEST_DIR}. */
  readonly dir?: string;
  /** Download again even if a cached guest is there. */
  readonly refresh?: boolean;
  /** Progress lines (what is being downloaded or built). */
  readonly log?: (line: string) => void;
}

/**
 * Returns the cached guest, fetching the Debian packages and building the initramfs first when
 * there is none (or `refresh`), and rebuilding only the initramfs when `init` changed. Throws
 * {@link LinuxGuestError} with one line when the packages cannot be had.
 */
export function ensureLinuxGuest(options: EnsureOptions = {}): LinuxGuest {
  const guest = fetchOrReuse(options);
  linkKernel(guest);
  return guest;
}

/**
 * Name of the symlink in the guest folder that points at the kernel whatever its release
 * (`build/vmlinuz` → `root/boot/vmlinuz-<release>`), so configs (`examples/linux.yaml`) name
 * one path that survives a refresh.
 */
export const KERNEL_LINK = 'vmlinuz';

function linkKernel(guest: LinuxGuest): void {
  const link = path.join(guest.dir, KERNEL_LINK);
  const target = path.relative(guest.dir, guest.kernel);
  let current: string | undefined;
  try { current = fs.readlinkSync(link); } catch { current = undefined; }
  if (current === target) return;
  const part = `${link}.${process.pid}`;
  fs.rmSync(part, { force: true });
  fs.symlinkSync(target, part);
  fs.renameSync(part, link); // atomic: a parallel reader sees the old link or the new one
}

function fetchOrReuse(options: EnsureOptions): LinuxGuest {
  const dir = path.resolve(options.dir ?? DEFAULT_GUEST_DIR);
  const log = options.log ?? (() => {});
  const init = fs.readFileSync(INIT_SCRIPT);
  const initSha = sha256(init);
  const cached = options.refresh ? undefined : readGuest(dir);
  if (cached && cached.manifest.initramfs.initSha256 === initSha) return cached;
  if (cached) {
    log(`rebuilding the initramfs (init changed)`);
    const manifest = { ...cached.manifest, initramfs: buildInitramfs(dir, init) };
    writeManifest(dir, manifest);
    return guestOf(dir, manifest);
  }

  // Build in a private folder and move it into place, so parallel callers never see half a guest.
  const tmp = `${dir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  try {
    const debs = path.join(tmp, 'debs');
    log(`apt-get download ${KERNEL_METAPACKAGE}`);
    const meta = aptDownload(KERNEL_METAPACKAGE, debs);
    const spec = kernelPackageOf(meta);
    log(`apt-get download ${spec}`);
    const kernelDeb = aptDownload(spec, debs);
    log(`apt-get download ${BUSYBOX_PACKAGE}`);
    const busyboxDeb = aptDownload(BUSYBOX_PACKAGE, debs);
    log(`dpkg-deb -x ${path.basename(kernelDeb.file)} ${path.basename(busyboxDeb.file)}`);
    const root = path.join(tmp, 'root');
    debExtract(kernelDeb, root);
    debExtract(busyboxDeb, root);
    const kernel = findKernel(root, kernelDeb);
    const busybox = path.join(root, 'bin', 'busybox');
    if (!fs.existsSync(busybox)) throw new LinuxGuestError(`${busyboxDeb.name} ${busyboxDeb.version} has no /bin/busybox`);
    log('building initramfs.cpio.gz');
    const kernelBytes = fs.readFileSync(path.join(root, kernel.file));
    const manifest: LinuxGuestManifest = {
      format: MANIFEST_FORMAT,
      metapackage: { name: meta.name, version: meta.version },
      kernel: {
        package: kernelDeb.name, version: kernelDeb.version, release: kernel.release,
        file: path.join('root', kernel.file), bytes: kernelBytes.length, sha256: sha256(kernelBytes),
      },
      busybox: { package: busyboxDeb.name, version: busyboxDeb.version, sha256: sha256(fs.readFileSync(busybox)) },
      initramfs: buildInitramfs(tmp, init),
      fetchedAt: new Date().toISOString(),
    };
    writeManifest(tmp, manifest);
    const winner = options.refresh ? undefined : readGuest(dir);
    if (winner) return winner; // another process finished first: keep its copy
    fs.rmSync(debs, { recursive: true, force: true }); // the manifest records what they were
    fs.rmSync(dir, { recursive: true, force: true });
    try {
      fs.renameSync(tmp, dir);
    } catch (e) {
      const other = readGuest(dir); // lost a race with a parallel fetch that just finished
      if (other) return other;
      throw new LinuxGuestError(`cannot move the fetched guest into ${dir}: ${(e as Error).message}`);
    }
    return guestOf(dir, manifest);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * For tests: the guest (fetched if needed), or why it cannot be had — a test then skips with
 * that reason instead of failing on a host without Debian's package tools or network.
 */
export function linuxGuestForTests(): { guest: LinuxGuest } | { missing: string } {
  try {
    return { guest: ensureLinuxGuest() };
  } catch (e) {
    if (e instanceof LinuxGuestError) return { missing: e.message };
    throw e;
  }
}

/** The cached guest in `dir` if its manifest is current and its files exist, else undefined. */
export function readGuest(dir: string = DEFAULT_GUEST_DIR): LinuxGuest | undefined {
  let manifest: LinuxGuestManifest;
  try {
    manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as LinuxGuestManifest;
  } catch {
    return undefined;
  }
  if (manifest.format !== MANIFEST_FORMAT) return undefined;
  const guest = guestOf(dir, manifest);
  return fs.existsSync(guest.kernel) && fs.existsSync(guest.initramfs) && fs.existsSync(path.join(dir, 'root', 'bin', 'busybox')) ? guest : undefined;
}

/**
 * The initramfs members: the directories init expects, `/dev/console` (the kernel opens it for
 * init's stdin/stdout before devtmpfs is mounted), busybox, `/bin/sh` and `/init`.
 * The applet links are made by `busybox --install -s` at boot.
 */
export function initramfsEntries(busybox: Uint8Array, init: Uint8Array): CpioEntry[] {
  const dirs = ['bin', 'dev', 'etc', 'proc', 'root', 'sbin', 'sys', 'tmp', 'usr', 'usr/bin', 'usr/sbin'];
  return [
    ...dirs.map((p): CpioEntry => ({ type: 'dir', path: p, mode: p === 'tmp' ? 0o1777 : p === 'root' ? 0o700 : 0o755 })),
    { type: 'chardev', path: 'dev/console', major: 5, minor: 1, mode: 0o600 },
    { type: 'file', path: 'bin/busybox', data: busybox, mode: 0o755 },
    { type: 'symlink', path: 'bin/sh', target: 'busybox' },
    { type: 'file', path: 'init', data: init, mode: 0o755 },
  ];
}

function buildInitramfs(dir: string, init: Uint8Array): LinuxGuestManifest['initramfs'] {
  const entries = initramfsEntries(fs.readFileSync(path.join(dir, 'root', 'bin', 'busybox')), init);
  const gz = gzipSync(writeCpio(entries), { level: 9 });
  const file = 'initramfs.cpio.gz';
  const part = path.join(dir, `${file}.${process.pid}`);
  fs.writeFileSync(part, gz);
  fs.renameSync(part, path.join(dir, file));
  return { file, bytes: gz.length, sha256: sha256(gz), initSha256: sha256(init), members: entries.length };
}

function findKernel(root: string, deb: DebPackage): { file: string; release: string } {
  const boot = path.join(root, 'boot');
  const images = fs.existsSync(boot) ? fs.readdirSync(boot).filter((f) => f.startsWith('vmlinuz-')) : [];
  if (images.length !== 1) throw new LinuxGuestError(`${deb.name} ${deb.version} should hold one /boot/vmlinuz-*, found ${images.length}`);
  return { file: path.join('boot', images[0]!), release: images[0]!.slice('vmlinuz-'.length) };
}

function guestOf(dir: string, manifest: LinuxGuestManifest): LinuxGuest {
  return {
    dir,
    kernel: path.join(dir, manifest.kernel.file),
    initramfs: path.join(dir, manifest.initramfs.file),
    modules: path.join(dir, 'root', 'lib', 'modules', manifest.kernel.release),
    manifest,
  };
}

function writeManifest(dir: string, manifest: LinuxGuestManifest): void {
  const part = path.join(dir, `manifest.json.${process.pid}`);
  fs.writeFileSync(part, JSON.stringify(manifest, null, 2) + '\n');
  fs.renameSync(part, path.join(dir, 'manifest.json'));
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
