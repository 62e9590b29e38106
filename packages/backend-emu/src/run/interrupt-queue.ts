/**
 * The vectors queued by {@link Vcpu.queueInterrupt} and not yet taken by the guest.
 * @module
 */
import { BackendError } from '@hyvisor/core';

/** Capacity (as the KVM backend): enough for a burst from several devices between two runs. */
export const INTERRUPT_QUEUE_SIZE = 16;

/** A fixed ring of vectors (0-255), oldest first; allocation-free after construction. */
export class InterruptQueue {
  private readonly ring = new Uint8Array(INTERRUPT_QUEUE_SIZE);
  private head = 0;
  private count = 0;

  /** Vectors queued and not yet delivered. */
  get size(): number {
    return this.count;
  }

  /** Appends `vector`; false when the queue is full. A vector outside 0-255 is the caller's bug: {@link BackendError}. */
  push(vector: number): boolean {
    if (!Number.isInteger(vector) || vector < 0 || vector > 255) {
      throw new BackendError(`queueInterrupt: vector must be an integer 0-255, got ${vector}`);
    }
    if (this.count === INTERRUPT_QUEUE_SIZE) return false;
    this.ring[(this.head + this.count) % INTERRUPT_QUEUE_SIZE] = vector;
    this.count++;
    return true;
  }

  /** The oldest vector (only when {@link size} > 0). */
  peek(): number {
    return this.ring[this.head]!;
  }

  /** Drops the oldest vector once the guest has taken it (only when {@link size} > 0). */
  drop(): void {
    this.head = (this.head + 1) % INTERRUPT_QUEUE_SIZE;
    this.count--;
  }
}
