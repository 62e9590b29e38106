/**
 * Where an emulated disk's sectors live: a tiny interface and two implementations, a host file
 * ({@link FileBlockStore}) and memory ({@link MemoryBlockStore}, for tests).
 * @module
 */
import * as fs from 'node:fs';
import { type Disposable, HyvisorError, Storage } from '@hyvisor/core';

/** Bytes per sector. */
export const SECTOR_SIZE = Storage.SECTOR_SIZE;

/**
 * A disk's backing store, addressed in 512-byte sectors. Callers keep `lba + count` within
 * {@link sectorCount}; implementations check it again and throw a `RangeError` if not. Host I/O
 * failures are thrown as errors too; a device model turns them into a status for the guest.
 */
export interface BlockStore {
  /** Number of sectors. */
  readonly sectorCount: number;
  /** Reads `count` sectors from `lba` into the start of `into` (at least `count * 512` bytes). */
  read(lba: number, count: number, into: Uint8Array): void;
  /** Writes `count` sectors at `lba` from the start of `from` (at least `count * 512` bytes). */
  write(lba: number, count: number, from: Uint8Array): void;
  /** Makes every completed write durable. */
  flush(): void;
}

/** A backing store could not be opened or used; the message names the file and the fix. */
export class BlockStoreError extends HyvisorError {
  constructor(
    message: string,
    readonly path?: string,
  ) {
    super('BLOCK_STORE', message);
  }
}

function checkRange(store: BlockStore, lba: number, count: number, buffer: Uint8Array): void {
  if (
    !Number.isSafeInteger(lba) ||
    !Number.isSafeInteger(count) ||
    lba < 0 ||
    count < 0 ||
    lba + count > store.sectorCount ||
    buffer.length < count * SECTOR_SIZE
  ) {
    throw new RangeError(`sectors ${lba}+${count} out of range (disk has ${store.sectorCount}, buffer ${buffer.length} bytes)`);
  }
}

/** A disk in memory (tests, scratch disks). */
export class MemoryBlockStore implements BlockStore {
  /** The sectors, in order. */
  readonly data: Uint8Array;
  /** Calls to {@link flush}. */
  flushes = 0;

  /** @param sectorsOrData a sector count (zero-filled disk) or the bytes to use (length rounded down to whole sectors). */
  constructor(sectorsOrData: number | Uint8Array) {
    if (typeof sectorsOrData === 'number') {
      if (!Number.isSafeInteger(sectorsOrData) || sectorsOrData < 0) throw new RangeError(`bad sector count ${sectorsOrData}`);
      this.data = new Uint8Array(sectorsOrData * SECTOR_SIZE);
    } else {
      this.data = sectorsOrData.subarray(0, sectorsOrData.length - (sectorsOrData.length % SECTOR_SIZE));
    }
  }

  get sectorCount(): number {
    return this.data.length / SECTOR_SIZE;
  }

  read(lba: number, count: number, into: Uint8Array): void {
    checkRange(this, lba, count, into);
    into.set(this.data.subarray(lba * SECTOR_SIZE, (lba + count) * SECTOR_SIZE));
  }

  write(lba: number, count: number, from: Uint8Array): void {
    checkRange(this, lba, count, from);
    this.data.set(from.subarray(0, count * SECTOR_SIZE), lba * SECTOR_SIZE);
  }

  flush(): void {
    this.flushes++;
  }
}

/** Options of {@link FileBlockStore.open}. */
export interface FileBlockStoreOptions {
  /** Open read-only: writes then fail (the disk reports them as errors to the guest). */
  readonly readOnly?: boolean;
  /**
   * Create the file with this size in bytes (a positive multiple of 512) if it does not exist.
   * An existing file is used as it is.
   */
  readonly createSizeBytes?: number;
}

/**
 * A disk image in a host file, opened safely: the path must name a regular file (a symbolic link
 * as the last path component is refused, never followed: `O_NOFOLLOW`; a directory, device or
 * FIFO is refused after `fstat` on the opened descriptor, so nothing can be swapped in between).
 * The disk has `floor(size / 512)` sectors; a partial last sector is not visible to the guest
 * ({@link ignoredTailBytes}). Errors are {@link BlockStoreError}s that name the file.
 *
 * All I/O is synchronous (`pread`/`pwrite`/`fdatasync`), as a vCPU thread's port handler needs.
 * Dispose it to close the file.
 */
export class FileBlockStore implements BlockStore, Disposable {
  private fd: number;

  private constructor(
    /** The file's path as given. */
    readonly path: string,
    fd: number,
    readonly sectorCount: number,
    /** Bytes past the last whole sector, not visible to the guest. */
    readonly ignoredTailBytes: number,
    /** True if opened read-only. */
    readonly readOnly: boolean,
  ) {
    this.fd = fd;
  }

  /** Opens (or creates, see {@link FileBlockStoreOptions.createSizeBytes}) the disk image at `path`. */
  static open(path: string, options: FileBlockStoreOptions = {}): FileBlockStore {
    const readOnly = options.readOnly ?? false;
    const create = options.createSizeBytes;
    if (create !== undefined && (!Number.isSafeInteger(create) || create < SECTOR_SIZE || create % SECTOR_SIZE !== 0)) {
      throw new BlockStoreError(`disk image "${path}": size to create must be a positive multiple of 512 bytes, got ${create}`, path);
    }
    if (readOnly && create !== undefined) {
      throw new BlockStoreError(`disk image "${path}": cannot create a read-only disk image; drop one of the two options`, path);
    }
    const { O_RDONLY, O_RDWR, O_NOFOLLOW, O_CREAT, O_EXCL, O_NONBLOCK } = fs.constants;
    // O_NONBLOCK: opening a FIFO must not hang (regular-file I/O ignores the flag).
    const access = (readOnly ? O_RDONLY : O_RDWR) | O_NONBLOCK;
    let fd: number;
    let created = false;
    try {
      fd = fs.openSync(path, access | O_NOFOLLOW);
    } catch (e) {
      if (errno(e) === 'ENOENT' && create !== undefined) {
        try {
          fd = fs.openSync(path, access | O_NOFOLLOW | O_CREAT | O_EXCL, 0o600);
          created = true;
        } catch (e2) {
          throw openError(path, e2);
        }
      } else {
        throw openError(path, e);
      }
    }
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile()) throw new BlockStoreError(`disk image "${path}": not a regular file (a disk image must be a plain file)`, path);
      if (created) fs.ftruncateSync(fd, create!);
      const size = created ? create! : st.size;
      if (size < SECTOR_SIZE) {
        throw new BlockStoreError(`disk image "${path}": ${size} bytes is smaller than one 512-byte sector`, path);
      }
      return new FileBlockStore(path, fd, Math.floor(size / SECTOR_SIZE), size % SECTOR_SIZE, readOnly);
    } catch (e) {
      fs.closeSync(fd);
      if (e instanceof BlockStoreError) throw e;
      throw new BlockStoreError(`disk image "${path}": ${(e as Error).message}`, path);
    }
  }

  read(lba: number, count: number, into: Uint8Array): void {
    checkRange(this, lba, count, into);
    const length = count * SECTOR_SIZE;
    let done = 0;
    while (done < length) {
      const n = fs.readSync(this.openFd(), into, done, length - done, lba * SECTOR_SIZE + done);
      if (n === 0) {
        // The file shrank under us: what is gone reads as zeros.
        into.fill(0, done, length);
        return;
      }
      done += n;
    }
  }

  write(lba: number, count: number, from: Uint8Array): void {
    checkRange(this, lba, count, from);
    if (this.readOnly) throw new BlockStoreError(`disk image "${this.path}" is read-only`, this.path);
    const length = count * SECTOR_SIZE;
    let done = 0;
    while (done < length) done += fs.writeSync(this.openFd(), from, done, length - done, lba * SECTOR_SIZE + done);
  }

  flush(): void {
    if (!this.readOnly) fs.fdatasyncSync(this.openFd());
  }

  /** Closes the file; later I/O throws. */
  dispose(): void {
    if (this.fd < 0) return;
    fs.closeSync(this.fd);
    this.fd = -1;
  }

  private openFd(): number {
    if (this.fd < 0) throw new BlockStoreError(`disk image "${this.path}" is closed`, this.path);
    return this.fd;
  }
}

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

function openError(path: string, e: unknown): BlockStoreError {
  switch (errno(e)) {
    case 'ELOOP':
      return new BlockStoreError(`disk image "${path}": is a symbolic link; give the path of the file itself`, path);
    case 'ENOENT':
      return new BlockStoreError(`disk image "${path}": does not exist (create it, or ask for it to be created with a size)`, path);
    case 'EACCES':
    case 'EPERM':
      return new BlockStoreError(`disk image "${path}": permission denied`, path);
    case 'EISDIR':
      return new BlockStoreError(`disk image "${path}": is a directory, not a disk image file`, path);
    case 'EEXIST':
      return new BlockStoreError(`disk image "${path}": appeared while it was being created; try again`, path);
    default:
      return new BlockStoreError(`disk image "${path}": cannot open: ${(e as Error).message}`, path);
  }
}
