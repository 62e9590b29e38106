/**
 * Port I/O: IN, OUT and the string forms INS/OUTS with REP. Each access becomes one `Io` exit
 * (a string instruction hands up to a page of elements to the VMM in one exit, with `count`, as
 * KVM does). A read abandons the instruction; the vCPU re-executes it after the VMM answered and
 * the same access then takes the answer, so no instruction is ever half done.
 * @module
 */
import { RCX, RDI, RSI, type Cpu } from '../cpu/cpu.js';
import { DF } from '../cpu/flags.js';
import type { Insn } from '../decoder/decoder.js';

/** Where port accesses go (the vCPU's exit machinery). `data` holds the elements, from offset 0. */
export interface IoPort {
  readonly data: DataView;
  /** Bytes `data` can hold. */
  readonly capacity: number;
  /** Reads `count` elements into `data` (replayed answer), or abandons the instruction for an exit. */
  ioIn(port: number, size: number, count: number): void;
  /** `count` elements are in `data`: schedules the exit that hands them to the VMM. */
  ioOut(port: number, size: number, count: number): void;
}

/** #GP(0) unless CPL ≤ IOPL (the emulator models no TSS I/O bitmap: ring 3 needs IOPL 3). */
function checkIo(cpu: Cpu): void {
  if (cpu.cpl > ((cpu.flags >>> 12) & 3)) cpu.raise(13, 0);
}

function getElem(v: DataView, i: number, size: number): number {
  return size === 1 ? v.getUint8(i) : size === 2 ? v.getUint16(i * 2, true) : v.getUint32(i * 4, true);
}

function setElem(v: DataView, i: number, size: number, x: number): void {
  if (size === 1) v.setUint8(i, x);
  else if (size === 2) v.setUint16(i * 2, x, true);
  else v.setUint32(i * 4, x >>> 0, true);
}

/** IN: returns the value read. */
export function portIn(cpu: Cpu, io: IoPort, port: number, size: number): number {
  checkIo(cpu);
  io.ioIn(port, size, 1);
  return getElem(io.data, 0, size);
}

/** OUT. */
export function portOut(cpu: Cpu, io: IoPort, port: number, size: number, value: number): void {
  checkIo(cpu);
  setElem(io.data, 0, size, value);
  io.ioOut(port, size, 1);
}

/** Elements a string access can move before `addr` leaves its page, in the direction of DF. */
function pageRoom(addr: number, size: number, down: boolean): number {
  const off = addr & 0xfff;
  const n = down ? Math.floor(off / size) + 1 : Math.floor((4096 - off) / size);
  return Math.max(1, n);
}

/** Elements of this REP string step (≥ 1 unless RCX is 0). */
function repCount(cpu: Cpu, d: Insn, addr: number, size: number, io: IoPort, down: boolean): number {
  if (d.rep === 0) return 1;
  const rcx = d.adsz === 4 ? cpu.lo[RCX]! : cpu.hi[RCX]! !== 0 ? 0x7fffffff : cpu.lo[RCX]!;
  if (rcx === 0) return 0;
  return Math.min(rcx, pageRoom(addr, size, down), Math.floor(io.capacity / size));
}

function advance(cpu: Cpu, d: Insn, reg: number, delta: number): void {
  if (d.adsz === 4) { cpu.lo[reg] = (cpu.lo[reg]! + delta) >>> 0; cpu.hi[reg] = 0; }
  else cpu.setNumber(reg, cpu.signed(reg) + delta);
}

function strAddr(cpu: Cpu, reg: number, d: Insn, seg: boolean): number {
  let a = d.adsz === 4 ? cpu.lo[reg]! : cpu.signed(reg);
  if (seg && d.seg >= 4) a += cpu.seg[d.seg]!.base;
  return a;
}

/** RCX -= n (n ≤ RCX, n < 2^32); true when RCX reached 0. */
function decRcx(cpu: Cpu, d: Insn, n: number): boolean {
  if (d.adsz === 4) { cpu.lo[RCX] = (cpu.lo[RCX]! - n) >>> 0; cpu.hi[RCX] = 0; return cpu.lo[RCX] === 0; }
  // Exact 64-bit subtraction on the halves (as LOOP's): RCX above 2^53 is not a safe Number.
  const lo = cpu.lo[RCX]! - n;
  cpu.lo[RCX] = lo >>> 0;
  if (lo < 0) cpu.hi[RCX] = (cpu.hi[RCX]! - 1) >>> 0;
  return (cpu.lo[RCX]! | cpu.hi[RCX]!) === 0;
}

/** INS: port → [RDI]. */
export function ins(cpu: Cpu, io: IoPort, d: Insn, size: number): void {
  checkIo(cpu);
  const port = cpu.lo[2]! & 0xffff;
  const down = (cpu.flags & DF) !== 0;
  const addr = strAddr(cpu, RDI, d, false);
  const n = repCount(cpu, d, addr, size, io, down);
  if (n === 0) return;
  const first = down ? addr - (n - 1) * size : addr;
  cpu.mmu.probeWrite(first, n * size);
  io.ioIn(port, size, n);
  const step = down ? -size : size;
  for (let i = 0; i < n; i++) cpu.mmu.write(addr + i * step, size, getElem(io.data, i, size), 0);
  advance(cpu, d, RDI, n * step);
  if (d.rep !== 0 && !decRcx(cpu, d, n)) cpu.nextRip = cpu.rip;
}

/** OUTS: [RSI] → port. */
export function outs(cpu: Cpu, io: IoPort, d: Insn, size: number): void {
  checkIo(cpu);
  const port = cpu.lo[2]! & 0xffff;
  const down = (cpu.flags & DF) !== 0;
  const addr = strAddr(cpu, RSI, d, true);
  const n = repCount(cpu, d, addr, size, io, down);
  if (n === 0) return;
  const step = down ? -size : size;
  for (let i = 0; i < n; i++) setElem(io.data, i, size, cpu.mmu.read(addr + i * step, size));
  io.ioOut(port, size, n);
  advance(cpu, d, RSI, n * step);
  if (d.rep !== 0 && !decRcx(cpu, d, n)) cpu.nextRip = cpu.rip;
}
