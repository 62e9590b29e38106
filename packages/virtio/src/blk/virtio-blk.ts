/**
 * virtio-blk (virtio 1.2, 5.2): one request queue served by {@link BlkRequestServer} (the same
 * request code the PV block ring uses) against a {@link BlockStore}; the configuration space
 * gives the capacity, the segment limit and the block size; flush and read-only are features.
 * @module
 */
import type { GuestMemory } from '@hyvisor/core';
import type { BlockStore } from '@hyvisor/devices';
import { DescriptorChain, type SplitQueue } from '../queue/split-queue.js';
import type { VirtioDevice } from '../pci/virtio-pci.js';
import { BlkRequestServer, type BlkRequestError } from './blk-request.js';

/** virtio device type of the block device. */
export const VIRTIO_ID_BLOCK = 2;

/** Feature bits of virtio-blk (bit numbers). */
export const VirtioBlkFeature = {
  SEG_MAX: 2,
  RO: 5,
  BLK_SIZE: 6,
  FLUSH: 9,
} as const;

/** Offsets in virtio-blk's configuration space. */
export const VirtioBlkConfig = {
  CAPACITY: 0,
  SIZE_MAX: 8,
  SEG_MAX: 12,
  BLK_SIZE: 20,
  SIZE: 24,
} as const;

/** Queue size offered; a request may use all but the header and status descriptors. */
const QUEUE_SIZE = 256;

/** The block device. */
export class VirtioBlk implements VirtioDevice {
  readonly deviceType = VIRTIO_ID_BLOCK;
  readonly classCode = 0x010000;
  readonly features: number;
  readonly queueSizes = [QUEUE_SIZE];
  readonly configSize = VirtioBlkConfig.SIZE;
  /** Requests failed, by reason. */
  readonly errors: Record<BlkRequestError, number> = { bad_request: 0, out_of_range: 0, io: 0, unsupported: 0, no_status: 0 };
  /** Requests served. */
  requests = 0;
  private readonly server: BlkRequestServer;
  private readonly chain = new DescriptorChain();
  private readonly configBytes = new Uint8Array(VirtioBlkConfig.SIZE);

  constructor(memory: GuestMemory, store: BlockStore, options: { readOnly?: boolean; id?: string } = {}) {
    this.server = new BlkRequestServer(memory, store, (why) => { this.errors[why]++; }, options.id !== undefined ? { id: options.id } : {});
    this.features = (1 << VirtioBlkFeature.SEG_MAX) | (1 << VirtioBlkFeature.BLK_SIZE) | (1 << VirtioBlkFeature.FLUSH)
      | (options.readOnly ? 1 << VirtioBlkFeature.RO : 0);
    const view = new DataView(this.configBytes.buffer);
    view.setBigUint64(VirtioBlkConfig.CAPACITY, BigInt(store.sectorCount), true);
    view.setUint32(VirtioBlkConfig.SEG_MAX, QUEUE_SIZE - 2, true);
    view.setUint32(VirtioBlkConfig.BLK_SIZE, 512, true);
  }

  readConfig(offset: number, size: number): number {
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = v * 256 + (this.configBytes[offset + i] ?? 0);
    return v;
  }

  /** The configuration is read-only to the driver (no writeback toggle offered). */
  writeConfig(): void {}

  serve(_index: number, queue: SplitQueue): boolean {
    return queue.drain(this.chain, this.serveOne);
  }

  /** One request; created once so {@link serve} allocates nothing. */
  private readonly serveOne = (chain: DescriptorChain): number => {
    this.requests++;
    return this.server.serve(chain);
  };

  reset(): void {}
}
