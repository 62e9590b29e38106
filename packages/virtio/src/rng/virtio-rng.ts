/**
 * virtio-rng (virtio 1.2, 5.4): one request queue of device-writable buffers that the device
 * fills with random bytes. The bytes come from a source the machine chooses: the host's
 * `crypto.randomFillSync`, or a seeded generator where the run must be deterministic (the
 * emulator), so that two runs read the same "random" bytes.
 * @module
 */
import { randomFillSync } from 'node:crypto';
import type { GuestMemory } from '@hyvisor/core';
import { DescriptorChain, type SplitQueue } from '../queue/split-queue.js';
import type { VirtioDevice } from '../pci/virtio-pci.js';

/** virtio device type of the entropy device. */
export const VIRTIO_ID_RNG = 4;
/** Most bytes one request gets (a driver asking for more gets this much). */
export const RNG_MAX_BYTES_PER_REQUEST = 64 * 1024;

/** Fills `into` with random bytes. */
export type EntropySource = (into: Uint8Array) => void;

/** The host's cryptographic random source. */
export const hostEntropy: EntropySource = (into) => { randomFillSync(into); };

/** A deterministic source (xorshift32 from `seed`): the same seed gives the same bytes. Not for secrets. */
export function seededEntropy(seed: number): EntropySource {
  let s = seed >>> 0 || 0x9e3779b9;
  return (into) => {
    for (let i = 0; i < into.length; i++) {
      s ^= s << 13; s >>>= 0;
      s ^= s >>> 17;
      s ^= s << 5; s >>>= 0;
      into[i] = s & 0xff;
    }
  };
}

/** The entropy device. */
export class VirtioRng implements VirtioDevice {
  readonly deviceType = VIRTIO_ID_RNG;
  readonly classCode = 0x00ff00;
  readonly features = 0;
  readonly queueSizes = [256];
  readonly configSize = 0;
  /** Bytes handed to the guest so far. */
  bytesServed = 0;
  private readonly chain = new DescriptorChain();
  private readonly buf = new Uint8Array(RNG_MAX_BYTES_PER_REQUEST);

  constructor(private readonly memory: GuestMemory, private readonly entropy: EntropySource = hostEntropy) {}

  readConfig(): number {
    return 0;
  }

  writeConfig(): void {}

  serve(_index: number, queue: SplitQueue): boolean {
    return queue.drain(this.chain, this.fill);
  }

  /** Fills one chain's device-writable buffers (up to the per-request cap); returns the bytes written. */
  private readonly fill = (chain: DescriptorChain): number => {
    let left = RNG_MAX_BYTES_PER_REQUEST;
    let written = 0;
    for (let i = 0; i < chain.count && left > 0; i++) {
      if (chain.writable[i] === 0) continue;
      const n = Math.min(chain.len[i]!, left);
      const bytes = this.buf.subarray(0, n);
      this.entropy(bytes);
      this.memory.write(chain.addr[i]!, bytes);
      written += n;
      left -= n;
    }
    this.bytesServed += written;
    return written;
  };

  reset(): void {}
}
