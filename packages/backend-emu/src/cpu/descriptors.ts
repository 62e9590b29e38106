/**
 * Segment descriptors: reading GDT entries into segment caches (MOV Sreg, LRET, IRET, LTR),
 * with the checks 64-bit mode keeps (present, type, privilege).
 * @module
 */
import { CS, SS, TR, type Cpu, type SegCache } from './cpu.js';

/** Reads the 8-byte descriptor for `selector` (GDT only; the LDT is not supported): low in return, high in `cpu.rh`. */
export function readDescriptor(cpu: Cpu, selector: number, errVector = 13): number {
  const index = selector & ~7;
  if ((selector & 4) !== 0) cpu.raise(errVector, selector & 0xfffc);
  if (index + 7 > cpu.gdtLimit) cpu.raise(errVector, selector & 0xfffc);
  return cpu.mmu.sysRead64(cpu.gdtBase + index);
}

/** Fills a segment cache from a descriptor's two halves. */
export function fillCache(s: SegCache, selector: number, lo: number, hi: number): void {
  s.selector = selector;
  s.base = ((hi & 0xff000000) | ((hi & 0xff) << 16) | (lo >>> 16)) >>> 0;
  const limit = (hi & 0xf0000) | (lo & 0xffff);
  s.g = ((hi >>> 23) & 1) === 1;
  s.limit = s.g ? limit * 4096 + 0xfff : limit;
  s.type = (hi >>> 8) & 0xf;
  s.s = ((hi >>> 12) & 1) === 1;
  s.dpl = (hi >>> 13) & 3;
  s.present = ((hi >>> 15) & 1) === 1;
  s.avl = ((hi >>> 20) & 1) === 1;
  s.l = ((hi >>> 21) & 1) === 1;
  s.db = ((hi >>> 22) & 1) === 1;
  s.unusable = false;
}

/** A null selector in a data segment register (allowed in 64-bit mode). */
export function nullSegment(s: SegCache, selector: number): void {
  s.selector = selector;
  s.base = 0; s.limit = 0; s.type = 0; s.s = false; s.dpl = 0; s.present = false;
  s.db = false; s.l = false; s.g = false; s.avl = false; s.unusable = true;
}

/** MOV Sreg / POP Sreg: loads a data segment register (ES, SS, DS, FS, GS). */
export function loadDataSegment(cpu: Cpu, reg: number, selector: number): void {
  const s = cpu.seg[reg]!;
  if ((selector & 0xfffc) === 0) {
    if (reg === SS && (cpu.cpl === 3 || (selector & 3) !== cpu.cpl)) cpu.raise(13, 0);
    nullSegment(s, selector);
    return;
  }
  const lo = readDescriptor(cpu, selector), hi = cpu.rh;
  const type = (hi >>> 8) & 0xf;
  const isCode = (type & 8) !== 0;
  if (((hi >>> 12) & 1) === 0) cpu.raise(13, selector & 0xfffc);
  if (reg === SS) {
    if (isCode || (type & 2) === 0 || (selector & 3) !== cpu.cpl || ((hi >>> 13) & 3) !== cpu.cpl) cpu.raise(13, selector & 0xfffc);
    if (((hi >>> 15) & 1) === 0) cpu.raise(12, selector & 0xfffc);
  } else {
    if (isCode && (type & 2) === 0) cpu.raise(13, selector & 0xfffc);
    if (((hi >>> 15) & 1) === 0) cpu.raise(11, selector & 0xfffc);
  }
  fillCache(s, selector, lo, hi);
  // Loading FS/GS in 64-bit mode takes the descriptor's 32-bit base, like the others.
}

/** Loads CS for a far return / IRET to privilege `rpl`: must be a present 64-bit code segment. */
export function loadCodeSegment(cpu: Cpu, selector: number): void {
  if ((selector & 0xfffc) === 0) cpu.raise(13, 0);
  const lo = readDescriptor(cpu, selector), hi = cpu.rh;
  const type = (hi >>> 8) & 0xf;
  if (((hi >>> 12) & 1) === 0 || (type & 8) === 0) cpu.raise(13, selector & 0xfffc);
  if (((hi >>> 15) & 1) === 0) cpu.raise(11, selector & 0xfffc);
  if (((hi >>> 21) & 1) === 0) {
    cpu.internal(`far transfer to selector 0x${selector.toString(16)}: compatibility mode (32-bit code) is not supported by the emulator`);
  }
  fillCache(cpu.seg[CS]!, selector, lo, hi);
  cpu.cpl = selector & 3;
}

/** LTR: loads the task register from a 16-byte available 64-bit TSS descriptor and marks it busy. */
export function loadTaskRegister(cpu: Cpu, selector: number): void {
  if ((selector & 0xfffc) === 0) cpu.raise(13, 0);
  const lo = readDescriptor(cpu, selector), hi = cpu.rh;
  const type = (hi >>> 8) & 0xf;
  if (((hi >>> 12) & 1) !== 0 || type !== 9) cpu.raise(13, selector & 0xfffc);
  if (((hi >>> 15) & 1) === 0) cpu.raise(11, selector & 0xfffc);
  const upper = cpu.mmu.sysRead32(cpu.gdtBase + (selector & ~7) + 8);
  const s = cpu.seg[TR]!;
  fillCache(s, selector, lo, hi);
  s.base = upper * 0x1_0000_0000 + s.base;
  s.base = s.base >= 0x8000_0000_0000 ? s.base - 2 ** 64 : s.base;
  s.type = 0xb;
  cpu.mmu.sysWrite32(cpu.gdtBase + (selector & ~7) + 4, (hi | 0x200) >>> 0);
}
