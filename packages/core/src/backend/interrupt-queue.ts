/**
 * The queue of external interrupt vectors a backend holds for one vCPU between
 * {@link Vcpu.queueInterrupt} and their delivery to the guest, shared by every backend that
 * injects from userspace (KVM without an in-kernel irqchip, the emulator).
 * @module
 */
import { BackendError } from '../errors.js';

/** Capacity: enough for a burst from several devices between two runs. */
export const INTERRUPT_QUEUE_SIZE = 16;

/**
 * A fixed ring of vectors (0-255), oldest first. Allocation-free after construction: the exit
 * path peeks and drops without creating objects.
 */
export class InterruptQueue {
  private readonly ring = new Uint8Array(INTERRUPT_QUEUE_SIZE);
  private head = 0;
  private count = 0;

  /** Vectors queued and not yet delivered. */
  get size(): number {
    return this.count;
  }

  /**
   * Appends `vector`; false (vector dropped, the caller counts it) when the queue is full. A
   * vector outside 0-255 is the caller's bug: {@link BackendError}.
   */
  push(vector: number): boolean {
    if (!Number.isInteger(vector) || vector < 0 || vector > 255) {
      throw new BackendError(`queueInterrupt: vector must be an integer 0-255, got ${vector}`, { operation: 'queueInterrupt', values: { vector } });
    }
    if (this.count === INTERRUPT_QUEUE_SIZE) return false;
    this.ring[(this.head + this.count) % INTERRUPT_QUEUE_SIZE] = vector;
    this.count++;
    return true;
  }

  /** The oldest vector (call only when {@link size} > 0). */
  peek(): number {
    return this.ring[this.head]!;
  }

  /** Drops the oldest vector once the guest has taken it (call only when {@link size} > 0). */
  drop(): void {
    this.head = (this.head + 1) % INTERRUPT_QUEUE_SIZE;
    this.count--;
  }

  /** The queued vectors, oldest first (snapshots; allocates). */
  toArray(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.count; i++) out.push(this.ring[(this.head + i) % INTERRUPT_QUEUE_SIZE]!);
    return out;
  }

  /** Forgets every queued vector (vCPU reset). */
  clear(): void {
    this.head = 0;
    this.count = 0;
  }
}
