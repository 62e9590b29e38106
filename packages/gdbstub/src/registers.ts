/**
 * The x86-64 registers as gdb numbers them, and the target description XML that tells gdb so
 * (features `org.gnu.gdb.i386.core`, `org.gnu.gdb.i386.segments` for FS/GS base, and Hyvisor's
 * `org.hyvisor.x86.sys` for CR0–CR8 and EFER). gdb's amd64 architecture requires the x87
 * registers in the core feature; the vCPU contract has no FPU state yet, so they are described
 * and reported unavailable (`xx…` in `g`), and writes to them are refused.
 * @module
 */
import type { Registers, Segment, SpecialRegisters } from '@hyvisor/core';

/** Register values as the stub holds them while the vCPU is stopped. */
export interface RegisterState {
  regs: Registers;
  sregs: SpecialRegisters;
}

/** One register in gdb's numbering. */
export interface RegisterDef {
  readonly name: string;
  readonly bits: number;
  readonly type: string;
  readonly group?: string;
  readonly feature: 'core' | 'segments' | 'sys';
  /** The value, or undefined when this vCPU cannot report it. */
  get(s: RegisterState): bigint | undefined;
  /** Stores `v`; absent when the register cannot be written. Says which part of the state changed. */
  set?(s: RegisterState, v: bigint): 'regs' | 'sregs';
}

type GeneralName = keyof Registers & string;
const general = (name: GeneralName, type = 'int64'): RegisterDef => ({
  name, bits: 64, type, feature: 'core',
  get: (s) => s.regs[name],
  set: (s, v) => { s.regs[name] = v; return 'regs'; },
});

type SegName = 'cs' | 'ss' | 'ds' | 'es' | 'fs' | 'gs';
const selector = (name: SegName): RegisterDef => ({
  name, bits: 32, type: 'int32', feature: 'core',
  get: (s) => BigInt(s.sregs[name].selector),
  // The selector alone: the hidden descriptor part stays (a debugger rarely reloads segments).
  set: (s, v) => { (s.sregs[name] as Segment).selector = Number(v & 0xffffn); return 'sregs'; },
});

const unavailable = (name: string, bits: number, type: string): RegisterDef => ({ name, bits, type, group: 'float', feature: 'core', get: () => undefined });

const base = (name: 'fs' | 'gs'): RegisterDef => ({
  name: `${name}_base`, bits: 64, type: 'int', feature: 'segments',
  get: (s) => s.sregs[name].base,
  set: (s, v) => { (s.sregs[name] as Segment).base = v; return 'sregs'; },
});

type ControlName = 'cr0' | 'cr2' | 'cr3' | 'cr4' | 'cr8' | 'efer';
const control = (name: ControlName): RegisterDef => ({
  name, bits: 64, type: 'int64', group: 'system', feature: 'sys',
  get: (s) => s.sregs[name],
  set: (s, v) => { s.sregs[name] = v; return 'sregs'; },
});

/** Every register in gdb's order (the `g` packet's layout; the index is the `p`/`P` number). */
export const REGISTERS: readonly RegisterDef[] = [
  general('rax'), general('rbx'), general('rcx'), general('rdx'), general('rsi'), general('rdi'),
  general('rbp', 'data_ptr'), general('rsp', 'data_ptr'),
  general('r8'), general('r9'), general('r10'), general('r11'), general('r12'), general('r13'), general('r14'), general('r15'),
  general('rip', 'code_ptr'),
  {
    name: 'eflags', bits: 32, type: 'i386_eflags', feature: 'core',
    get: (s) => s.regs.rflags & 0xffff_ffffn,
    set: (s, v) => { s.regs.rflags = (v & 0xffff_ffffn) | 2n; return 'regs'; },
  },
  selector('cs'), selector('ss'), selector('ds'), selector('es'), selector('fs'), selector('gs'),
  ...[0, 1, 2, 3, 4, 5, 6, 7].map((i) => unavailable(`st${i}`, 80, 'i387_ext')),
  ...['fctrl', 'fstat', 'ftag', 'fiseg', 'fioff', 'foseg', 'fooff', 'fop'].map((n) => unavailable(n, 32, 'int')),
  base('fs'), base('gs'),
  control('cr0'), control('cr2'), control('cr3'), control('cr4'), control('cr8'), control('efer'),
];

/** A register's value as gdb's target-byte-order hex (`xx…` when unavailable). */
export function encodeRegister(def: RegisterDef, s: RegisterState): string {
  const v = def.get(s);
  const bytes = def.bits / 8;
  if (v === undefined) return 'xx'.repeat(bytes);
  let out = '';
  let x = BigInt.asUintN(def.bits, v);
  for (let i = 0; i < bytes; i++) { out += Number(x & 0xffn).toString(16).padStart(2, '0'); x >>= 8n; }
  return out;
}

/** Little-endian hex of exactly `bits`/4 digits to a value, or undefined. */
export function decodeRegister(def: RegisterDef, hex: string): bigint | undefined {
  if (hex.length !== def.bits / 4 || !/^[0-9a-fA-F]*$/.test(hex)) return undefined;
  let v = 0n;
  for (let i = hex.length - 2; i >= 0; i -= 2) v = (v << 8n) | BigInt(parseInt(hex.slice(i, i + 2), 16));
  return v;
}

const EFLAGS_TYPE = `<flags id="i386_eflags" size="4">
  <field name="CF" start="0" end="0"/><field name="" start="1" end="1"/><field name="PF" start="2" end="2"/>
  <field name="AF" start="4" end="4"/><field name="ZF" start="6" end="6"/><field name="SF" start="7" end="7"/>
  <field name="TF" start="8" end="8"/><field name="IF" start="9" end="9"/><field name="DF" start="10" end="10"/>
  <field name="OF" start="11" end="11"/><field name="NT" start="14" end="14"/><field name="RF" start="16" end="16"/>
  <field name="VM" start="17" end="17"/><field name="AC" start="18" end="18"/><field name="VIF" start="19" end="19"/>
  <field name="VIP" start="20" end="20"/><field name="ID" start="21" end="21"/>
</flags>`;

const FEATURES = { core: 'org.gnu.gdb.i386.core', segments: 'org.gnu.gdb.i386.segments', sys: 'org.hyvisor.x86.sys' } as const;

/** The target description gdb reads with `qXfer:features:read:target.xml`. */
export function targetXml(): string {
  const lines = ['<?xml version="1.0"?>', '<!DOCTYPE target SYSTEM "gdb-target.dtd">', '<target version="1.0">', '<architecture>i386:x86-64</architecture>'];
  for (const [key, name] of Object.entries(FEATURES)) {
    lines.push(`<feature name="${name}">`);
    if (key === 'core') lines.push(EFLAGS_TYPE);
    REGISTERS.forEach((r, i) => {
      if (r.feature !== key) return;
      lines.push(`<reg name="${r.name}" bitsize="${r.bits}" type="${r.type}" regnum="${i}"${r.group ? ` group="${r.group}"` : ''}/>`);
    });
    lines.push('</feature>');
  }
  lines.push('</target>');
  return lines.join('\n');
}
