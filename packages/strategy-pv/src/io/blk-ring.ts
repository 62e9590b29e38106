/**
 * The PV block ring: one virtio split virtqueue (descriptor table, avail ring, used ring in guest
 * RAM) carrying virtio-blk requests to a {@link BlockStore}. The guest's memory is hostile: every
 * index, address and length is checked, a chain is walked and checked completely before any I/O,
 * and a structurally broken ring (descriptor outside RAM, a loop, an index past the queue, an
 * unknown descriptor flag, an absurd length) is reset: the setup is cleared and the guest must
 * call `BLK_SETUP` again. A well-formed chain with a bad request gets an error status instead.
 *
 * Supported request layout: a device-readable header descriptor (≥ 16 bytes; the header is its
 * first 16), data descriptors (device-writable for IN, readable for OUT; any lengths adding up
 * to whole sectors), and a device-writable status descriptor last (the status is its last byte).
 * @module
 */
import { HypercallError, Storage, Virtq, type Counters, type GuestMemory } from '@hyvisor/core';
import type { BlockStore } from '@hyvisor/devices';
import { isSharedRam } from '../guest-ram.js';

/** Largest data transfer of one request (bytes); a chain longer than this plus slack is absurd. */
export const MAX_REQUEST_BYTES = 4 * 1024 * 1024;
/** Room for the header and status descriptors on top of the data. */
const CHAIN_SLACK = 64 * 1024;
const TWO_32 = 0x1_0000_0000;
const SECTOR = Storage.SECTOR_SIZE;
/** Descriptor flags the ring understands (INDIRECT is not offered). */
const KNOWN_FLAGS = Virtq.DESC_F_NEXT | Virtq.DESC_F_WRITE;

/** Why a ring was reset. */
export const RingReset = {
  /** A descriptor, or the header/status area, outside guest RAM (or in the pool). */
  OUT_OF_RAM: 'out_of_ram',
  /** A chain that comes back to a descriptor it already used (a chain longer than the queue). */
  LOOP: 'loop',
  /** A head or `next` index ≥ the queue size, or an avail index that jumped by more than the queue. */
  BAD_INDEX: 'bad_index',
  /** A descriptor flag the ring does not offer (INDIRECT). */
  BAD_FLAGS: 'bad_flags',
  /** A chain whose lengths add up to more than any request can carry. */
  ABSURD_LENGTH: 'absurd_length',
} as const;
export type RingReset = (typeof RingReset)[keyof typeof RingReset];

/** Why a request got an error status. */
export const RequestError = {
  /** Layout: no header, header writable, data in the wrong direction, not whole sectors. */
  BAD_REQUEST: 'bad_request',
  /** Sectors past the end of the disk. */
  OUT_OF_RANGE: 'out_of_range',
  /** The block store failed (host I/O error, read-only image). */
  IO: 'io',
  /** A request type other than IN, OUT, FLUSH. */
  UNSUPPORTED: 'unsupported',
  /** No device-writable status byte: completed with nothing written. */
  NO_STATUS: 'no_status',
} as const;
export type RequestError = (typeof RequestError)[keyof typeof RequestError];

/** Validates BLK_SETUP arguments: 0, -EINVAL (size, alignment) or -EFAULT (an area outside RAM or in the pool). */
export function checkRingSetup(ramSize: number, desc: number, avail: number, used: number, size: number): number {
  if (!Number.isInteger(size) || size < 1 || size > Virtq.MAX_QUEUE_SIZE || (size & (size - 1)) !== 0) return HypercallError.EINVAL;
  if (!Number.isSafeInteger(desc) || !Number.isSafeInteger(avail) || !Number.isSafeInteger(used)) return HypercallError.EFAULT;
  if (desc % 16 !== 0 || avail % 2 !== 0 || used % 4 !== 0) return HypercallError.EINVAL;
  if (!isSharedRam(ramSize, desc, size * Virtq.DESC_SIZE)) return HypercallError.EFAULT;
  if (!isSharedRam(ramSize, avail, 4 + 2 * size)) return HypercallError.EFAULT;
  if (!isSharedRam(ramSize, used, 4 + 8 * size)) return HypercallError.EFAULT;
  return 0;
}

/** One virtqueue of virtio-blk requests. */
export class BlkRing {
  private desc = 0;
  private avail = 0;
  private used = 0;
  private size = 0;
  private lastAvail = 0;
  private usedIdx = 0;
  private isActive = false;
  /** Per-descriptor visit stamps for loop detection. */
  private readonly seen = new Uint32Array(Virtq.MAX_QUEUE_SIZE);
  private stamp = 0;
  private readonly chainAddr = new Float64Array(Virtq.MAX_QUEUE_SIZE);
  private readonly chainLen = new Uint32Array(Virtq.MAX_QUEUE_SIZE);
  private readonly chainWrite = new Uint8Array(Virtq.MAX_QUEUE_SIZE);
  private bounce: Uint8Array | undefined;
  private readonly slots: {
    requests: number; batches: number; events: number; notifies: number;
    reset: Record<RingReset, number>; error: Record<RequestError, number>;
  };

  /** Why the ring was last reset, if it was. */
  lastReset: RingReset | undefined;

  /**
   * @param complete sends the completion event (once per batch)
   */
  constructor(
    private readonly memory: GuestMemory,
    private readonly ramSize: number,
    private readonly store: BlockStore,
    private readonly complete: () => void,
    private readonly counters: Counters,
  ) {
    const reset = {} as Record<RingReset, number>;
    for (const r of Object.values(RingReset)) reset[r] = counters.define(`pv.blk.reset.${r}`, `block rings reset: ${r.replace('_', ' ')}`);
    const error = {} as Record<RequestError, number>;
    for (const e of Object.values(RequestError)) error[e] = counters.define(`pv.blk.error.${e}`, `block requests failed: ${e.replace('_', ' ')}`);
    this.slots = {
      requests: counters.define('pv.blk.requests', 'block requests completed'),
      batches: counters.define('pv.blk.batches', 'batches of block requests processed'),
      events: counters.define('pv.blk.events', 'block completion events sent'),
      notifies: counters.define('pv.blk.ignored_notifies', 'notifications with no ring set up, or for another queue'),
      reset,
      error,
    };
  }

  /**
   * The disk's capacity in 512-byte sectors (`BLK_INFO`'s result, virtio-blk's config
   * `capacity`): the requests that fit are those with sector + count ≤ capacity.
   */
  get capacity(): number {
    return this.store.sectorCount;
  }

  /** True while a ring is set up (and not reset). */
  get active(): boolean {
    return this.isActive;
  }

  /** Sets the ring up (arguments validated by {@link checkRingSetup}); the used ring starts at index 0. */
  setup(desc: number, avail: number, used: number, size: number): number {
    const bad = checkRingSetup(this.ramSize, desc, avail, used, size);
    if (bad !== 0) return bad;
    this.desc = desc;
    this.avail = avail;
    this.used = used;
    this.size = size;
    this.lastAvail = 0;
    this.usedIdx = 0;
    this.memory.setU16(used, 0);
    this.memory.setU16(used + 2, 0);
    this.isActive = true;
    this.lastReset = undefined;
    return 0;
  }

  /** Counts a notification that found nothing to do (no ring, wrong queue). */
  ignoredNotify(): void {
    this.counters.values[this.slots.notifies]!++;
  }

  /**
   * Processes every available chain, writes the used ring, and sends one completion event for the
   * batch unless the guest set `NO_INTERRUPT`. Returns the number of requests completed. Never
   * throws for anything the guest wrote.
   */
  process(): number {
    if (!this.isActive) return 0;
    const mem = this.memory;
    const availIdx = mem.u16(this.avail + 2);
    const pending = (availIdx - this.lastAvail) & 0xffff;
    if (pending === 0) return 0;
    if (pending > this.size) return this.reset(RingReset.BAD_INDEX);
    const mask = this.size - 1;
    let done = 0;
    while (this.lastAvail !== availIdx) {
      const head = mem.u16(this.avail + 4 + 2 * (this.lastAvail & mask));
      const written = this.serve(head);
      if (written < 0) {
        this.publish(done);
        return done;
      }
      const elem = this.used + 4 + 8 * (this.usedIdx & mask);
      mem.setU32(elem, head);
      mem.setU32(elem + 4, written);
      this.usedIdx = (this.usedIdx + 1) & 0xffff;
      this.lastAvail = (this.lastAvail + 1) & 0xffff;
      done++;
    }
    this.publish(done);
    return done;
  }

  /** Clears the setup; counts why. Returns 0. */
  reset(why: RingReset): 0 {
    this.isActive = false;
    this.lastReset = why;
    this.counters.values[this.slots.reset[why]]!++;
    return 0;
  }

  private publish(done: number): void {
    if (done === 0) return;
    const v = this.counters.values;
    this.memory.setU16(this.used + 2, this.usedIdx);
    v[this.slots.requests]! += done;
    v[this.slots.batches]!++;
    if ((this.memory.u16(this.avail) & Virtq.AVAIL_F_NO_INTERRUPT) === 0) {
      v[this.slots.events]!++;
      this.complete();
    }
  }

  /**
   * Walks and serves the chain at `head`. Returns the bytes written into device-writable buffers
   * (the used element's `len`), or -1 after resetting the ring.
   */
  private serve(head: number): number {
    const n = this.walk(head);
    if (n < 0) return -1;
    const last = n - 1;
    if (n < 2 || this.chainWrite[last] === 0 || this.chainLen[last] === 0) return this.fail(RequestError.NO_STATUS, -1, 0);
    const statusGpa = this.chainAddr[last]! + this.chainLen[last]! - 1;
    const mem = this.memory;
    if (this.chainWrite[0] !== 0 || this.chainLen[0]! < Virtq.BLK_HEADER_SIZE) return this.fail(RequestError.BAD_REQUEST, statusGpa, 1);
    const hdr = this.chainAddr[0]!;
    const type = mem.u32(hdr);
    const sectorLo = mem.u32(hdr + 8);
    const sectorHi = mem.u32(hdr + 12);
    let dataBytes = 0;
    for (let i = 1; i < last; i++) dataBytes += this.chainLen[i]!;
    switch (type) {
      case Virtq.BLK_T_IN:
      case Virtq.BLK_T_OUT: {
        const toGuest = type === Virtq.BLK_T_IN;
        for (let i = 1; i < last; i++) {
          if ((this.chainWrite[i] !== 0) !== toGuest) return this.fail(RequestError.BAD_REQUEST, statusGpa, 1);
        }
        if (dataBytes % SECTOR !== 0 || dataBytes > MAX_REQUEST_BYTES) return this.fail(RequestError.BAD_REQUEST, statusGpa, 1);
        const count = dataBytes / SECTOR;
        const sector = sectorLo + sectorHi * TWO_32;
        if (sectorHi >= 0x200000 || sector + count > this.store.sectorCount) return this.fail(RequestError.OUT_OF_RANGE, statusGpa, 1);
        const buf = (this.bounce ??= new Uint8Array(MAX_REQUEST_BYTES));
        try {
          if (toGuest) {
            this.store.read(sector, count, buf);
            let off = 0;
            for (let i = 1; i < last; i++) {
              const len = this.chainLen[i]!;
              mem.write(this.chainAddr[i]!, buf.subarray(off, off + len));
              off += len;
            }
          } else {
            let off = 0;
            for (let i = 1; i < last; i++) {
              const len = this.chainLen[i]!;
              const src = mem.slice(this.chainAddr[i]!, len);
              if (src !== undefined) buf.set(src, off);
              off += len;
            }
            this.store.write(sector, count, buf);
          }
        } catch {
          return this.fail(RequestError.IO, statusGpa, 1);
        }
        mem.setU8(statusGpa, Virtq.BLK_S_OK);
        return toGuest ? dataBytes + 1 : 1;
      }
      case Virtq.BLK_T_FLUSH:
        try {
          this.store.flush();
        } catch {
          return this.fail(RequestError.IO, statusGpa, 1);
        }
        mem.setU8(statusGpa, Virtq.BLK_S_OK);
        return 1;
      default:
        this.counters.values[this.slots.error[RequestError.UNSUPPORTED]]!++;
        mem.setU8(statusGpa, Virtq.BLK_S_UNSUPP);
        return 1;
    }
  }

  /** Counts `why`, writes IOERR at `statusGpa` (if ≥ 0) and returns `len`. */
  private fail(why: RequestError, statusGpa: number, len: number): number {
    this.counters.values[this.slots.error[why]]!++;
    if (statusGpa >= 0) this.memory.setU8(statusGpa, Virtq.BLK_S_IOERR);
    return len;
  }

  /**
   * Collects the chain at `head` into the chain arrays after checking every descriptor. Returns
   * its length, or -1 after resetting the ring.
   */
  private walk(head: number): number {
    const mem = this.memory;
    const size = this.size;
    this.stamp = (this.stamp + 1) >>> 0 || 1;
    let i = head;
    let n = 0;
    let total = 0;
    for (;;) {
      if (i >= size) return this.resetWalk(RingReset.BAD_INDEX);
      if (this.seen[i] === this.stamp) return this.resetWalk(RingReset.LOOP);
      this.seen[i] = this.stamp;
      const d = this.desc + Virtq.DESC_SIZE * i;
      const addr = mem.u32(d) + mem.u32(d + 4) * TWO_32;
      const len = mem.u32(d + 8);
      const flags = mem.u16(d + 12);
      if ((flags & ~KNOWN_FLAGS) !== 0) return this.resetWalk(RingReset.BAD_FLAGS);
      total += len;
      if (total > MAX_REQUEST_BYTES + CHAIN_SLACK) return this.resetWalk(RingReset.ABSURD_LENGTH);
      if (!isSharedRam(this.ramSize, addr, len)) return this.resetWalk(RingReset.OUT_OF_RAM);
      this.chainAddr[n] = addr;
      this.chainLen[n] = len;
      this.chainWrite[n] = (flags & Virtq.DESC_F_WRITE) !== 0 ? 1 : 0;
      n++;
      if ((flags & Virtq.DESC_F_NEXT) === 0) return n;
      i = mem.u16(d + 14);
    }
  }

  private resetWalk(why: RingReset): -1 {
    this.reset(why);
    return -1;
  }
}
