/**
 * One split virtqueue (virtio 1.2, section 2.7) seen from the device: the driver's descriptor
 * table, available ring and used ring live in guest RAM, which is hostile. Every index, address,
 * length and flag is checked before it is used; a chain is collected and checked completely
 * before the device touches any buffer. A structurally broken queue (a descriptor outside the
 * memory the device may use, a loop, an index past the queue, an unknown or forbidden flag, an
 * absurd total length, a bad indirect table) is reported as {@link QueueFault}: the transport
 * decides what that means (the PV ring resets, virtio-pci sets DEVICE_NEEDS_RESET). Nothing here
 * throws for what the guest wrote, and nothing allocates per request.
 * @module
 */
import type { GuestMemory } from '@hyvisor/core';

/** Descriptor: {u64 addr, u32 len, u16 flags, u16 next}. */
export const DESC_SIZE = 16;
/** Descriptor flags. */
export const DescFlag = { NEXT: 1, WRITE: 2, INDIRECT: 4 } as const;
/** avail.flags: the driver asks for no interrupt (ignored once event-index is negotiated). */
export const AVAIL_F_NO_INTERRUPT = 1;
/** used.flags: the device asks for no notification. */
export const USED_F_NO_NOTIFY = 1;
/** Largest queue any transport offers (virtio allows 32768; nothing here needs more). */
export const MAX_QUEUE_SIZE = 1024;
/** Largest chain a request may carry in total (bytes); beyond this it is absurd. */
export const MAX_CHAIN_BYTES = 4 * 1024 * 1024 + 64 * 1024;

/** Why a queue is broken. */
export const QueueFault = {
  /** A descriptor, indirect table or ring outside the memory the device may use. */
  OUT_OF_RAM: 'out_of_ram',
  /** A chain that comes back to a descriptor it already used. */
  LOOP: 'loop',
  /** A head or `next` index ≥ the queue size, or an avail index that moved by more than the queue. */
  BAD_INDEX: 'bad_index',
  /** A flag the queue does not offer (INDIRECT without the feature; unknown bits). */
  BAD_FLAGS: 'bad_flags',
  /** A chain whose lengths add up to more than {@link MAX_CHAIN_BYTES}. */
  ABSURD_LENGTH: 'absurd_length',
  /** An indirect table that is empty, not a whole number of descriptors, nested, or chained with NEXT. */
  BAD_INDIRECT: 'bad_indirect',
} as const;
export type QueueFault = (typeof QueueFault)[keyof typeof QueueFault];

/** Where a queue's three areas are; checked by {@link SplitQueue.configure}. */
export interface QueueLayout {
  readonly desc: number;
  readonly avail: number;
  readonly used: number;
  readonly size: number;
}

/** True if the device may read and write guest-physical `[gpa, gpa + len)`. */
export type MemoryCheck = (gpa: number, len: number) => boolean;

/**
 * A collected chain: its buffers in order (device-readable ones first, as the specification
 * requires of drivers, though this does not depend on it). Reused from request to request.
 */
export class DescriptorChain {
  /** Index of the head descriptor: what goes into the used ring. */
  head = 0;
  /** Number of buffers. */
  count = 0;
  readonly addr = new Float64Array(MAX_QUEUE_SIZE);
  readonly len = new Uint32Array(MAX_QUEUE_SIZE);
  /** 1 if the device may write the buffer (WRITE flag). */
  readonly writable = new Uint8Array(MAX_QUEUE_SIZE);

  /** Total bytes of device-writable buffers. */
  writableBytes(): number {
    let n = 0;
    for (let i = 0; i < this.count; i++) if (this.writable[i] !== 0) n += this.len[i]!;
    return n;
  }
}

const TWO_32 = 0x1_0000_0000;

/** The device side of one split virtqueue. */
export class SplitQueue {
  private desc = 0;
  private avail = 0;
  private used = 0;
  private size = 0;
  private lastAvail = 0;
  private usedIdx = 0;
  /** `usedIdx` when the driver was last told (event-index suppression). */
  private signalledIdx = 0;
  /** A layout is configured (entries can be pushed and published even after a fault). */
  private configured = false;
  private isReady = false;
  private readonly seen = new Uint32Array(MAX_QUEUE_SIZE);
  private stamp = 0;
  /** Why the queue broke, until the next {@link configure}. */
  fault: QueueFault | undefined;

  /**
   * @param memory guest memory
   * @param accessible which guest-physical ranges the device may use (RAM, minus anything the
   *   transport forbids, e.g. the PV page-table pool)
   * @param indirect whether INDIRECT descriptors are offered (negotiated feature)
   * @param eventIdx whether VIRTIO_F_EVENT_IDX is negotiated (used_event / avail_event)
   */
  constructor(
    private readonly memory: GuestMemory,
    private readonly accessible: MemoryCheck,
    public indirect = false,
    public eventIdx = false,
  ) {}

  /** True while configured and not broken. */
  get ready(): boolean {
    return this.isReady;
  }

  /** The queue size (0 before configure). */
  get queueSize(): number {
    return this.size;
  }

  /**
   * Checks and takes the queue's layout: a power-of-two size up to {@link MAX_QUEUE_SIZE}, areas
   * aligned (16, 2, 4) and inside accessible memory. Returns the fault, or undefined when the
   * queue is ready. Indices start at 0 (a device reset).
   */
  configure(q: QueueLayout): QueueFault | 'bad_size' | 'misaligned' | undefined {
    const { desc, avail, used, size } = q;
    this.isReady = false;
    this.configured = false;
    if (!Number.isInteger(size) || size < 1 || size > MAX_QUEUE_SIZE || (size & (size - 1)) !== 0) return 'bad_size';
    if (!Number.isSafeInteger(desc) || !Number.isSafeInteger(avail) || !Number.isSafeInteger(used)) return QueueFault.OUT_OF_RAM;
    if (desc % 16 !== 0 || avail % 2 !== 0 || used % 4 !== 0) return 'misaligned';
    // used_event / avail_event trail the rings; the device touches them only with event-index.
    const tail = this.eventIdx ? 2 : 0;
    if (!this.accessible(desc, size * DESC_SIZE) || !this.accessible(avail, 4 + 2 * size + tail) || !this.accessible(used, 4 + 8 * size + tail)) {
      return QueueFault.OUT_OF_RAM;
    }
    this.desc = desc;
    this.avail = avail;
    this.used = used;
    this.size = size;
    this.lastAvail = 0;
    this.usedIdx = 0;
    this.signalledIdx = 0;
    this.fault = undefined;
    this.configured = true;
    this.isReady = true;
    return undefined;
  }

  /**
   * The device side's indices and layout as a plain record (snapshots; the rings themselves are
   * guest memory).
   */
  saveState(): SplitQueueState {
    return {
      configured: this.configured, ready: this.isReady, fault: this.fault ?? null,
      desc: this.desc, avail: this.avail, used: this.used, size: this.size,
      lastAvail: this.lastAvail, usedIdx: this.usedIdx, signalledIdx: this.signalledIdx,
    };
  }

  /**
   * Restores {@link saveState}'s record: the layout is checked as {@link configure} checks it,
   * then the indices are set. Throws `Error` naming what is wrong (nothing changed then).
   */
  restoreState(s: SplitQueueState): void {
    if (typeof s?.configured !== 'boolean' || typeof s.ready !== 'boolean') throw new Error('virtqueue state: configured/ready are not valid');
    for (const k of ['lastAvail', 'usedIdx', 'signalledIdx'] as const) {
      if (!Number.isInteger(s[k]) || s[k] < 0 || s[k] > 0xffff) throw new Error(`virtqueue state ${k} is not valid`);
    }
    if (s.fault !== null && !(Object.values(QueueFault) as unknown[]).includes(s.fault)) throw new Error('virtqueue state fault is not valid');
    if (!s.configured) {
      this.reset();
      return;
    }
    const bad = this.configure({ desc: s.desc, avail: s.avail, used: s.used, size: s.size });
    if (bad !== undefined) throw new Error(`virtqueue state: the saved layout is not valid here (${bad})`);
    this.lastAvail = s.lastAvail;
    this.usedIdx = s.usedIdx;
    this.signalledIdx = s.signalledIdx;
    this.isReady = s.ready;
    this.fault = s.fault ?? undefined;
  }

  /** Forgets the layout (device reset). */
  reset(): void {
    this.isReady = false;
    this.configured = false;
    this.size = 0;
    this.fault = undefined;
  }

  /** Chains the driver has made available and the device has not taken; -1 if the avail index is impossible (the queue breaks). */
  pending(): number {
    if (!this.isReady) return 0;
    const n = (this.memory.u16(this.avail + 2) - this.lastAvail) & 0xffff;
    if (n > this.size) return this.breakWith(QueueFault.BAD_INDEX);
    return n;
  }

  /**
   * Takes the next available chain into `chain`. Returns 1 when it did, 0 when none is
   * available, -1 when the queue broke ({@link fault} says why; the chain is not consumed).
   */
  pop(chain: DescriptorChain): 1 | 0 | -1 {
    const n = this.pending();
    if (n <= 0) return n < 0 ? -1 : 0;
    const head = this.memory.u16(this.avail + 4 + 2 * (this.lastAvail & (this.size - 1)));
    if (!this.collect(head, chain)) return -1;
    this.lastAvail = (this.lastAvail + 1) & 0xffff;
    if (this.eventIdx) this.memory.setU16(this.used + 4 + 8 * this.size, this.lastAvail); // avail_event: notify me for what comes next
    return 1;
  }

  /**
   * Serves every available chain: each is collected into `chain` and handed to `serveOne`, whose
   * result (bytes written into device-writable buffers) goes into the used ring. Returns false if
   * the queue broke on the way ({@link fault} says why), true once nothing is left. The caller
   * publishes. Pass a function created once: this allocates nothing.
   */
  drain(chain: DescriptorChain, serveOne: (chain: DescriptorChain) => number): boolean {
    for (;;) {
      const got = this.pop(chain);
      if (got === 0) return true;
      if (got < 0) return false;
      this.pushUsed(chain.head, serveOne(chain));
    }
  }

  /** Puts `head` with `written` bytes into the used ring (not yet visible: {@link publish}). */
  pushUsed(head: number, written: number): void {
    if (!this.configured) return;
    const elem = this.used + 4 + 8 * (this.usedIdx & (this.size - 1));
    this.memory.setU32(elem, head);
    this.memory.setU32(elem + 4, written);
    this.usedIdx = (this.usedIdx + 1) & 0xffff;
  }

  /**
   * Makes the used entries visible to the driver and says whether it wants an interrupt for them:
   * with event-index, when the new used index passed `used_event`; without, unless the driver set
   * NO_INTERRUPT.
   */
  publish(): boolean {
    if (!this.configured) return false;
    const mem = this.memory;
    const now = this.usedIdx;
    const before = this.signalledIdx;
    if (now === before) return false;
    mem.setU16(this.used + 2, now);
    this.signalledIdx = now;
    if (this.eventIdx) {
      const usedEvent = mem.u16(this.avail + 4 + 2 * this.size);
      // vring_need_event: interrupt if used_event lies in [before, now).
      return ((now - usedEvent - 1) & 0xffff) < ((now - before) & 0xffff);
    }
    return (mem.u16(this.avail) & AVAIL_F_NO_INTERRUPT) === 0;
  }

  private breakWith(why: QueueFault): -1 {
    this.isReady = false;
    this.fault = why;
    return -1;
  }

  private chainFault(why: QueueFault): false {
    this.breakWith(why);
    return false;
  }

  /** Collects the chain at `head`, following one level of indirection. False after breaking the queue. */
  private collect(head: number, chain: DescriptorChain): boolean {
    const mem = this.memory;
    this.stamp = (this.stamp + 1) >>> 0 || 1;
    chain.head = head;
    chain.count = 0;
    let total = 0;
    let table = this.desc;
    let tableSize = this.size;
    let inIndirect = false;
    let i = head;
    let steps = 0;
    for (;;) {
      if (i >= tableSize) return this.chainFault(QueueFault.BAD_INDEX);
      if (inIndirect) {
        if (++steps > tableSize) return this.chainFault(QueueFault.LOOP);
      } else {
        if (this.seen[i] === this.stamp) return this.chainFault(QueueFault.LOOP);
        this.seen[i] = this.stamp;
      }
      const d = table + DESC_SIZE * i;
      const addr = mem.u32(d) + mem.u32(d + 4) * TWO_32;
      const len = mem.u32(d + 8);
      const flags = mem.u16(d + 12);
      if ((flags & ~(DescFlag.NEXT | DescFlag.WRITE | DescFlag.INDIRECT)) !== 0) return this.chainFault(QueueFault.BAD_FLAGS);
      if ((flags & DescFlag.INDIRECT) !== 0) {
        if (!this.indirect) return this.chainFault(QueueFault.BAD_FLAGS);
        if (inIndirect || (flags & DescFlag.NEXT) !== 0 || len === 0 || len % DESC_SIZE !== 0 || len / DESC_SIZE > MAX_QUEUE_SIZE) {
          return this.chainFault(QueueFault.BAD_INDIRECT);
        }
        if (!this.accessible(addr, len)) return this.chainFault(QueueFault.OUT_OF_RAM);
        table = addr;
        tableSize = len / DESC_SIZE;
        inIndirect = true;
        i = 0;
        continue;
      }
      total += len;
      if (total > MAX_CHAIN_BYTES || chain.count >= MAX_QUEUE_SIZE) return this.chainFault(QueueFault.ABSURD_LENGTH);
      if (!this.accessible(addr, len)) return this.chainFault(QueueFault.OUT_OF_RAM);
      const n = chain.count++;
      chain.addr[n] = addr;
      chain.len[n] = len;
      chain.writable[n] = (flags & DescFlag.WRITE) !== 0 ? 1 : 0;
      if ((flags & DescFlag.NEXT) === 0) return true;
      i = mem.u16(d + 14);
    }
  }
}

/** {@link SplitQueue.saveState}'s record. */
export interface SplitQueueState {
  readonly configured: boolean;
  readonly ready: boolean;
  readonly fault: QueueFault | null;
  readonly desc: number;
  readonly avail: number;
  readonly used: number;
  readonly size: number;
  readonly lastAvail: number;
  readonly usedIdx: number;
  readonly signalledIdx: number;
}
