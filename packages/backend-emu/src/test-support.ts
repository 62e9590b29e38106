/**
 * Test harness: an emulated vCPU in the VMM's long-mode boot state with hand-encoded code at
 * {@link CODE}, an IDT whose handlers halt (then pop the error code and IRETQ when resumed), a
 * GDT with ring-0 and ring-3 segments and a TSS (RSP0, IST1), and helpers for user-accessible
 * page tables. Not part of the package's API.
 * @module
 */
import {
  ExitKind, bootRegisters, longModeSpecialRegisters, writeBootTables, type GuestMemory, type VmExit,
} from '@hyvisor/core';
import { EmuBackend } from './emu-backend.js';
import type { EmuVcpu } from './emu-vcpu.js';
import type { EmuVm } from './emu-vm.js';
import { getFlags } from './cpu/flags.js';

export const CODE = 0x100000;
export const DATA = 0x200000;
export const STACK_TOP = 0x80000;
export const RSP0 = 0x90000;
export const IST1 = 0xa0000;
export const GDT = 0x1000, TSS = 0x2000, IDT = 0x3000, HANDLERS = 0x4000;
/** Selectors of the test GDT. */
export const KCODE = 0x08, KDATA = 0x10, UDATA = 0x1b, UCODE = 0x23, TSS_SEL = 0x28;
/** Vectors that push an error code. */
export const ERROR_VECTORS = new Set([8, 10, 11, 12, 13, 14, 17, 21]);

export interface Harness {
  readonly backend: EmuBackend;
  readonly vm: EmuVm;
  readonly vcpu: EmuVcpu;
  readonly mem: GuestMemory;
}

/** Hex bytes (spaces and comments after `;` allowed per line). */
export function hex(...lines: string[]): Uint8Array {
  const s = lines.map((l) => l.split(';')[0]!).join('').replace(/\s+/g, '');
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** A vCPU in the boot state with `code` at {@link CODE}, RSP at {@link STACK_TOP}, the test GDT/IDT/TSS loaded. */
export function harness(code: Uint8Array | string = '', ramMiB = 8): Harness {
  const backend = new EmuBackend();
  const vm = backend.createVm({ name: 'test' });
  vm.addRegion('ram', 0, ramMiB * 1024 * 1024);
  const mem = vm.memory;
  writeBootTables(mem);
  const vcpu = vm.createVcpu(0);
  const sregs = longModeSpecialRegisters(vcpu.getSpecialRegisters());
  writeTestTables(mem);
  sregs.gdt = { base: BigInt(GDT), limit: 7 * 8 - 1 };
  sregs.idt = { base: BigInt(IDT), limit: 256 * 16 - 1 };
  sregs.tr = { ...sregs.tr, base: BigInt(TSS), limit: 0x67, selector: TSS_SEL };
  vcpu.setSpecialRegisters(sregs);
  const regs = bootRegisters(BigInt(CODE));
  regs.rsp = BigInt(STACK_TOP);
  vcpu.setRegisters(regs);
  mem.write(CODE, typeof code === 'string' ? hex(code) : code);
  return { backend, vm, vcpu, mem };
}

function desc(base: number, limit: number, access: number, flags: number): bigint {
  return (BigInt(base >>> 24) << 56n) | (BigInt(flags & 0xf) << 52n) | (BigInt((limit >>> 16) & 0xf) << 48n) |
    (BigInt(access) << 40n) | (BigInt(base & 0xffffff) << 16n) | BigInt(limit & 0xffff);
}

function writeTestTables(mem: GuestMemory): void {
  mem.setU64(GDT, 0n);
  mem.setU64(GDT + 0x08, desc(0, 0xfffff, 0x9b, 0xa)); // kernel code, L
  mem.setU64(GDT + 0x10, desc(0, 0xfffff, 0x93, 0xc)); // kernel data
  mem.setU64(GDT + 0x18, desc(0, 0xfffff, 0xf3, 0xc)); // user data, DPL 3
  mem.setU64(GDT + 0x20, desc(0, 0xfffff, 0xfb, 0xa)); // user code, DPL 3, L
  mem.setU64(GDT + 0x28, desc(TSS, 0x67, 0x8b, 0)); // busy 64-bit TSS
  mem.setU64(GDT + 0x30, 0n);
  mem.setU64(TSS + 4, BigInt(RSP0));
  mem.setU64(TSS + 0x24, BigInt(IST1));
  for (let v = 0; v < 256; v++) {
    const h = HANDLERS + v * 16;
    // hlt; [add rsp, 8]; iretq
    const stub = ERROR_VECTORS.has(v) ? [0xf4, 0x48, 0x83, 0xc4, 0x08, 0x48, 0xcf] : [0xf4, 0x48, 0xcf];
    mem.write(h, Uint8Array.from(stub));
    setGate(mem, v, h, 0, 0, 0xe);
  }
}

/** Writes IDT gate `vector` → `target` with `dpl`, `ist` and gate `type` (0xE interrupt, 0xF trap). */
export function setGate(mem: GuestMemory, vector: number, target: number, dpl: number, ist: number, type: number): void {
  const g = IDT + vector * 16;
  mem.setU32(g, (target & 0xffff) | (KCODE << 16));
  mem.setU32(g + 4, ((target & 0xffff0000) | 0x8000 | (dpl << 13) | (type << 8) | ist) >>> 0);
  mem.setU32(g + 8, Math.floor(target / 0x1_0000_0000) >>> 0);
  mem.setU32(g + 12, 0);
}

/** Address of the halting handler of `vector`. */
export function handler(vector: number): number {
  return HANDLERS + vector * 16;
}

/** Page-table pool for {@link userPaging} and {@link map4k}. */
const PT_POOL = 0x400000;
const PML4 = PT_POOL;

/** Tables with the first 8 MiB identity-mapped by user-accessible, writable 2 MiB pages; CR3 → them. */
export function userPaging(h: Harness): void {
  const m = h.mem;
  m.fill(PT_POOL, 0x10000);
  m.setU64(PML4, BigInt(PML4 + 0x1000) | 7n);
  m.setU64(PML4 + 0x1000, BigInt(PML4 + 0x2000) | 7n);
  for (let i = 0; i < 4; i++) m.setU64(PML4 + 0x2000 + i * 8, BigInt(i * 0x200000) | 0x87n);
  const s = h.vcpu.getSpecialRegisters();
  s.cr3 = BigInt(PML4);
  s.efer |= 0x800n; // NXE
  s.cr0 |= 0x10000n; // WP
  h.vcpu.setSpecialRegisters(s);
  nextTable = PML4 + 0x3000;
}

let nextTable = PT_POOL + 0x3000;

/** Maps the 4 KiB page at `va` (in PML4 slot 1 or above: 512 GiB+) to `pa` with PTE `flags` (P, RW, US, NX=bit 63). */
export function map4k(h: Harness, va: number, pa: number, flags: bigint): number {
  const m = h.mem;
  let table = PML4;
  for (const shift of [39, 30, 21]) {
    const idx = Math.floor(va / 2 ** shift) % 512;
    const e = m.u64(table + idx * 8)!;
    if ((e & 1n) === 0n) {
      const t = nextTable; nextTable += 0x1000;
      m.fill(t, 0x1000);
      m.setU64(table + idx * 8, BigInt(t) | 7n);
      table = t;
    } else {
      table = Number(e & 0xffffffffff000n);
    }
  }
  const pte = table + (Math.floor(va / 4096) % 512) * 8;
  m.setU64(pte, BigInt(pa) | flags);
  return pte;
}

/** Switches the vCPU to ring 3 (user code/data selectors). */
export function toUser(h: Harness): void {
  const s = h.vcpu.getSpecialRegisters();
  s.cs = { ...s.cs, selector: UCODE, dpl: 3 };
  s.ss = { ...s.ss, selector: UDATA, dpl: 3 };
  h.vcpu.setSpecialRegisters(s);
}

/** Runs until an exit other than a deadline; fails loudly on error exits. */
export function run(h: Harness): VmExit {
  const e = h.vcpu.run();
  if (e.kind === ExitKind.InternalError) throw new Error(`internal error: ${e.reason}`);
  return e;
}

/** Runs to the next HLT and returns the vCPU. */
export function runToHlt(h: Harness): EmuVcpu {
  const e = run(h);
  if (e.kind !== ExitKind.Hlt) throw new Error(`expected a HLT exit, got kind ${e.kind} (rip 0x${h.vcpu.readRegister('rip').toString(16)})`);
  return h.vcpu;
}

/** RFLAGS with the arithmetic flags computed. */
export function rflags(h: Harness): number {
  return getFlags(h.vcpu.cpu);
}

/** Register as bigint. */
export function reg(h: Harness, name: Parameters<EmuVcpu['readRegister']>[0]): bigint {
  return h.vcpu.getRegisters()[name];
}

/** Sets registers by name. */
export function setRegs(h: Harness, values: Partial<Record<Parameters<EmuVcpu['readRegister']>[0], bigint>>): void {
  const r = h.vcpu.getRegisters();
  Object.assign(r, values);
  h.vcpu.setRegisters(r);
}
