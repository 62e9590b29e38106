/**
 * The PV block ring: one virtio split virtqueue (descriptor table, avail ring, used ring in guest
 * RAM) carrying virtio-blk requests to a {@link BlockStore}: `@hyvisor/virtio`'s `SplitQueue` and
 * `BlkRequestServer`, the same code virtio-blk over PCI uses, behind the PV hypercall interface. The guest's memory is hostile: every
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
import { HypercallError, Virtq, type Counters, type GuestMemory } from '@hyvisor/core';
import type { BlockStore } from '@hyvisor/devices';
import { BlkRequestServer, DescriptorChain, QueueFault, SplitQueue, type SplitQueueState } from '@hyvisor/virtio';
import { isSharedRam } from '../guest-ram.js';

export { MAX_REQUEST_BYTES } from '@hyvisor/virtio';

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
  private readonly queue: SplitQueue;
  private readonly server: BlkRequestServer;
  private readonly chain = new DescriptorChain();
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
    store: BlockStore,
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
    // INDIRECT is not offered, no event index: the PV ABI's ring (docs/pv-abi.md).
    this.queue = new SplitQueue(memory, (gpa, len) => isSharedRam(ramSize, gpa, len));
    const errorSlots = error;
    this.server = new BlkRequestServer(memory, store, (why) => { counters.values[errorSlots[why]]!++; });
  }

  /**
   * The disk's capacity in 512-byte sectors (`BLK_INFO`'s result, virtio-blk's config
   * `capacity`): the requests that fit are those with sector + count ≤ capacity.
   */
  get capacity(): number {
    return this.server.capacity;
  }

  /** True while a ring is set up (and not reset). */
  get active(): boolean {
    return this.queue.ready;
  }

  /** Sets the ring up (arguments validated by {@link checkRingSetup}); the used ring starts at index 0. */
  setup(desc: number, avail: number, used: number, size: number): number {
    const bad = checkRingSetup(this.ramSize, desc, avail, used, size);
    if (bad !== 0) return bad;
    if (this.queue.configure({ desc, avail, used, size }) !== undefined) return HypercallError.EFAULT;
    this.memory.setU16(used, 0);
    this.memory.setU16(used + 2, 0);
    this.lastReset = undefined;
    return 0;
  }

  /** The ring's addresses and indices (the rings themselves are guest memory). */
  saveState(): BlkRingState {
    return this.queue.saveState();
  }

  /** Restores {@link saveState}'s record, the layout checked as `BLK_SETUP` checks a guest's; throws naming the field. */
  restoreState(s: BlkRingState): void {
    if (s?.configured && checkRingSetup(this.ramSize, s.desc, s.avail, s.used, s.size) !== 0) throw new Error('pv-blk ring state: the ring addresses are not valid for this machine');
    this.queue.restoreState(s);
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
    const q = this.queue;
    if (!q.ready) return 0;
    const pending = q.pending();
    if (pending < 0) return this.reset(toRingReset(q.fault));
    let done = 0;
    while (done < pending) {
      const got = q.pop(this.chain);
      if (got < 0) {
        this.publish(done);
        this.reset(toRingReset(q.fault));
        return done;
      }
      if (got === 0) break;
      q.pushUsed(this.chain.head, this.server.serve(this.chain));
      done++;
    }
    this.publish(done);
    return done;
  }

  /** Clears the setup; counts why. Returns 0. */
  reset(why: RingReset): 0 {
    this.queue.reset();
    this.lastReset = why;
    this.counters.values[this.slots.reset[why]]!++;
    return 0;
  }

  private publish(done: number): void {
    if (done === 0) return;
    const v = this.counters.values;
    const wants = this.queue.publish();
    v[this.slots.requests]! += done;
    v[this.slots.batches]!++;
    if (wants) {
      v[this.slots.events]!++;
      this.complete();
    }
  }
}

/** The ring's reset reason for a queue fault (the PV ring offers no indirect tables, so that fault is a bad flag). */
function toRingReset(f: QueueFault | undefined): RingReset {
  return f === undefined || f === QueueFault.BAD_INDIRECT ? RingReset.BAD_FLAGS : f;
}

/** {@link BlkRing.saveState}'s record: the virtqueue's. */
export type BlkRingState = SplitQueueState;
