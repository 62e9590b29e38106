/**
 * Serves one virtio-blk request (virtio 1.2, 5.2.6) from a collected descriptor chain against a
 * {@link BlockStore}: a device-readable header (≥ 16 bytes: type, reserved, sector), data
 * buffers (device-writable for IN, readable for OUT; any lengths adding up to whole sectors), a
 * device-writable status byte last. A well-formed chain carrying a bad request gets an error
 * status, never an exception. Shared by the PV block ring and virtio-blk over PCI.
 * @module
 */
import type { GuestMemory } from '@hyvisor/core';
import type { BlockStore } from '@hyvisor/devices';
import type { DescriptorChain } from '../queue/split-queue.js';

/** virtio-blk request types and status values. */
export const BlkRequest = {
  HEADER_SIZE: 16,
  T_IN: 0,
  T_OUT: 1,
  T_FLUSH: 4,
  T_GET_ID: 8,
  S_OK: 0,
  S_IOERR: 1,
  S_UNSUPP: 2,
  /** Bytes of the device ID string GET_ID returns (zero-padded, not terminated when full). */
  ID_BYTES: 20,
  SECTOR_SIZE: 512,
} as const;

/** Largest data transfer of one request (bytes). */
export const MAX_REQUEST_BYTES = 4 * 1024 * 1024;

/** Why a request got an error status. */
export const BlkRequestError = {
  /** Layout: no header, header writable, data in the wrong direction, not whole sectors. */
  BAD_REQUEST: 'bad_request',
  /** Sectors past the end of the disk. */
  OUT_OF_RANGE: 'out_of_range',
  /** The block store failed (host I/O error, read-only image). */
  IO: 'io',
  /** A request type the device does not serve. */
  UNSUPPORTED: 'unsupported',
  /** No device-writable status byte: completed with nothing written. */
  NO_STATUS: 'no_status',
} as const;
export type BlkRequestError = (typeof BlkRequestError)[keyof typeof BlkRequestError];

const TWO_32 = 0x1_0000_0000;
const SECTOR = BlkRequest.SECTOR_SIZE;

/** Options of a {@link BlkRequestServer}. */
export interface BlkServerOptions {
  /** The ID GET_ID returns (ASCII, at most 20 bytes); absent: GET_ID is unsupported. */
  readonly id?: string;
}

/** Serves virtio-blk requests for one disk. */
export class BlkRequestServer {
  private bounce: Uint8Array | undefined;
  private readonly id: Uint8Array | undefined;

  /**
   * @param onError counts a failed request by reason (called before the status is written)
   */
  constructor(
    private readonly memory: GuestMemory,
    private readonly store: BlockStore,
    private readonly onError: (why: BlkRequestError) => void,
    options: BlkServerOptions = {},
  ) {
    if (options.id !== undefined) {
      this.id = new Uint8Array(BlkRequest.ID_BYTES);
      this.id.set(new TextEncoder().encode(options.id).subarray(0, BlkRequest.ID_BYTES));
    }
  }

  /** Disk size in sectors. */
  get capacity(): number {
    return this.store.sectorCount;
  }

  /** Serves the request in `chain`; returns the bytes written into device-writable buffers (the used `len`). */
  serve(chain: DescriptorChain): number {
    const n = chain.count;
    const last = n - 1;
    if (n < 2 || chain.writable[last] === 0 || chain.len[last] === 0) return this.fail(BlkRequestError.NO_STATUS, -1, 0);
    const statusGpa = chain.addr[last]! + chain.len[last]! - 1;
    const mem = this.memory;
    if (chain.writable[0] !== 0 || chain.len[0]! < BlkRequest.HEADER_SIZE) return this.fail(BlkRequestError.BAD_REQUEST, statusGpa, 1);
    const hdr = chain.addr[0]!;
    const type = mem.u32(hdr);
    switch (type) {
      case BlkRequest.T_IN:
      case BlkRequest.T_OUT:
        return this.transfer(chain, type === BlkRequest.T_IN, mem.u32(hdr + 8), mem.u32(hdr + 12), statusGpa);
      case BlkRequest.T_FLUSH:
        try {
          this.store.flush();
        } catch {
          return this.fail(BlkRequestError.IO, statusGpa, 1);
        }
        mem.setU8(statusGpa, BlkRequest.S_OK);
        return 1;
      case BlkRequest.T_GET_ID:
        if (this.id !== undefined && n === 3 && chain.writable[1] !== 0) {
          const len = Math.min(chain.len[1]!, BlkRequest.ID_BYTES);
          mem.write(chain.addr[1]!, this.id.subarray(0, len));
          mem.setU8(statusGpa, BlkRequest.S_OK);
          return len + 1;
        }
        break;
    }
    this.onError(BlkRequestError.UNSUPPORTED);
    mem.setU8(statusGpa, BlkRequest.S_UNSUPP);
    return 1;
  }

  private transfer(chain: DescriptorChain, toGuest: boolean, sectorLo: number, sectorHi: number, statusGpa: number): number {
    const last = chain.count - 1;
    const mem = this.memory;
    let dataBytes = 0;
    for (let i = 1; i < last; i++) {
      if ((chain.writable[i] !== 0) !== toGuest) return this.fail(BlkRequestError.BAD_REQUEST, statusGpa, 1);
      dataBytes += chain.len[i]!;
    }
    if (dataBytes % SECTOR !== 0 || dataBytes > MAX_REQUEST_BYTES) return this.fail(BlkRequestError.BAD_REQUEST, statusGpa, 1);
    const count = dataBytes / SECTOR;
    const sector = sectorLo + sectorHi * TWO_32;
    if (sectorHi >= 0x200000 || sector + count > this.store.sectorCount) return this.fail(BlkRequestError.OUT_OF_RANGE, statusGpa, 1);
    const buf = (this.bounce ??= new Uint8Array(MAX_REQUEST_BYTES));
    try {
      let off = 0;
      if (toGuest) {
        this.store.read(sector, count, buf);
        for (let i = 1; i < last; i++) {
          const len = chain.len[i]!;
          mem.write(chain.addr[i]!, buf.subarray(off, off + len));
          off += len;
        }
      } else {
        for (let i = 1; i < last; i++) {
          const len = chain.len[i]!;
          const src = mem.slice(chain.addr[i]!, len);
          if (src !== undefined) buf.set(src, off);
          off += len;
        }
        this.store.write(sector, count, buf);
      }
    } catch {
      return this.fail(BlkRequestError.IO, statusGpa, 1);
    }
    mem.setU8(statusGpa, BlkRequest.S_OK);
    return toGuest ? dataBytes + 1 : 1;
  }

  /** Counts `why`, writes IOERR at `statusGpa` (if ≥ 0) and returns `len`. */
  private fail(why: BlkRequestError, statusGpa: number, len: number): number {
    this.onError(why);
    if (statusGpa >= 0) this.memory.setU8(statusGpa, BlkRequest.S_IOERR);
    return len;
  }
}
