/**
 * The "newc" cpio archive format (SVR4 without CRC), the one format the Linux kernel unpacks as
 * an initramfs (`init/initramfs.c`, `Documentation/driver-api/early-userspace/buffer-format.rst`).
 * Written here so building the guest needs no host `cpio`, and read back so tests (and anyone
 * checking an archive) can see what the kernel will see.
 *
 * Each member is a 110-byte ASCII header — the magic `070701` and thirteen 8-digit hexadecimal
 * fields — then the NUL-terminated name padded so the data starts on a 4-byte boundary, then the
 * data padded to 4 bytes. The archive ends with a member named `TRAILER!!!`.
 * @module
 */
import { HyvisorError } from '@hyvisor/core';

/** A cpio archive cannot be written or read as given. */
export class CpioError extends HyvisorError {
  constructor(message: string) {
    super('CPIO', message);
  }
}

/** File-type bits of `st_mode` (the values `<sys/stat.h>` uses on Linux). */
export const FileType = {
  REGULAR: 0o100000,
  DIRECTORY: 0o040000,
  SYMLINK: 0o120000,
  CHAR_DEVICE: 0o020000,
  MASK: 0o170000,
} as const;

/** One member to write. Paths are relative to the archive root (`bin/busybox`, not `/bin/busybox`). */
export type CpioEntry =
  | { type: 'file'; path: string; data: Uint8Array; mode?: number }
  | { type: 'dir'; path: string; mode?: number }
  | { type: 'symlink'; path: string; target: string }
  | { type: 'chardev'; path: string; major: number; minor: number; mode?: number };

/** One member as read back: the header fields that matter, and the data. */
export interface CpioRecord {
  readonly name: string;
  readonly ino: number;
  /** Full `st_mode`: file type and permission bits. */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly nlink: number;
  readonly mtime: number;
  readonly rdevMajor: number;
  readonly rdevMinor: number;
  readonly data: Uint8Array;
}

/** Options for {@link writeCpio}. */
export interface CpioOptions {
  /** Modification time of every member, seconds since the epoch; fixed so builds are reproducible. Default 0. */
  readonly mtime?: number;
}

const MAGIC = '070701';
const HEADER_SIZE = 110;
const TRAILER = 'TRAILER!!!';
/** Largest value an 8-hex-digit field holds. */
const FIELD_MAX = 0xffff_ffff;

/** Pads `n` up to a multiple of 4. */
const align4 = (n: number): number => (n + 3) & ~3;

/**
 * Writes `entries`, in order, as a newc archive ending with the trailer. Every member is owned by
 * root (uid 0, gid 0) and gets its own inode number, so the kernel never treats two members as
 * hard links. Throws {@link CpioError} for a path or size the format cannot carry.
 */
export function writeCpio(entries: readonly CpioEntry[], options: CpioOptions = {}): Uint8Array {
  const mtime = options.mtime ?? 0;
  const seen = new Set<string>();
  const parts: Uint8Array[] = [];
  let ino = 1;
  for (const e of entries) {
    checkPath(e.path);
    if (seen.has(e.path)) throw new CpioError(`cpio: "${e.path}" appears twice`);
    seen.add(e.path);
    if ('mode' in e && e.mode !== undefined && (e.mode & ~0o7777) !== 0) throw new CpioError(`cpio: "${e.path}" has mode bits beyond 07777`);
    let mode: number;
    let data: Uint8Array = new Uint8Array(0);
    let nlink = 1;
    let rdevMajor = 0, rdevMinor = 0;
    switch (e.type) {
      case 'file': mode = FileType.REGULAR | (e.mode ?? 0o644); data = e.data; break;
      case 'dir': mode = FileType.DIRECTORY | (e.mode ?? 0o755); nlink = 2; break;
      case 'symlink':
        if (e.target.length === 0 || e.target.includes('\0')) throw new CpioError(`cpio: symlink "${e.path}" needs a target without NUL`);
        mode = FileType.SYMLINK | 0o777; data = new TextEncoder().encode(e.target); break;
      case 'chardev':
        if (!isU32(e.major) || !isU32(e.minor)) throw new CpioError(`cpio: device "${e.path}" has a bad number ${e.major}:${e.minor}`);
        mode = FileType.CHAR_DEVICE | (e.mode ?? 0o600); rdevMajor = e.major; rdevMinor = e.minor; break;
    }
    if (data.length > FIELD_MAX) throw new CpioError(`cpio: "${e.path}" is larger than 4 GiB, which newc cannot record`);
    parts.push(member(e.path, { ino: ino++, mode, nlink, mtime, size: data.length, rdevMajor, rdevMinor }), pad(data));
  }
  parts.push(member(TRAILER, { ino: 0, mode: 0, nlink: 1, mtime: 0, size: 0, rdevMajor: 0, rdevMinor: 0 }));
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

/**
 * Reads a newc archive up to its trailer and returns its members (the trailer excluded).
 * Throws {@link CpioError} on a bad magic, a non-hex field, a member that runs past the end, or
 * a missing trailer. Concatenated archives (as the kernel accepts) are not followed.
 */
export function parseCpio(bytes: Uint8Array): CpioRecord[] {
  const records: CpioRecord[] = [];
  const text = new TextDecoder('latin1');
  let at = 0;
  for (;;) {
    if (at + HEADER_SIZE > bytes.length) throw new CpioError(`cpio: archive ends at byte ${at} without a ${TRAILER} member`);
    const header = text.decode(bytes.subarray(at, at + HEADER_SIZE));
    if (!header.startsWith(MAGIC)) throw new CpioError(`cpio: bad magic "${header.slice(0, 6)}" at byte ${at} (expected ${MAGIC})`);
    const field = (i: number): number => {
      const s = header.slice(6 + i * 8, 14 + i * 8);
      if (!/^[0-9A-Fa-f]{8}$/.test(s)) throw new CpioError(`cpio: header field ${i} at byte ${at} is not 8 hex digits ("${s}")`);
      return parseInt(s, 16);
    };
    const [ino, mode, uid, gid, nlink, mtime, size, , , rdevMajor, rdevMinor, nameSize] =
      Array.from({ length: 12 }, (_, i) => field(i)) as number[] as [number, number, number, number, number, number, number, number, number, number, number, number];
    field(12); // check: zero in newc, but it must still be hex
    const nameEnd = at + HEADER_SIZE + nameSize;
    if (nameSize === 0 || nameEnd > bytes.length) throw new CpioError(`cpio: name of the member at byte ${at} runs past the end`);
    if (bytes[nameEnd - 1] !== 0) throw new CpioError(`cpio: name of the member at byte ${at} is not NUL-terminated`);
    const name = new TextDecoder().decode(bytes.subarray(at + HEADER_SIZE, nameEnd - 1));
    const dataStart = align4(nameEnd);
    if (dataStart + size > bytes.length) throw new CpioError(`cpio: data of "${name}" runs past the end`);
    if (name === TRAILER) return records;
    records.push({ name, ino, mode, uid, gid, nlink, mtime, rdevMajor, rdevMinor, data: bytes.slice(dataStart, dataStart + size) });
    at = align4(dataStart + size);
  }
}

interface HeaderFields { ino: number; mode: number; nlink: number; mtime: number; size: number; rdevMajor: number; rdevMinor: number }

/** Header plus NUL-terminated name, padded so that the data starts 4-byte aligned. */
function member(name: string, f: HeaderFields): Uint8Array {
  const nameBytes = new TextEncoder().encode(name);
  const fields = [f.ino, f.mode, 0, 0, f.nlink, f.mtime, f.size, 0, 0, f.rdevMajor, f.rdevMinor, nameBytes.length + 1, 0];
  const header = MAGIC + fields.map((x) => x.toString(16).toUpperCase().padStart(8, '0')).join('');
  const out = new Uint8Array(align4(HEADER_SIZE + nameBytes.length + 1));
  for (let i = 0; i < HEADER_SIZE; i++) out[i] = header.charCodeAt(i);
  out.set(nameBytes, HEADER_SIZE);
  return out;
}

function pad(data: Uint8Array): Uint8Array {
  if (data.length % 4 === 0) return data;
  const out = new Uint8Array(align4(data.length));
  out.set(data);
  return out;
}

function checkPath(path: string): void {
  if (path.length === 0 || path.startsWith('/') || path.includes('\0') || path === TRAILER ||
      path.split('/').some((c) => c === '' || c === '.' || c === '..')) {
    throw new CpioError(`cpio: bad member path "${path}" (relative, no empty, "." or ".." parts, no NUL)`);
  }
}

function isU32(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= FIELD_MAX;
}
