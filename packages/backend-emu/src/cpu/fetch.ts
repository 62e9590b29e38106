/**
 * Instruction fetch for the decoder: the current code page is translated once (execute access,
 * NX and U/S checked) and read straight from guest RAM until the MMU flushes or the privilege
 * level changes; bytes across a page boundary are fetched (and may fault) only when needed.
 * @module
 */
import type { Cpu } from './cpu.js';
import type { CodeReader } from '../decoder/decoder.js';
import { ACC_EXEC } from '../mmu/mmu.js';

export class Fetcher implements CodeReader {
  /** Linear address of the instruction being decoded. */
  start = 0;
  /** Linear address of the cached code page (0.5: none). */
  pageLin = 0.5;
  /** The bytes of the RAM region holding the cached page. */
  bytes: Uint8Array<ArrayBufferLike> = new Uint8Array(0);
  /** Index in `bytes` of the cached page's first byte. */
  base = 0;
  /** Guest-physical address of the cached page. */
  physBase = 0;
  private generation = -1;
  private cpl = -1;

  constructor(private readonly cpu: Cpu) {}

  byte(i: number): number {
    const lin = this.start + i;
    const off = lin - this.pageLin;
    if (off >= 0 && off < 4096 && this.generation === this.cpu.mmu.generation && this.cpl === this.cpu.cpl) {
      return this.bytes[this.base + off]!;
    }
    return this.bytes[this.locateSlow(lin)]!;
  }

  /**
   * Makes the page of `lin` the cached code page (translating it for execution: may raise #PF or
   * #GP) and returns the offset of `lin` in it.
   */
  locate(lin: number): number {
    const off = lin - this.pageLin;
    if (off >= 0 && off < 4096 && this.generation === this.cpu.mmu.generation && this.cpl === this.cpu.cpl) return off;
    return this.locateSlow(lin) - this.base;
  }

  /** Translates the page of `lin`; returns the index of `lin` in `bytes`. */
  private locateSlow(lin: number): number {
    const cpu = this.cpu;
    if (lin >= 0x8000_0000_0000 || lin < -0x8000_0000_0000) cpu.raise(13, 0);
    const mmu = cpu.mmu;
    const pa = mmu.translate(lin, ACC_EXEC, cpu.cpl === 3);
    const page = pa - (pa & 0xfff);
    const ph = mmu.phys;
    if (page + 4096 <= ph.fastEnd) {
      this.bytes = ph.bytes; this.base = page;
    } else {
      const r = ph.find(page, 4096);
      if (!r) return cpu.internal(`instruction fetch from guest-physical 0x${pa.toString(16)}, which is not RAM (executing MMIO is not supported)`);
      this.bytes = r.bytes; this.base = page - r.start;
    }
    this.physBase = page;
    this.pageLin = lin - (lin & 0xfff);
    this.generation = mmu.generation;
    this.cpl = cpu.cpl;
    return this.base + (lin & 0xfff);
  }
}
