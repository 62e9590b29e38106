/**
 * Guest-physical memory as the emulator reaches it: a fast path for the writable RAM region at
 * guest-physical 0 (one bounds check, then a DataView access) and a slow path over every region.
 * Addresses no region covers are MMIO; writes to read-only regions are MMIO too (as on KVM).
 * @module
 */
import type { GuestMemory } from '@hyvisor/core';

/** One region as the slow path sees it. */
export interface PhysRegion {
  readonly start: number;
  readonly end: number;
  readonly view: DataView;
  readonly bytes: Uint8Array;
  readonly readonly: boolean;
}

export class PhysicalMemory {
  /** The writable RAM region starting at 0 (or an empty view). */
  view: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));
  bytes: Uint8Array<ArrayBufferLike> = new Uint8Array(0);
  /** `[0, fastEnd)` is the fast, writable RAM. */
  fastEnd = 0;
  regions: PhysRegion[] = [];

  constructor(private readonly memory: GuestMemory) {
    this.refresh();
  }

  /** Re-reads the region list (after `Vm.addRegion`). */
  refresh(): void {
    this.regions = this.memory.regions.map((r) => ({
      start: r.gpa, end: r.gpa + r.size, readonly: r.readonly,
      view: new DataView(r.buffer, 0, r.size), bytes: new Uint8Array(r.buffer, 0, r.size),
    }));
    const first = this.regions.find((r) => r.start === 0 && !r.readonly);
    if (first) {
      this.view = first.view;
      this.bytes = first.bytes;
      this.fastEnd = first.end;
    } else {
      this.view = new DataView(new ArrayBuffer(0));
      this.bytes = new Uint8Array(0);
      this.fastEnd = 0;
    }
  }

  /** The region holding `[pa, pa+len)`, or undefined (MMIO). */
  find(pa: number, len: number): PhysRegion | undefined {
    const rs = this.regions;
    for (let i = 0; i < rs.length; i++) {
      const r = rs[i]!;
      if (pa >= r.start && pa + len <= r.end) return r;
    }
    return undefined;
  }
}
