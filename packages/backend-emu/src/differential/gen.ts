/**
 * Random instruction sequences for differential tests (not part of the package's API): ALU ops,
 * INC/DEC/NEG/NOT, shifts and rotates (by 1, imm8, CL; RCL/RCR; SHLD/SHRD), MUL/IMUL (1-, 2- and
 * 3-operand), DIV/IDIV, BT/BTS/BTR/BTC, XADD/CMPXCHG/XCHG, SETcc/CMOVcc, MOVZX/MOVSX, BSWAP,
 * CBW…CQO and LEA, at every operand size, on registers and on `[rbx + disp8]` (RBX points at the
 * user data page and is never written, nor RSP); and every flag-reading instruction ring 3 has
 * (ADC, SBB, RCL, RCR, Jcc, SETcc, CMOVcc, LOOP/LOOPE/LOOPNE, JRCXZ/JECXZ, LAHF, CMC, PUSHF; not
 * ADCX/ADOX, which the emulator neither offers nor advertises). {@link genStep} loads boundary
 * values into an instruction's operands first half of the time (0, 1, 2, all ones, the sign bit,
 * the largest positive value, …) and sets, clears or flips CF a third of the time; shift, rotate
 * and bit-offset counts favour 0, 1, width − 1, width, width + 1, 31, 32, 63, 64 and 65.
 *
 * {@link assemble} follows each instruction by `pushfq` and a push of every writable register, so
 * the state after every instruction lands on the stack (in the data area) and is compared, not
 * only the state at the end; flags an instruction leaves architecturally undefined are masked
 * there, and then replaced by known values (`push imm; popfq`) so no later instruction reads them.
 * @module
 */

/** Flag bits. */
export const CF = 0x1, PF = 0x4, AF = 0x10, ZF = 0x40, SF = 0x80, OF = 0x800;
export const ARITH = CF | PF | AF | ZF | SF | OF;

/** One generated instruction: its bytes (with any set-up), a mnemonic and the flags it leaves undefined. */
export interface GenInsn {
  readonly bytes: number[];
  readonly text: string;
  /** Flag bits whose value after the instruction is undefined (masked in the comparison). */
  readonly undefinedFlags: number;
  /** Operands the instruction reads, at {@link size}: {@link genStep} may load boundary values into them first. */
  readonly operands?: readonly Rm[];
  readonly size?: number;
}

/** Registers the generator may write (never RBX, the data pointer, nor RSP). */
export const WRITABLE = [0, 1, 2, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
const NAMES64 = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'];

/** Operand: a register number, or a memory operand `[rbx + disp]`. */
export type Rm = { readonly reg: number } | { readonly disp: number };

function rname(r: number, size: number): string {
  return `${NAMES64[r]}:${size * 8}`;
}

function rmText(rm: Rm, size: number): string {
  return 'reg' in rm ? rname(rm.reg, size) : `${['', 'byte', 'word', '', 'dword', '', '', '', 'qword'][size]} [rbx+${rm.disp}]`;
}

/**
 * Encodes `opcode` (one or more bytes) with a ModRM of `reg` (register number or /digit) and `rm`,
 * at operand size `size` (0x66 for 2, REX.W for 8; a REX for byte registers so SPL…DIL are used,
 * not AH…BH), followed by `imm` bytes.
 */
export function enc(opcode: readonly number[], reg: number, rm: Rm, size: number, imm: readonly number[] = []): number[] {
  const out: number[] = [];
  if (size === 2) out.push(0x66);
  let rex = size === 8 ? 0x48 : 0x40;
  if (reg & 8) rex |= 4;
  let modrm: number[];
  if ('reg' in rm) {
    if (rm.reg & 8) rex |= 1;
    modrm = [0xc0 | ((reg & 7) << 3) | (rm.reg & 7)];
  } else {
    modrm = [0x40 | ((reg & 7) << 3) | 3, rm.disp & 0xff];
  }
  if (rex !== 0x40 || size === 1) out.push(rex);
  out.push(...opcode, ...modrm, ...imm);
  return out;
}

function le(v: number, n: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(Math.floor(v / 2 ** (8 * i)) & 0xff);
  return out;
}

function le64(v: bigint): number[] {
  const out: number[] = [];
  for (let i = 0n; i < 8n; i++) out.push(Number((v >> (8n * i)) & 0xffn));
  return out;
}

const M64 = (1n << 64n) - 1n;

/** A shift/rotate/bit-offset count, favouring the boundaries: 0, 1, width − 1, width, width + 1, 31, 32, 63, 64, 65. */
export function pickCount(pick: Pick, size: number): number {
  const w = size * 8;
  const edges = [0, 1, w - 1, w, w + 1, 31, 32, 63, 64, 65, 255];
  if (pick(2) === 0) return edges[pick(edges.length)]!;
  return pick(4) === 0 ? pick(256) : pick(w + 2);
}

/** A boundary value at `size` bytes: 0, 1, 2, all ones, all ones − 1, the sign bit alone, sign ± 1, the largest positive. */
export function edgeValue(pick: Pick, size: number): bigint {
  const bits = BigInt(size * 8);
  const all = (1n << bits) - 1n, sign = 1n << (bits - 1n);
  const edges = [0n, 1n, 2n, all, all - 1n, sign, sign - 1n, sign + 1n];
  return edges[pick(edges.length)]!;
}

/**
 * Bytes that store `v` in operand `rm` at `size` without touching the flags: `mov r64, imm64` for a
 * register (the bits above `size` either all zero or all one), `mov [rbx+disp], imm` for memory
 * (a 64-bit value as two dword stores).
 */
export function movImm(rm: Rm, size: number, v: bigint, upperOnes: boolean): number[] {
  if ('reg' in rm) {
    const upper = upperOnes && size < 8 ? M64 ^ ((1n << BigInt(size * 8)) - 1n) : 0n;
    return [0x48 | (rm.reg & 8 ? 1 : 0), 0xb8 | (rm.reg & 7), ...le64((v | upper) & M64)];
  }
  if (size === 8) {
    return [...enc([0xc7], 0, rm, 4, le64(v & 0xffffffffn).slice(0, 4)), ...enc([0xc7], 0, { disp: rm.disp + 4 }, 4, le64(v >> 32n).slice(0, 4))];
  }
  return enc([size === 1 ? 0xc6 : 0xc7], 0, rm, size, le64(v).slice(0, size));
}

const ALU = ['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp'];
const SHIFTS = ['rol', 'ror', 'rcl', 'rcr', 'shl', 'shr', 'sal', 'sar'];

/** Flags a shift/rotate by masked count `c` leaves undefined. */
function shiftUndefined(kind: number, c: number, size: number): number {
  if (c === 0) return 0;
  if (kind < 4) return c === 1 ? 0 : OF; // rotates: only CF and OF change; OF is defined for 1-bit rotates
  let u = AF | (c === 1 ? 0 : OF);
  // SDM vol. 2, SAL/SAR/SHL/SHR: CF "is undefined for SHL and SHR instructions where the count is
  // greater than or equal to the size (in bits) of the destination operand" (only 8- and 16-bit
  // operands get there: counts are masked to 5 or 6 bits). SAR keeps shifting the sign bit out, so
  // its CF is defined (the sign) for any count; the CPU agrees (`sar al, 9` with al = 0x80: CF = 1).
  if (c >= size * 8 && kind !== 7) u |= CF;
  return u;
}

/** The generator's random source: integers in [0, n). */
export type Pick = (n: number) => number;

/** A random immediate of `bytes` bytes, biased toward edge values. */
function randImm(pick: Pick, bytes: number): number {
  const edges = [0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff];
  const v = pick(3) === 0 ? edges[pick(edges.length)]! : pick(0x10000) * 0x10000 + pick(0x10000);
  return bytes === 4 ? v >>> 0 : v % 2 ** (8 * bytes);
}

function pickSize(pick: Pick, sizes: readonly number[] = [1, 2, 4, 8]): number {
  return sizes[pick(sizes.length)]!;
}

function pickRm(pick: Pick, allowMem = true): Rm {
  if (allowMem && pick(3) === 0) return { disp: pick(120) };
  return { reg: WRITABLE[pick(WRITABLE.length)]! };
}

function pickReg(pick: Pick): number {
  return WRITABLE[pick(WRITABLE.length)]!;
}

/** One random instruction (with its set-up, e.g. the zeroed RDX of a DIV). */
export function genInsn(pick: Pick): GenInsn {
  switch (pick(18)) {
    case 0: case 1: case 2: { // ALU r/m, reg | reg, r/m
      const op = pick(8), size = pickSize(pick), rm = pickRm(pick), reg = pickReg(pick);
      const dir = pick(2);
      const opc = (op << 3) | (dir << 1) | (size === 1 ? 0 : 1);
      return { bytes: enc([opc], reg, rm, size), text: dir ? `${ALU[op]} ${rname(reg, size)}, ${rmText(rm, size)}` : `${ALU[op]} ${rmText(rm, size)}, ${rname(reg, size)}`, undefinedFlags: op === 1 || op === 4 || op === 6 ? AF : 0, operands: [rm, { reg }], size };
    }
    case 3: { // ALU r/m, imm
      const op = pick(8), size = pickSize(pick), rm = pickRm(pick);
      const short = size !== 1 && pick(2) === 0;
      const immBytes = size === 1 || short ? 1 : size === 2 ? 2 : 4;
      const imm = randImm(pick, immBytes);
      return { bytes: enc([size === 1 ? 0x80 : short ? 0x83 : 0x81], op, rm, size, le(imm, immBytes)), text: `${ALU[op]} ${rmText(rm, size)}, 0x${imm.toString(16)}`, undefinedFlags: op === 1 || op === 4 || op === 6 ? AF : 0, operands: [rm], size };
    }
    case 4: { // INC/DEC/NEG/NOT
      const which = pick(4), size = pickSize(pick), rm = pickRm(pick);
      const opc = which < 2 ? (size === 1 ? 0xfe : 0xff) : size === 1 ? 0xf6 : 0xf7;
      const digit = which < 2 ? which : which === 2 ? 3 : 2;
      return { bytes: enc([opc], digit, rm, size), text: `${['inc', 'dec', 'neg', 'not'][which]} ${rmText(rm, size)}`, undefinedFlags: 0, operands: [rm], size };
    }
    case 5: case 6: { // shifts and rotates
      const kind = [0, 1, 2, 3, 4, 5, 7][pick(7)]!, size = pickSize(pick), rm = pickRm(pick);
      const form = pick(3); // 0: by 1, 1: imm8, 2: CL
      const mask = size === 8 ? 63 : 31;
      let count: number, bytes: number[], text: string;
      if (form === 0) {
        count = 1; bytes = enc([size === 1 ? 0xd0 : 0xd1], kind, rm, size); text = `${SHIFTS[kind]} ${rmText(rm, size)}, 1`;
      } else if (form === 1) {
        const imm = pickCount(pick, size);
        count = imm & mask; bytes = enc([size === 1 ? 0xc0 : 0xc1], kind, rm, size, [imm]); text = `${SHIFTS[kind]} ${rmText(rm, size)}, ${imm}`;
      } else {
        const cl = pickCount(pick, size);
        // mov cl, imm8 (cl is RCX's low byte; RCX is writable) then the shift.
        count = cl & mask; bytes = [0xb1, cl, ...enc([size === 1 ? 0xd2 : 0xd3], kind, rm, size)]; text = `mov cl, ${cl}; ${SHIFTS[kind]} ${rmText(rm, size)}, cl`;
      }
      // RCL/RCR of 8/16 bits rotate through CF modulo 9/17: OF is defined only for a 1-bit rotate.
      return { bytes, text, undefinedFlags: shiftUndefined(kind, count, size), operands: [rm], size };
    }
    case 7: { // SHLD/SHRD by imm8 or CL (counts up to 16 for 16-bit operands: beyond, results are undefined)
      const right = pick(2), size = pickSize(pick, [2, 4, 8]), rm = pickRm(pick), reg = pickReg(pick);
      const max = size === 2 ? 17 : size * 8;
      const c = pickCount(pick, size) % max;
      const byCl = pick(2) === 1 && reg !== 1 && !('reg' in rm && rm.reg === 1);
      const bytes = byCl ? [0xb1, c, ...enc([0x0f, right ? 0xad : 0xa5], reg, rm, size)] : enc([0x0f, right ? 0xac : 0xa4], reg, rm, size, [c]);
      return { bytes, text: `${right ? 'shrd' : 'shld'} ${rmText(rm, size)}, ${rname(reg, size)}, ${byCl ? `cl=${c}` : c}`, undefinedFlags: c === 0 ? 0 : AF | (c === 1 ? 0 : OF), operands: [rm, { reg }], size };
    }
    case 8: { // MUL/IMUL one operand, IMUL two and three operands
      const form = pick(3), size = pickSize(pick, form === 0 ? [1, 2, 4, 8] : [2, 4, 8]), rm = pickRm(pick);
      const u = SF | ZF | AF | PF;
      if (form === 0) {
        const signed = pick(2);
        return { bytes: enc([size === 1 ? 0xf6 : 0xf7], 4 + signed, rm, size), text: `${signed ? 'imul' : 'mul'} ${rmText(rm, size)}`, undefinedFlags: u, operands: [rm, { reg: 0 }], size };
      }
      const reg = pickReg(pick);
      if (form === 1) return { bytes: enc([0x0f, 0xaf], reg, rm, size), text: `imul ${rname(reg, size)}, ${rmText(rm, size)}`, undefinedFlags: u, operands: [rm, { reg }], size };
      const short = pick(2) === 0;
      const n = short ? 1 : size === 2 ? 2 : 4;
      const imm = randImm(pick, n);
      return { bytes: enc([short ? 0x6b : 0x69], reg, rm, size, le(imm, n)), text: `imul ${rname(reg, size)}, ${rmText(rm, size)}, 0x${imm.toString(16)}`, undefinedFlags: u, operands: [rm], size };
    }
    case 9: { // DIV/IDIV with a non-zero divisor and a dividend that fits (IDIV may still overflow: #DE, compared too)
      const signed = pick(2), size = pickSize(pick);
      const src = [1, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15][pick(12)]!;
      const setup: number[] = [...enc([size === 1 ? 0x80 : 0x83], 1, { reg: src }, size, [1])]; // or src, 1
      if (size === 1) setup.push(...(signed ? [0x66, 0x98] : [0x0f, 0xb6, 0xc0])); // cbw | movzx eax, al
      else if (signed) setup.push(...(size === 2 ? [0x66, 0x99] : size === 4 ? [0x99] : [0x48, 0x99])); // cwd/cdq/cqo
      else setup.push(0x31, 0xd2); // xor edx, edx
      return { bytes: [...setup, ...enc([size === 1 ? 0xf6 : 0xf7], 6 + signed, { reg: src }, size)], text: `${signed ? 'idiv' : 'div'} ${rname(src, size)} (with set-up)`, undefinedFlags: ARITH, operands: [{ reg: 0 }, { reg: src }], size };
    }
    case 10: { // BT/BTS/BTR/BTC, register or imm8 offset, register operand
      const which = pick(4), size = pickSize(pick, [2, 4, 8]), rm = { reg: pickReg(pick) };
      const names = ['bt', 'bts', 'btr', 'btc'];
      if (pick(2) === 0) {
        const reg = pickReg(pick);
        return { bytes: enc([0x0f, [0xa3, 0xab, 0xb3, 0xbb][which]!], reg, rm, size), text: `${names[which]} ${rmText(rm, size)}, ${rname(reg, size)}`, undefinedFlags: OF | SF | AF | PF, operands: [rm], size };
      }
      const imm = pickCount(pick, size);
      return { bytes: enc([0x0f, 0xba], 4 + which, rm, size, [imm]), text: `${names[which]} ${rmText(rm, size)}, ${imm}`, undefinedFlags: OF | SF | AF | PF, operands: [rm], size };
    }
    case 11: { // XADD, CMPXCHG, XCHG
      const which = pick(3), size = pickSize(pick), rm = pickRm(pick), reg = pickReg(pick);
      const w = size === 1 ? 0 : 1;
      const opc = which === 0 ? [0x0f, 0xc0 | w] : which === 1 ? [0x0f, 0xb0 | w] : [0x86 | w];
      return { bytes: enc(opc, reg, rm, size), text: `${['xadd', 'cmpxchg', 'xchg'][which]} ${rmText(rm, size)}, ${rname(reg, size)}`, undefinedFlags: 0, operands: [rm, { reg }, { reg: 0 }], size };
    }
    case 12: { // SETcc, CMOVcc
      const cc = pick(16);
      if (pick(2) === 0) { const rm = pickRm(pick); return { bytes: enc([0x0f, 0x90 | cc], 0, rm, 1), text: `set${cc} ${rmText(rm, 1)}`, undefinedFlags: 0 }; }
      const size = pickSize(pick, [2, 4, 8]), rm = pickRm(pick), reg = pickReg(pick);
      return { bytes: enc([0x0f, 0x40 | cc], reg, rm, size), text: `cmov${cc} ${rname(reg, size)}, ${rmText(rm, size)}`, undefinedFlags: 0 };
    }
    case 13: { // MOVZX/MOVSX/MOVSXD
      const which = pick(5), rm = pickRm(pick), reg = pickReg(pick);
      const size = pickSize(pick, which === 4 ? [8] : which % 2 === 0 ? [2, 4, 8] : [4, 8]);
      const opc = which === 4 ? [0x63] : [0x0f, [0xb6, 0xb7, 0xbe, 0xbf][which]!];
      return { bytes: enc(opc, reg, rm, size), text: `${['movzx8', 'movzx16', 'movsx8', 'movsx16', 'movsxd'][which]} ${rname(reg, size)}, ${rmText(rm, 1)}`, undefinedFlags: 0 };
    }
    case 14: { // BSWAP, CBW…CQO
      const which = pick(3);
      if (which === 0) {
        const r = pickReg(pick), size = pickSize(pick, [4, 8]);
        const rex = (size === 8 ? 0x48 : 0x40) | (r & 8 ? 1 : 0);
        return { bytes: [...(rex !== 0x40 ? [rex] : []), 0x0f, 0xc8 | (r & 7)], text: `bswap ${rname(r, size)}`, undefinedFlags: 0 };
      }
      const size = pickSize(pick, [2, 4, 8]);
      const pre = size === 2 ? [0x66] : size === 8 ? [0x48] : [];
      return { bytes: [...pre, which === 1 ? 0x98 : 0x99], text: `${which === 1 ? 'cbw' : 'cwd'}:${size * 8}`, undefinedFlags: 0 };
    }
    case 15: { // Jcc, LOOP/LOOPE/LOOPNE, JRCXZ/JECXZ over a `mov r32, imm32`: the register shows whether the branch was taken
      const r = [0, 1, 2, 5, 6, 7][pick(6)]!, imm = randImm(pick, 4);
      const skip = [0xb8 | r, ...le(imm, 4)];
      const form = pick(4);
      if (form < 2) {
        const cc = pick(16);
        return { bytes: [0x70 | cc, skip.length, ...skip], text: `j${cc} +5 over mov ${rname(r, 4)}, 0x${imm.toString(16)}`, undefinedFlags: 0 };
      }
      if (form === 2) {
        const which = pick(3);
        return { bytes: [0xe0 + which, skip.length, ...skip], text: `${['loopne', 'loope', 'loop'][which]} +5 over mov ${rname(r, 4)}`, undefinedFlags: 0, operands: [{ reg: 1 }], size: 8 };
      }
      const ecx = pick(2) === 0;
      return { bytes: [...(ecx ? [0x67] : []), 0xe3, skip.length, ...skip], text: `${ecx ? 'jecxz' : 'jrcxz'} +5 over mov ${rname(r, 4)}`, undefinedFlags: 0, operands: [{ reg: 1 }], size: ecx ? 4 : 8 };
    }
    case 16: { // LAHF (reads SF ZF AF PF CF into AH), SAHF, CMC
      const which = pick(3);
      return { bytes: [[0x9f, 0x9e, 0xf5][which]!], text: ['lahf', 'sahf', 'cmc'][which]!, undefinedFlags: 0, ...(which === 1 ? { operands: [{ reg: 0 }], size: 2 } : {}) };
    }
    default: { // LEA with base, index and scale
      const reg = pickReg(pick), size = pickSize(pick, [2, 4, 8]);
      const base = WRITABLE[pick(WRITABLE.length)]!, index = [0, 1, 2, 5, 6, 7, 8, 9, 10][pick(9)]!, scale = pick(4), disp = pick(256);
      const rex = (size === 8 ? 0x48 : 0x40) | (reg & 8 ? 4 : 0) | (index & 8 ? 2 : 0) | (base & 8 ? 1 : 0);
      const bytes = [...(size === 2 ? [0x66] : []), ...(rex !== 0x40 ? [rex] : []), 0x8d, 0x84 | ((reg & 7) << 3), (scale << 6) | ((index & 7) << 3) | (base & 7), ...le(disp * 0x10001, 4)];
      return { bytes, text: `lea ${rname(reg, size)}, [${NAMES64[base]}+${NAMES64[index]}*${1 << scale}+0x${(disp * 0x10001).toString(16)}]`, undefinedFlags: 0 };
    }
  }
}

/**
 * One random instruction as {@link genInsn} makes it, with, half of the time, boundary values
 * ({@link edgeValue}) loaded into its operands first, and a third of the time STC, CLC or CMC
 * before it, so carries in and all-ones operands meet (ADC of all ones with CF = 1, …).
 */
export function genStep(pick: Pick): GenInsn {
  const g = genInsn(pick);
  const pre: number[] = [];
  let text = '';
  if (g.operands && g.size && pick(2) === 0) {
    for (const rm of g.operands) {
      if (pick(4) === 0) continue;
      const v = edgeValue(pick, g.size);
      pre.push(...movImm(rm, g.size, v, pick(2) === 1));
      text += `${rmText(rm, g.size)} = 0x${v.toString(16)}; `;
    }
  }
  if (pick(3) === 0) {
    const c = pick(3);
    pre.push([0xf8, 0xf9, 0xf5][c]!);
    text += `${['clc', 'stc', 'cmc'][c]}; `;
  }
  return pre.length === 0 ? g : { ...g, bytes: [...pre, ...g.bytes], text: text + g.text };
}

/** `push imm32; popfq`: sets the arithmetic flags to `flags` (IF stays 1, DF 0). */
export function setFlags(flags: number): number[] {
  return [0x68, ...le(((flags & ARITH) | 0x202) >>> 0, 4), 0x9d];
}

/** Registers pushed after each instruction, after RFLAGS, in this order. */
export const SNAPSHOT_REGS: readonly number[] = WRITABLE;
/** Bytes of stack one instruction's snapshot takes: RFLAGS and {@link SNAPSHOT_REGS}. */
export const SNAPSHOT_BYTES = 8 * (1 + WRITABLE.length);

/** `push r64` for every register of {@link SNAPSHOT_REGS}. */
function pushAll(): number[] {
  const out: number[] = [];
  for (const r of SNAPSHOT_REGS) out.push(...(r & 8 ? [0x41] : []), 0x50 | (r & 7));
  return out;
}

/** The register names of a snapshot, for messages. */
export const SNAPSHOT_NAMES: readonly string[] = SNAPSHOT_REGS.map((r) => NAMES64[r]!);

/**
 * A program: every instruction followed by its snapshot, `pushfq` and a push of each register of
 * {@link SNAPSHOT_REGS} (with `snapshots` false, `pushfq` alone), and a flag reset after undefined
 * flags; then a final reset and `int3`. Snapshot i sits {@link SNAPSHOT_BYTES} × (i + 1) below the
 * initial RSP: RFLAGS highest, then the registers in order.
 */
export function assemble(insns: readonly GenInsn[], resetFlags: (i: number) => number, snapshots = false): { code: Uint8Array; masks: number[] } {
  const code: number[] = [];
  const masks: number[] = [];
  const push = snapshots ? pushAll() : [];
  insns.forEach((g, i) => {
    code.push(...g.bytes, 0x9c, ...push); // ...; pushfq; push rax; push rcx; ...
    masks.push(g.undefinedFlags);
    if (g.undefinedFlags !== 0) code.push(...setFlags(resetFlags(i)));
  });
  code.push(...setFlags(resetFlags(insns.length)), 0xcc);
  return { code: Uint8Array.from(code), masks };
}
