/**
 * Everything derived from the opcode table (isa/opcodes.ts), built once at load: the decoder's
 * ModRM and immediate arrays, the executor's invalid-in-64-bit and LOCK checks, the choice of
 * specialised handler per form, which handlers end a block or touch memory, and the flags each
 * form reads and writes for the block compiler. A table inconsistency (two rows of one opcode
 * that disagree on its encoding, an operand the notation does not know) throws here, at load,
 * so the tests catch it before any guest runs.
 * @module
 */
import { F_COUNT, F_NONE } from './fast-kinds.js';
import { FL_STATUS, OPCODES, type OpcodeRow } from './opcodes.js';

/** Immediate kinds (the decoder reads the bytes). */
export const I_NONE = 0, I_B = 1, I_W = 2, I_Z = 3, I_V = 4, I_ENTER = 5, I_MOFFS = 6, I_REL32 = 7,
  /** Depends on the ModRM reg field: see {@link IMM_BY_EXT} (F6/F7: only TEST has one). */
  I_EXT = 8;

/** Operand-size rules for the specialised handlers ({@link FAST_SIZE}). */
export const SZ_ANY = 0, SZ_V = 1, SZ_D64 = 2, SZ_NO_REX_B = 3;
/** Where a specialised handler's register operands are ({@link FAST_OPERANDS}): in `fa`/`fb`. */
export const FO_NONE = 0, FO_RM_REG = 1, FO_REG_RM = 2, FO_OPCODE = 3;

/** Addressing methods that come with a ModRM byte. */
const MODRM_METHODS = 'CDEGMNPQRSUVW';

/** One operand in SDM notation: addressing method letter and size; fixed registers have no method. */
export interface Operand {
  readonly method: string;
  readonly size: string;
}

/** The operands of `row` that have an addressing method (fixed registers like `AL`, `DX`, `1` are left out). */
export function operandsOf(row: OpcodeRow): Operand[] {
  if (row.operands === '') return [];
  const out: Operand[] = [];
  for (const t of row.operands.split(',')) {
    const m = /^([A-Z])([a-z]*)$/.exec(t);
    if (m !== null) out.push({ method: m[1]!, size: m[2]! });
    else if (!/^(AL|CL|DX|rAX|eAX|1)$/.test(t)) throw new Error(`opcode table: 0x${row.op.toString(16)} ${row.mnemonic}: unknown operand "${t}"`);
  }
  return out;
}

/** True if the row's encoding has a ModRM byte (a group row always has: its `ext` is the reg field). */
export function hasModrm(row: OpcodeRow): boolean {
  return row.ext !== undefined || operandsOf(row).some((o) => MODRM_METHODS.includes(o.method));
}

/** The immediate kind the row's operands need (I_*, never I_EXT). */
export function immediateOf(row: OpcodeRow): number {
  const imm = operandsOf(row).filter((o) => o.method === 'I' || o.method === 'J' || o.method === 'O');
  if (imm.length === 0) return I_NONE;
  const where = `opcode table: 0x${row.op.toString(16)} ${row.mnemonic}`;
  if (imm.length === 2) {
    if (imm[0]!.method === 'I' && imm[0]!.size === 'w' && imm[1]!.method === 'I' && imm[1]!.size === 'b') return I_ENTER;
    throw new Error(`${where}: two immediates other than ENTER's Iw,Ib`);
  }
  const { method, size } = imm[0]!;
  if (method === 'O') return I_MOFFS;
  if (method === 'J') return size === 'b' ? I_B : I_REL32;
  const kind = size === 'b' ? I_B : size === 'w' ? I_W : size === 'z' ? I_Z : size === 'v' ? I_V : -1;
  if (kind < 0) throw new Error(`${where}: immediate size "${size}"`);
  return kind;
}

/** The operand-size rule of the row's specialised handlers (SZ_*). */
export function fastSizeRule(row: OpcodeRow): number {
  if (row.fast?.noRexB) return SZ_NO_REX_B;
  if (row.fast?.sizes === 'any') return SZ_ANY;
  if (row.d64) return SZ_D64;
  return operandsOf(row).some((o) => o.size === 'v') ? SZ_V : SZ_ANY;
}

/** Where the row's register operands are for a specialised handler (FO_*). */
export function fastOperands(row: OpcodeRow): number {
  const ops = operandsOf(row);
  const a = ops[0]?.method, b = ops[1]?.method;
  if (a === 'Z') return FO_OPCODE;
  if (a === 'E' && b === 'G') return FO_RM_REG;
  if (a === 'G' && b === 'E') return FO_REG_RM;
  return FO_NONE;
}

/** True if the row's memory form reads or writes memory (explicitly or through the stack). */
function memoryFormAccesses(row: OpcodeRow): boolean {
  return operandsOf(row).some((o) => (o.method === 'E' || o.method === 'M') && !row.noAccess);
}

/** The ModRM reg values a row covers. */
function extsOf(row: OpcodeRow): number[] {
  return row.ext === undefined ? [0, 1, 2, 3, 4, 5, 6, 7] : [row.ext];
}

// ------------------------------------------------------------------ the decoder

/** 1 where opcode `op` (0x000–0x3ff) has a ModRM byte. */
export const HAS_MODRM = new Uint8Array(0x400);
/** The immediate after opcode `op` (I_*). */
export const IMM_KIND = new Uint8Array(0x400);
/** For I_EXT opcodes: the immediate by `(op << 3) | reg`. */
export const IMM_BY_EXT = new Uint8Array(0x2000);
/** 1 for one-byte opcodes invalid in 64-bit mode (#UD, not counted as unimplemented). */
export const INVALID_64 = new Uint8Array(0x100);

// ------------------------------------------------------------------ the executor and the compiler

/** 1 where LOCK is accepted on the memory form of `(op << 3) | reg`. */
export const LOCKABLE = new Uint8Array(0x2000);
/** Status flags (FL_* bits) read by `(op << 3) | reg`. */
export const FLAGS_READ = new Uint8Array(0x2000);
/** Status flags (FL_* bits) written by `(op << 3) | reg`, undefined results included. */
export const FLAGS_WRITTEN = new Uint8Array(0x2000);
/** 1 where a count masked to 0 leaves the flags of `(op << 3) | reg` alone (shifts and rotates). */
export const COUNT_FLAGS = new Uint8Array(0x2000);

// ------------------------------------------------------------------ specialised handlers

/** The specialised handler of opcode `op`'s register form (mod = 3, or no ModRM), F_NONE if none. */
export const FAST_REG = new Uint8Array(0x400);
/** The specialised handler of opcode `op`'s memory form. */
export const FAST_MEM = new Uint8Array(0x400);
/** The operand-size rule under which `op` gets its handler (SZ_*). */
export const FAST_SIZE = new Uint8Array(0x400);
/** Where `op`'s register operands are (FO_*). */
export const FAST_OPERANDS = new Uint8Array(0x400);
/** 1 for handler kinds that may transfer control: they end a basic block. */
export const FAST_BRANCH = new Uint8Array(F_COUNT);
/** 1 for handler kinds that access memory: a store may hit code or MMIO, any access may set A/D bits. */
export const FAST_MEMORY = new Uint8Array(F_COUNT);

/** Block roles of an instruction without a specialised handler ({@link BLOCK_ROLE}). */
export const R_ALONE = 0, R_LINE = 1, R_END = 2;
/**
 * How `execute` may run `(op << 4) | (reg << 1) | (memory form ? 1 : 0)` inside a basic block:
 * R_LINE (straight-line: it changes no CPL, paging, mode, interrupt flag or shadow, does no port
 * I/O and reads no instruction count), R_END (the same, but it may move RIP elsewhere: near
 * jumps, calls, returns, loops, string instructions that repeat, so it ends the block), or
 * R_ALONE (system instructions, port I/O, far and software-interrupt transfers, POPF/CLI/STI,
 * segment loads, unemulated rows: a block of its own, run between blocks as before).
 */
export const BLOCK_ROLE = new Uint8Array(0x4000);

/** The block role of `row` (see {@link BLOCK_ROLE}). */
export function blockRole(row: OpcodeRow): number {
  if (row.support !== 'yes' || row.privileged || row.invalid64 || row.group === 'io' || row.group === 'system') return R_ALONE;
  // POPF/CLI/STI change IF (and POPF TF/IOPL); MOV Sreg and POP FS/GS load segments (MOV SS sets a shadow).
  if (row.op === 0x9d || row.op === 0xfa || row.op === 0xfb || row.op === 0x8e || row.op === 0x1a1 || row.op === 0x1a9) return R_ALONE;
  const c = row.control;
  if (c === 'int' || c === 'iret' || c === 'far' || c === 'sys') return R_ALONE;
  return c !== undefined || row.group === 'string' ? R_END : R_LINE;
}

/** Rows by opcode. */
export const ROWS_BY_OP: readonly (readonly OpcodeRow[])[] = (() => {
  const by: OpcodeRow[][] = Array.from({ length: 0x400 }, () => []);
  for (const r of OPCODES) {
    if (!Number.isInteger(r.op) || r.op < 0 || r.op >= 0x400) throw new Error(`opcode table: opcode ${r.op} out of range`);
    by[r.op]!.push(r);
  }
  return by;
})();

function build(): void {
  for (let op = 0; op < 0x400; op++) {
    const rows = ROWS_BY_OP[op]!;
    const where = `opcode table: 0x${op.toString(16)}`;
    if (rows.length === 0) {
      // Maps' defaults for opcodes without a row: 0F and 0F 38 have a ModRM byte, 0F 3A also an
      // imm8. One-byte opcodes without a row are prefixes and the 0F escape: never an opcode.
      if (op >= 0x100) HAS_MODRM[op] = 1;
      if (op >= 0x300) IMM_KIND[op] = I_B;
      continue;
    }
    // Encoding: one answer per opcode (the immediate may depend on the reg field).
    const modrm = hasModrm(rows[0]!);
    if (rows.some((r) => hasModrm(r) !== modrm)) throw new Error(`${where}: rows disagree on the ModRM byte`);
    HAS_MODRM[op] = modrm ? 1 : 0;
    const imms = new Set(rows.map(immediateOf));
    if (imms.size === 1) {
      IMM_KIND[op] = [...imms][0]!;
    } else {
      if (!modrm || rows.some((r) => r.ext === undefined)) throw new Error(`${where}: rows disagree on the immediate`);
      IMM_KIND[op] = I_EXT;
      for (const r of rows) IMM_BY_EXT[(op << 3) | r.ext!] = immediateOf(r);
    }
    if (rows.some((r) => r.invalid64 === true) !== rows.every((r) => r.invalid64 === true)) throw new Error(`${where}: rows disagree on invalid64`);
    if (rows[0]!.invalid64) {
      if (op >= 0x100) throw new Error(`${where}: invalid64 is for one-byte opcodes`);
      INVALID_64[op] = 1;
    }
    // Per reg field: LOCK and flags.
    const covered = new Set<string>();
    for (const r of rows) {
      for (const e of extsOf(r)) {
        for (const m of r.mod === undefined ? ['reg', 'mem'] : [r.mod]) {
          const key = `${e}/${m}`;
          if (covered.has(key)) throw new Error(`${where}: two rows for /${e} (${m})`);
          covered.add(key);
        }
        const role = blockRole(r);
        if (r.mod !== 'mem') BLOCK_ROLE[(op << 4) | (e << 1)] = role;
        if (r.mod !== 'reg') BLOCK_ROLE[(op << 4) | (e << 1) | 1] = role;
        const i = (op << 3) | e;
        if (r.lock && r.mod !== 'reg') LOCKABLE[i] = 1;
        FLAGS_READ[i] |= r.reads ?? 0;
        FLAGS_WRITTEN[i] |= r.writes ?? 0;
        if (r.countFlags) COUNT_FLAGS[i] = 1;
      }
    }
    // Specialised handlers: one spec per opcode.
    const withFast = rows.filter((r) => r.fast !== undefined);
    if (withFast.length === 0) continue;
    if (withFast.length !== rows.length) throw new Error(`${where}: only some rows have specialised handlers`);
    const first = withFast[0]!;
    for (const r of withFast) {
      if (JSON.stringify(r.fast) !== JSON.stringify(first.fast) || fastSizeRule(r) !== fastSizeRule(first) ||
        fastOperands(r) !== fastOperands(first)) throw new Error(`${where}: rows disagree on the specialised handler`);
    }
    const f = first.fast!;
    FAST_REG[op] = f.reg ?? F_NONE;
    FAST_MEM[op] = f.mem ?? F_NONE;
    FAST_SIZE[op] = fastSizeRule(first);
    FAST_OPERANDS[op] = fastOperands(first);
    for (const r of withFast) {
      for (const k of [r.fast!.reg, r.fast!.mem]) {
        if (k === undefined) continue;
        if (r.control !== undefined) FAST_BRANCH[k] = 1;
        if (r.stack) FAST_MEMORY[k] = 1;
      }
      if (r.fast!.mem !== undefined && memoryFormAccesses(r)) FAST_MEMORY[r.fast!.mem] = 1;
    }
  }
}

build();

/** True if the status flags written are the whole set (the lazy-flag record is overwritten). */
export function writesAllFlags(written: number): boolean {
  return (written & FL_STATUS) === FL_STATUS;
}
