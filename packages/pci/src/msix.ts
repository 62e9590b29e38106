/**
 * MSI-X (PCI Local Bus Specification 3.0, 6.8.2): the capability in configuration space and the
 * vector table and pending-bit array in a BAR. A device asks for vector `n`; if MSI-X is on and
 * neither the function nor the entry is masked, the entry's message (address, data) is sent
 * through the machine's {@link MsiTrigger}; otherwise the pending bit is set, and the message
 * goes out when the guest unmasks. Table contents come from the guest: an address that is not
 * an interrupt message is the trigger's to refuse, never a reason to throw here.
 * @module
 */
import type { MmioDevice, MsiTrigger } from '@hyvisor/core';
import type { PciConfigSpace } from './config-space.js';

/** Capability ID of MSI-X. */
export const MSIX_CAPABILITY_ID = 0x11;
/** Message Control: MSI-X enable. */
export const MSIX_ENABLE = 1 << 15;
/** Message Control: function mask. */
export const MSIX_FUNCTION_MASK = 1 << 14;
/** Bytes per table entry: address low, address high, data, vector control. */
export const MSIX_ENTRY_SIZE = 16;
/** Vector control: the entry is masked (set at reset). */
export const MSIX_ENTRY_MASKED = 1;
/** Most vectors one function may have. */
export const MSIX_MAX_VECTORS = 2048;

/**
 * The MSI-X state of one function. Its table sits at offset 0 of the BAR it is given and the
 * pending-bit array right after it ({@link pbaOffset}); {@link barSize} is the BAR to declare.
 */
export class Msix implements MmioDevice {
  /** The table, four 32-bit words per vector. */
  private readonly table: Uint32Array;
  private readonly pending: Uint8Array;
  /** Offset of the capability in configuration space. */
  readonly capability: number;
  /** Offset of the pending-bit array in the BAR. */
  readonly pbaOffset: number;
  /** Size of the BAR holding table and array (a power of two, at least 4 KiB). */
  readonly barSize: number;
  /** Messages sent and vectors left pending while masked (telemetry counters). */
  readonly stats = { sent: 0, masked: 0 };

  constructor(private readonly config: PciConfigSpace, readonly vectors: number, bar: number, private readonly trigger: MsiTrigger) {
    if (!Number.isInteger(vectors) || vectors < 1 || vectors > MSIX_MAX_VECTORS) throw new RangeError(`MSI-X: ${vectors} vectors (1..${MSIX_MAX_VECTORS})`);
    this.table = new Uint32Array(vectors * 4);
    for (let v = 0; v < vectors; v++) this.table[v * 4 + 3] = MSIX_ENTRY_MASKED;
    this.pending = new Uint8Array(vectors);
    this.pbaOffset = vectors * MSIX_ENTRY_SIZE;
    const end = this.pbaOffset + Math.ceil(vectors / 64) * 8;
    this.barSize = Math.max(4096, 2 ** Math.ceil(Math.log2(end)));
    this.capability = config.addCapability(MSIX_CAPABILITY_ID, 12, [{ offset: 2, size: 2, mask: MSIX_ENABLE | MSIX_FUNCTION_MASK }]);
    config.set(this.capability + 2, 2, vectors - 1);
    config.set(this.capability + 4, 4, bar); // table at offset 0 of `bar`
    config.set(this.capability + 8, 4, this.pbaOffset | bar);
  }

  /** Message Control as the guest last wrote it. */
  private get control(): number {
    return this.config.read(this.capability + 2, 2);
  }

  /** True if the guest turned MSI-X on (the device must then not use INTx). */
  get enabled(): boolean {
    return (this.control & MSIX_ENABLE) !== 0;
  }

  /**
   * The device signals `vector`: sent now, or left pending while masked. Returns false if MSI-X
   * is off or the vector does not exist (the caller may use INTx instead).
   */
  notify(vector: number): boolean {
    if (!this.enabled || !(vector >= 0 && vector < this.vectors)) return false;
    if (this.masked(vector)) {
      this.pending[vector] = 1;
      this.stats.masked++;
    } else {
      this.send(vector);
    }
    return true;
  }

  /** True if `vector` is pending (its bit in the array). */
  isPending(vector: number): boolean {
    return this.pending[vector] === 1;
  }

  /** Call after the guest wrote configuration space: clearing the function mask releases pending messages. */
  configWritten(): void {
    this.releasePending();
  }

  read(offset: number, size: number): number {
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = v * 256 + this.readByte(offset + i);
    return v;
  }

  write(offset: number, size: number, value: number): void {
    if (offset < 0 || offset + size > this.pbaOffset) return; // the pending-bit array is read-only
    for (let i = 0; i < size; i++) {
      const at = offset + i;
      const word = at >>> 2;
      const shift = 8 * (at & 3);
      let b = (value >>> (8 * i)) & 0xff;
      if ((word & 3) === 0 && (at & 3) === 0) b &= 0xfc; // message address bits 1:0 are reserved, read as zero
      if ((word & 3) === 3) b &= shift === 0 ? MSIX_ENTRY_MASKED : 0; // vector control: only the mask bit is defined
      this.table[word] = ((this.table[word]! & ~(0xff << shift)) | (b << shift)) >>> 0;
    }
    this.releasePending();
  }

  private readByte(at: number): number {
    if (at >= 0 && at < this.pbaOffset) return (this.table[at >>> 2]! >>> (8 * (at & 3))) & 0xff;
    const bit = (at - this.pbaOffset) * 8;
    if (at < this.pbaOffset || bit >= Math.ceil(this.vectors / 64) * 64) return 0;
    let b = 0;
    for (let i = 0; i < 8; i++) if (this.pending[bit + i] === 1) b |= 1 << i;
    return b;
  }

  private masked(vector: number): boolean {
    return (this.control & MSIX_FUNCTION_MASK) !== 0 || (this.table[vector * 4 + 3]! & MSIX_ENTRY_MASKED) !== 0;
  }

  private releasePending(): void {
    if (!this.enabled || (this.control & MSIX_FUNCTION_MASK) !== 0) return;
    for (let v = 0; v < this.vectors; v++) {
      if (this.pending[v] === 1 && !this.masked(v)) {
        this.pending[v] = 0;
        this.send(v);
      }
    }
  }

  private send(vector: number): void {
    const t = this.table;
    this.stats.sent++;
    this.trigger.signalMsi(t[vector * 4 + 1]! * 2 ** 32 + t[vector * 4]!, t[vector * 4 + 2]!);
  }
}
