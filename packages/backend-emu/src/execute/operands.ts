/**
 * Operand access for the executor: effective addresses (64-bit arithmetic on 32-bit halves,
 * RIP-relative, FS/GS bases, the 0x67 override, the canonical check), registers of every size
 * (including AH–BH without REX) and ModRM r/m operands.
 * @module
 */
import { FS, type Cpu } from '../cpu/cpu.js';
import { BASE_RIP, type Insn } from '../decoder/decoder.js';

const TWO32 = 0x1_0000_0000;

/** Computes the memory operand's linear address into `cpu.eaddr` and returns it; #GP if not canonical. */
export function ea(cpu: Cpu, d: Insn): number {
  const lo = effectiveAddress(cpu, d, true);
  const h = cpu.rh | 0;
  const t = h >> 15;
  if (t !== 0 && t !== -1) cpu.raise(13, 0);
  const a = h * TWO32 + lo;
  cpu.eaddr = a;
  return a;
}

/** LEA's value: the effective address without segment base and without the canonical check (LEA never faults); low half returned, high half in `cpu.rh`. */
export function leaValue(cpu: Cpu, d: Insn): number {
  return effectiveAddress(cpu, d, false);
}

/** base + index × scale + disp (+ FS/GS base with `segment`): low half returned, high half in `cpu.rh`. */
function effectiveAddress(cpu: Cpu, d: Insn, segment: boolean): number {
  let lo = d.disp >>> 0;
  let hi = d.disp < 0 ? 0xffffffff : 0;
  const base = d.base;
  if (base >= 0) {
    let bl: number, bh: number;
    if (base === BASE_RIP) {
      const r = cpu.nextRip;
      bl = r >>> 0; bh = Math.floor(r / TWO32) >>> 0;
    } else {
      bl = cpu.lo[base]!; bh = cpu.hi[base]!;
    }
    const s = lo + bl;
    lo = s >>> 0;
    hi = (hi + bh + (s >= TWO32 ? 1 : 0)) >>> 0;
  }
  const index = d.index;
  if (index >= 0) {
    let il = cpu.lo[index]!, ih = cpu.hi[index]!;
    const sc = d.scale;
    if (sc !== 0) {
      ih = ((ih << sc) | (il >>> (32 - sc))) >>> 0;
      il = (il << sc) >>> 0;
    }
    const s = lo + il;
    lo = s >>> 0;
    hi = (hi + ih + (s >= TWO32 ? 1 : 0)) >>> 0;
  }
  if (d.adsz === 4) hi = 0;
  if (segment && d.seg >= FS) {
    const b = cpu.seg[d.seg]!.base;
    const s = lo + (b >>> 0);
    lo = s >>> 0;
    hi = (hi + (Math.floor(b / TWO32) >>> 0) + (s >= TWO32 ? 1 : 0)) >>> 0;
  }
  cpu.rh = hi;
  return lo;
}

/** Adds a signed offset to a linear address and checks it is canonical. */
export function canonical(cpu: Cpu, a: number): number {
  if (a >= 0x8000_0000_0000 || a < -0x8000_0000_0000) cpu.raise(13, 0);
  return a;
}

/** Reads general register `r` at `size` bytes (64-bit: high half in `cpu.rh`). */
export function getReg(cpu: Cpu, d: Insn, r: number, size: number): number {
  switch (size) {
    case 1:
      if (r >= 4 && r < 8 && d.rex === 0) return (cpu.lo[r - 4]! >>> 8) & 0xff;
      return cpu.lo[r]! & 0xff;
    case 2: return cpu.lo[r]! & 0xffff;
    case 4: return cpu.lo[r]!;
    default:
      cpu.rh = cpu.hi[r]!;
      return cpu.lo[r]!;
  }
}

/** Writes general register `r` at `size` bytes (32-bit writes clear the high half). */
export function setReg(cpu: Cpu, d: Insn, r: number, size: number, lo: number, hi: number): void {
  const L = cpu.lo;
  switch (size) {
    case 1:
      if (r >= 4 && r < 8 && d.rex === 0) L[r - 4] = (L[r - 4]! & 0xffff00ff) | ((lo & 0xff) << 8);
      else L[r] = (L[r]! & 0xffffff00) | (lo & 0xff);
      return;
    case 2: L[r] = (L[r]! & 0xffff0000) | (lo & 0xffff); return;
    case 4: L[r] = lo; cpu.hi[r] = 0; return;
    default: L[r] = lo; cpu.hi[r] = hi;
  }
}

/** Reads the r/m operand (memory operands compute `cpu.eaddr` first). */
export function readRM(cpu: Cpu, d: Insn, size: number): number {
  if (d.mod === 3) return getReg(cpu, d, d.rm, size);
  return cpu.mmu.read(ea(cpu, d), size);
}

/** Writes the r/m operand at the address computed by a previous {@link readRM} or {@link ea}. */
export function writeRM(cpu: Cpu, d: Insn, size: number, lo: number, hi: number): void {
  if (d.mod === 3) setReg(cpu, d, d.rm, size, lo, hi);
  else cpu.mmu.write(cpu.eaddr, size, lo, hi);
}

/** Writes the r/m operand, computing the address (pure stores). */
export function storeRM(cpu: Cpu, d: Insn, size: number, lo: number, hi: number): void {
  if (d.mod === 3) setReg(cpu, d, d.rm, size, lo, hi);
  else cpu.mmu.write(ea(cpu, d), size, lo, hi);
}

/** Sign-extends a value of `size` bytes to 32 bits (as a signed number). */
export function sext(v: number, size: number): number {
  return size === 1 ? (v << 24) >> 24 : size === 2 ? (v << 16) >> 16 : v | 0;
}

/** The immediate as an operand of `size`: low half returned, high half (sign extension) in `cpu.rh`. */
export function immOperand(cpu: Cpu, d: Insn, size: number): number {
  const v = d.imm;
  if (size === 8) { cpu.rh = v < 0 ? 0xffffffff : 0; return v >>> 0; }
  cpu.rh = 0;
  return size === 4 ? v >>> 0 : size === 2 ? v & 0xffff : v & 0xff;
}

// ------------------------------------------------------------------ stack

/** Pushes a 64-bit value (or 16-bit with `size` 2); RSP changes only once the store succeeded. */
export function push(cpu: Cpu, lo: number, hi: number, size = 8): void {
  const sp = canonical(cpu, cpu.rsp - size);
  if (size === 8) cpu.mmu.write64(sp, lo, hi);
  else cpu.mmu.write16(sp, lo);
  cpu.rsp = sp;
}

/** Pops a 64-bit value (low half returned, high in `cpu.rh`), or 16-bit with `size` 2. */
export function pop(cpu: Cpu, size = 8): number {
  const sp = cpu.rsp;
  let v: number;
  if (size === 8) {
    v = cpu.mmu.read64(sp);
  } else {
    v = cpu.mmu.read16(sp);
    cpu.rh = 0;
  }
  const h = cpu.rh;
  cpu.rsp = sp + size;
  cpu.rh = h;
  return v;
}
