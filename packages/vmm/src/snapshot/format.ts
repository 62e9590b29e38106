/**
 * The snapshot directory on disk (docs/snapshots.md): `state.json`, a one-line header followed
 * by the JSON body, and the binary parts (`memory.bin`, blobs such as a memory disk) beside it,
 * each with its size and SHA-256 in the body. Reading checks everything (header, format version,
 * body length and checksum, every part's size and checksum) before anything is handed back, so a
 * truncated, corrupted or foreign directory is refused with a one-line {@link SnapshotError}.
 * @module
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SnapshotError } from '@hyvisor/core';

/** The `format` of the header line. */
export const SNAPSHOT_FORMAT = 'hyvisor-snapshot';
/** The layout version this code writes and reads; another is refused. */
export const SNAPSHOT_VERSION = 1;
/** The state file's name in a snapshot directory. */
export const STATE_FILE = 'state.json';

/** The header line of `state.json`. */
interface Header {
  readonly format: string;
  readonly version: number;
  /** Bytes of the JSON body after the header line. */
  readonly bodyBytes: number;
  /** SHA-256 of the body, hex. */
  readonly sha256: string;
}

/** A binary part of a snapshot as the body lists it. */
export interface PartRecord {
  readonly file: string;
  readonly bytes: number;
  readonly sha256: string;
}

function sha256(chunks: Iterable<Uint8Array>): string {
  const h = createHash('sha256');
  for (const c of chunks) h.update(c);
  return h.digest('hex');
}

/** Largest single write/read: Node's Buffer limit is 2-4 GiB, so memory goes in pieces. */
const CHUNK = 256 * 1024 * 1024;

function* pieces(data: Uint8Array): Generator<Uint8Array> {
  for (let o = 0; o < data.length; o += CHUNK) yield data.subarray(o, Math.min(data.length, o + CHUNK));
}

/** Granule of the sparse write and of the digest: all-zero 4 KiB pages are holes in the file. */
const PAGE = 4096;
const ZERO_PAGE = Buffer.alloc(PAGE);

/** True if the 1024 words from `i` are all zero (a plain loop: cheaper than a native call per page). */
function zeroWords(w: Uint32Array, i: number): boolean {
  for (let k = i, end = i + PAGE / 4; k < end; k++) if (w[k] !== 0) return false;
  return true;
}

/**
 * The digest of a part: SHA-256 over every page that is not all zeros, each preceded by its page
 * number (8 bytes, little-endian), plus the total length. A page that changes, moves, turns zero
 * or stops being zero changes it, yet zero pages (most of a guest's RAM) cost a memcmp, not a
 * hash: taking and checking a snapshot scale with the memory the guest touched.
 */
class PageDigest {
  private readonly h = createHash('sha256');
  private readonly index = Buffer.alloc(8);

  /** Feeds `buf`, which starts at byte `at` of the part (`at` a multiple of 4 KiB); calls `onData` for each run of non-zero pages. */
  update(buf: Buffer, at: number, onData?: (run: Buffer, at: number) => void): void {
    let runStart = -1;
    const words = buf.byteOffset % 4 === 0 ? new Uint32Array(buf.buffer, buf.byteOffset, buf.length >>> 2) : undefined;
    for (let o = 0; o < buf.length; o += PAGE) {
      const end = Math.min(buf.length, o + PAGE);
      const zero = end - o === PAGE && (words !== undefined ? zeroWords(words, o >>> 2) : buf.compare(ZERO_PAGE, 0, PAGE, o, end) === 0);
      if (!zero) {
        this.index.writeBigUInt64LE(BigInt((at + o) / PAGE));
        this.h.update(this.index);
        this.h.update(buf.subarray(o, end));
        if (runStart < 0) runStart = o;
      } else if (runStart >= 0) {
        onData?.(buf.subarray(runStart, o), at + runStart);
        runStart = -1;
      }
    }
    if (runStart >= 0) onData?.(buf.subarray(runStart), at + runStart);
  }

  digest(bytes: number): string {
    this.index.writeBigUInt64LE(BigInt(bytes));
    this.h.update(this.index);
    return this.h.digest('hex');
  }
}

/**
 * Writes `parts` (a file made of the given byte ranges, in order, each a multiple of 4 KiB but
 * the last) and returns its record. All-zero pages are left as holes: the file stays as small as
 * the memory the guest touched, and they read back as zeros.
 */
export function writePart(dir: string, file: string, parts: readonly Uint8Array[]): PartRecord {
  const fd = fs.openSync(path.join(dir, file), 'w');
  const digest = new PageDigest();
  let bytes = 0;
  const write = (c: Buffer, at: number): void => {
    for (let off = 0; off < c.length;) off += fs.writeSync(fd, c, off, c.length - off, at + off);
  };
  try {
    for (const p of parts) {
      for (const c of pieces(p)) {
        digest.update(Buffer.from(c.buffer, c.byteOffset, c.byteLength), bytes, write);
        bytes += c.length;
      }
    }
    fs.ftruncateSync(fd, bytes);
  } finally {
    fs.closeSync(fd);
  }
  return { file, bytes, sha256: digest.digest(bytes) };
}

/**
 * Writes `state.json` (header line, then `body` as JSON) through a temporary file renamed into
 * place: a directory with a `state.json` is a complete snapshot.
 */
export function writeState(dir: string, body: unknown): void {
  const text = Buffer.from(JSON.stringify(body), 'utf8');
  const header: Header = { format: SNAPSHOT_FORMAT, version: SNAPSHOT_VERSION, bodyBytes: text.length, sha256: sha256([text]) };
  const tmp = path.join(dir, `.${STATE_FILE}.tmp`);
  fs.writeFileSync(tmp, Buffer.concat([Buffer.from(JSON.stringify(header) + '\n', 'utf8'), text]));
  fs.renameSync(tmp, path.join(dir, STATE_FILE));
}

/** Reads and checks `state.json`: its header, version, length and checksum. Returns the parsed body. */
export function readState(dir: string): Record<string, unknown> {
  const file = path.join(dir, STATE_FILE);
  let raw: Buffer;
  try {
    raw = fs.readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new SnapshotError(code === 'ENOENT'
      ? `snapshot ${dir}: no ${STATE_FILE} (not a snapshot directory, or the snapshot was not completed)`
      : `snapshot ${dir}: cannot read ${STATE_FILE}: ${(err as Error).message}`, dir);
  }
  const nl = raw.indexOf(0x0a);
  let header: Partial<Header>;
  try {
    header = JSON.parse(raw.subarray(0, nl < 0 ? raw.length : nl).toString('utf8')) as Partial<Header>;
  } catch {
    throw new SnapshotError(`snapshot ${dir}: ${STATE_FILE} does not start with a snapshot header (corrupted, or not a snapshot)`, dir);
  }
  if (header?.format !== SNAPSHOT_FORMAT) throw new SnapshotError(`snapshot ${dir}: ${STATE_FILE} is not a Hyvisor snapshot (format ${JSON.stringify(header?.format)})`, dir);
  if (header.version !== SNAPSHOT_VERSION) {
    throw new SnapshotError(`snapshot ${dir}: format version ${JSON.stringify(header.version)} is not supported (this Hyvisor reads version ${SNAPSHOT_VERSION})`, dir);
  }
  const body = raw.subarray(nl + 1);
  if (body.length !== header.bodyBytes) {
    throw new SnapshotError(`snapshot ${dir}: ${STATE_FILE} is truncated or padded (${body.length} bytes of state, the header says ${header.bodyBytes})`, dir);
  }
  if (sha256([body]) !== header.sha256) throw new SnapshotError(`snapshot ${dir}: ${STATE_FILE} is corrupted (checksum mismatch)`, dir);
  try {
    const parsed = JSON.parse(body.toString('utf8')) as unknown;
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
    return parsed as Record<string, unknown>;
  } catch {
    throw new SnapshotError(`snapshot ${dir}: ${STATE_FILE} body is not a JSON object`, dir);
  }
}

/** Checks a part record's shape (from a checked body, but by an older or foreign writer). */
export function partRecord(v: unknown, what: string, dir: string): PartRecord {
  const r = v as Partial<PartRecord> | undefined;
  if (typeof r?.file !== 'string' || !/^[a-z0-9][a-z0-9._-]*$/.test(r.file) || !Number.isSafeInteger(r.bytes) || typeof r.sha256 !== 'string') {
    throw new SnapshotError(`snapshot ${dir}: the ${what} record is not valid`, dir);
  }
  return r as PartRecord;
}

/**
 * Checks that part `rec` exists with its size and, when `verify`, its checksum; then calls
 * `read(fd)` to load it (the fd is closed after). Refuses with a one-line {@link SnapshotError}.
 */
export function checkPart(dir: string, rec: PartRecord, what: string, verify: boolean): void {
  const file = path.join(dir, rec.file);
  let size: number;
  try {
    size = fs.statSync(file).size;
  } catch {
    throw new SnapshotError(`snapshot ${dir}: ${what} file ${rec.file} is missing`, dir);
  }
  if (size !== rec.bytes) throw new SnapshotError(`snapshot ${dir}: ${what} file ${rec.file} is truncated or padded (${size} bytes, expected ${rec.bytes})`, dir);
  if (!verify) return;
  const digest = new PageDigest();
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(Math.min(CHUNK, Math.max(PAGE, size)));
    for (let off = 0; off < size;) {
      const n = fs.readSync(fd, buf, 0, Math.min(buf.length, size - off), off);
      if (n <= 0) break;
      digest.update(buf.subarray(0, n), off);
      off += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  if (digest.digest(size) !== rec.sha256) throw new SnapshotError(`snapshot ${dir}: ${what} file ${rec.file} is corrupted (checksum mismatch)`, dir);
}

/** Reads `[offset, offset+into.length)` of part file `file` into `into`. */
export function readPartInto(dir: string, file: string, offset: number, into: Uint8Array): void {
  const fd = fs.openSync(path.join(dir, file), 'r');
  try {
    for (let done = 0; done < into.length;) {
      const n = fs.readSync(fd, into, done, Math.min(CHUNK, into.length - done), offset + done);
      if (n <= 0) throw new SnapshotError(`snapshot ${dir}: ${file} ended early`, dir);
      done += n;
    }
  } finally {
    fs.closeSync(fd);
  }
}
