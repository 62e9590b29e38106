/**
 * Builds basic blocks (`Block` in cpu/decode-cache.ts): from a decoded first instruction, the
 * straight-line run of instructions that may share a block (`Insn.role`: those with specialised
 * handlers and the general executor's instructions that change no CPL, paging, mode or interrupt
 * state and do no port I/O) and lie wholly in the same page, up to `MAX_BLOCK`, ending with the
 * first control transfer or repeating string instruction; a conditional jump leaves the block
 * when taken and continues it when not (a superblock with side exits). Instructions past the first are
 * decoded from the page's bytes only: building never fetches, faults or exits.
 * @module
 */
import { Block, MAX_BLOCK, M_EXIT, M_MEMORY, type DecodeCache } from '../cpu/decode-cache.js';
import type { Fetcher } from '../cpu/fetch.js';
import { Insn, decode, type CodeReader } from '../decoder/decoder.js';
import { F_JCC, accessesMemory, classify } from '../execute/fast.js';
import { R_ALONE, R_LINE } from '../isa/derive.js';

/** Thrown by {@link PageReader} when an instruction would run past the page. */
const PAST_PAGE = { pastPage: true } as const;

/** Reads code bytes from one page's RAM: never fetches or faults. */
class PageReader implements CodeReader {
  bytes: Uint8Array<ArrayBufferLike> = new Uint8Array(0);
  /** Index in `bytes` of the instruction's first byte. */
  at = 0;
  /** Bytes left in the page from `at`. */
  room = 0;
  byte(i: number): number {
    if (i >= this.room) throw PAST_PAGE;
    return this.bytes[this.at + i]!;
  }
}

/** Builds and caches the blocks of the fetcher's current page. */
export class BlockBuilder {
  private readonly reader = new PageReader();

  constructor(private readonly fetcher: Fetcher, private readonly cache: DecodeCache) {}

  /**
   * Builds (and caches) the block starting at `off` in the fetcher's page, whose first
   * instruction `first` (cached, wholly in the page) is already decoded: `first`, then while it
   * and each next instruction are straight-line (`R_LINE`), the next instruction if it lies wholly
   * in the page and may share a block (not `R_ALONE`); conditional jumps continue the block. A
   * first instruction that may not share a block is a block of its own.
   */
  build(off: number, first: Insn): Block {
    const f = this.fetcher, cache = this.cache;
    const phys = f.physBase, bytes = f.bytes, base = f.base;
    const b = new Block();
    let d = first, o = off;
    for (;;) {
      b.insns.push(d);
      b.starts.push(o);
      o += d.len;
      b.ends.push(o - off);
      // Instructions without a handler run through `execute`: any of them may access memory. A
      // conditional jump does not end the block: it leaves it when taken (M_EXIT).
      const jcc = d.fast === F_JCC;
      b.mem.push(jcc ? M_EXIT : d.fast === 0 || accessesMemory(d.fast) ? M_MEMORY : 0);
      b.count++;
      if ((d.role !== R_LINE && !jcc) || b.count >= MAX_BLOCK || o >= 4096) break;
      let next = cache.lookup(phys, o, bytes, base + o);
      if (next === undefined) {
        const r = this.reader;
        r.bytes = bytes; r.at = base + o; r.room = 4096 - o;
        next = new Insn();
        try {
          decode(r, next);
        } catch (err) {
          if (err === PAST_PAGE) break;
          throw err;
        }
        next.fast = classify(next);
        cache.store(phys, o, bytes, base + o, next);
      }
      if (next.role === R_ALONE) break;
      d = next;
    }
    cache.storeBlock(phys, off, b);
    return b;
  }
}
