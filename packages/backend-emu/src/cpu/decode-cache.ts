/**
 * The decoded-instruction cache: decoded instructions kept per guest-physical code page, looked up
 * by the page and the offset of RIP in it. Each entry keeps the bytes it was decoded from (as
 * masked 32-bit words) and is used only while memory still holds exactly those bytes, so any
 * writer (the guest, self-modifying code, the VMM or a device writing guest memory between two
 * runs) invalidates it without write hooks, and CR3/paging changes need no flush: translation is
 * done (by the fetcher and the TLB) before the lookup, and 64-bit decoding depends on the bytes
 * alone. Instructions that cross a page boundary are not cached.
 * @module
 */
import { Insn } from '../decoder/decoder.js';
import type { Mmu } from '../mmu/mmu.js';
import type { BlockFn } from '../execute/compile.js';

/** Pages with cached instructions before the cache starts over (bounds memory for guests that generate code). */
export const MAX_CACHED_PAGES = 1024;

/** Pages below this physical page number live in an array; above, in a map. */
const DENSE_PAGES = 1 << 18;
const DENSE_LIMIT = DENSE_PAGES * 4096;

/** `Block.mem` values: the instruction accesses memory, or may leave the block (a conditional jump). */
export const M_MEMORY = 1, M_EXIT = 2;

/** Longest basic block (instructions). */
export const MAX_BLOCK = 64;

/**
 * A basic block: the straight-line run of instructions starting at one physical address, decoded
 * once and executed with one lookup, one stamp check and one deadline check (see
 * `Engine.runBatch` in run/engine.ts). Every instruction but a lone first one may share a block
 * (`Insn.role` is not `R_ALONE`: a specialised handler, or the general executor for instructions
 * that change no CPL, paging, mode or interrupt state); only the last may be a control transfer
 * or a repeating string instruction, except conditional jumps, which leave the block when taken. All instructions lie wholly in one page.
 */
export class Block {
  /** The instructions, in order. */
  readonly insns: Insn[] = [];
  /** Offset in the page of each instruction's first byte (for re-checking the bytes). */
  readonly starts: number[] = [];
  /** Offset from the block's first byte to the end of each instruction (RIP after it, relative). */
  readonly ends: number[] = [];
  /**
   * M_MEMORY where the instruction accesses memory (a store or a page walk may move `codeStamp` or
   * schedule an MMIO exit), M_EXIT for a conditional jump before the last instruction (taken, it
   * leaves the block), else 0.
   */
  readonly mem: number[] = [];
  count = 0;
  /** The MMU's `codeStamp` when the block was last checked against memory. */
  stamp = -1;
  /** Times the block ran whole (for compiling hot blocks). */
  runs = 0;
  /** The compiled form (see execute/compile.ts), null when not (yet) compiled, false when it cannot be. */
  fn: BlockFn | null | false = null;
}

export class DecodeCache {
  private dense: (Insn | undefined)[][] = new Array<(Insn | undefined)[]>(DENSE_PAGES);
  private readonly sparse = new Map<number, (Insn | undefined)[]>();
  private blockDense: (Block | undefined)[][] = new Array<(Block | undefined)[]>(DENSE_PAGES);
  private readonly blockSparse = new Map<number, (Block | undefined)[]>();
  private pages = 0;
  /** Blocks built (tests, telemetry). */
  blocksBuilt = 0;
  /** Instructions decoded because no valid entry was cached (tests, telemetry). */
  misses = 0;

  /** `mmu` keeps the code-page marks and the code-write stamp (see `Mmu.codeStamp`). */
  constructor(private readonly mmu: Mmu) {}

  /** The cached instruction at `off` in physical page `phys` if `bytes[at…]` still holds it, else undefined. */
  lookup(phys: number, off: number, bytes: Uint8Array<ArrayBufferLike>, at: number): Insn | undefined {
    const slots = phys < DENSE_LIMIT ? this.dense[phys >>> 12] : this.sparse.get(phys / 4096);
    if (slots === undefined) return undefined;
    const d = slots[off];
    if (d === undefined) return undefined;
    // Checked against memory since the last write that could have changed code: still valid.
    const stamp = this.mmu.codeStamp;
    if (d.stamp === stamp) return d;
    if (!this.matches(d, bytes, at)) return undefined;
    d.stamp = stamp;
    return d;
  }

  /**
   * The block starting at `off` in physical page `phys` if memory (the page's bytes from
   * `bytes[base]`) still holds all its instructions, else undefined.
   */
  lookupBlock(phys: number, off: number, bytes: Uint8Array<ArrayBufferLike>, base: number): Block | undefined {
    const slots = phys < DENSE_LIMIT ? this.blockDense[phys >>> 12] : this.blockSparse.get(phys / 4096);
    if (slots === undefined) return undefined;
    const b = slots[off];
    if (b === undefined) return undefined;
    const stamp = this.mmu.codeStamp;
    if (b.stamp === stamp) return b;
    const insns = b.insns, starts = b.starts;
    for (let i = 0; i < b.count; i++) {
      if (!this.matches(insns[i]!, bytes, base + starts[i]!)) { slots[off] = undefined; return undefined; }
    }
    b.stamp = stamp;
    return b;
  }

  /** Stores block `b` (checked against memory at the current stamp) starting at `off` in physical page `phys`. */
  storeBlock(phys: number, off: number, b: Block): void {
    const pn = phys / 4096;
    let slots = pn < DENSE_PAGES ? this.blockDense[pn] : this.blockSparse.get(pn);
    if (slots === undefined) {
      if (this.pages >= MAX_CACHED_PAGES) this.clear();
      slots = new Array<Block | undefined>(4096);
      if (pn < DENSE_PAGES) {
        this.blockDense[pn] = slots;
      } else {
        this.blockSparse.set(pn, slots);
      }
      this.pages++;
    }
    if (pn < DENSE_PAGES) this.mmu.codeMarks[pn] = 1;
    b.stamp = this.mmu.codeStamp;
    this.blocksBuilt++;
    slots[off] = b;
  }

  /** Whether `bytes[at…]` still holds the bytes `d` was decoded from. */
  matches(d: Insn, bytes: Uint8Array<ArrayBufferLike>, at: number): boolean {
    const w0 = bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24);
    const len = d.len;
    if (len <= 4) return (w0 & d.cmask) === d.c0;
    if (w0 !== d.c0) return false;
    const w1 = bytes[at + 4]! | (bytes[at + 5]! << 8) | (bytes[at + 6]! << 16) | (bytes[at + 7]! << 24);
    if (len <= 8) return (w1 & d.cmask) === d.c1;
    if (w1 !== d.c1) return false;
    const w2 = bytes[at + 8]! | (bytes[at + 9]! << 8) | (bytes[at + 10]! << 16) | (bytes[at + 11]! << 24);
    if (len <= 12) return (w2 & d.cmask) === d.c2;
    if (w2 !== d.c2) return false;
    const w3 = bytes[at + 12]! | (bytes[at + 13]! << 8) | (bytes[at + 14]! << 16);
    return (w3 & d.cmask) === d.c3;
  }

  /** Stores `d` (decoded from `bytes[at…]`, wholly inside physical page `phys` at `off`). */
  store(phys: number, off: number, bytes: Uint8Array<ArrayBufferLike>, at: number, d: Insn): void {
    const pn = phys / 4096;
    let slots = pn < DENSE_PAGES ? this.dense[pn] : this.sparse.get(pn);
    if (slots === undefined) {
      if (this.pages >= MAX_CACHED_PAGES) this.clear();
      slots = new Array<Insn | undefined>(4096);
      if (pn < DENSE_PAGES) {
        this.dense[pn] = slots;
        this.mmu.codeMarks[pn] = 1;
      } else {
        this.sparse.set(pn, slots);
      }
      this.pages++;
    }
    const len = d.len;
    const word = (k: number): number => {
      let w = 0;
      for (let i = 0; i < 4 && 4 * k + i < len; i++) w |= bytes[at + 4 * k + i]! << (8 * i);
      return w;
    };
    d.c0 = word(0); d.c1 = word(1); d.c2 = word(2); d.c3 = word(3);
    const rest = len - 4 * Math.floor((len - 1) / 4);
    d.cmask = rest === 4 ? -1 : (1 << (8 * rest)) - 1;
    d.stamp = this.mmu.codeStamp;
    slots[off] = d;
  }

  /** Forgets everything. */
  clear(): void {
    this.dense = new Array<(Insn | undefined)[]>(DENSE_PAGES);
    this.sparse.clear();
    this.blockDense = new Array<(Block | undefined)[]>(DENSE_PAGES);
    this.blockSparse.clear();
    this.pages = 0;
    this.mmu.codeMarks.fill(0);
  }
}
