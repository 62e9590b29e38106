/**
 * The opcode table: every fact about an x86-64 opcode the emulator relies on, one row per opcode
 * (or per ModRM `reg` extension of a group opcode), in the manner of v86's `gen/x86_table.js`.
 * The decoder's ModRM and immediate arrays, the invalid-in-64-bit and LOCK checks of the
 * executor, the choice of specialised handler (execute/fast.ts `classify`), which of those end a
 * basic block or touch memory, and the block compiler's flag analysis are all derived from it
 * (isa/derive.ts). Adding an instruction is one row here plus its semantics (a case in
 * execute/execute.ts, and a specialised handler if it is hot).
 *
 * Operands use the Intel SDM opcode-map notation (Vol. 2, appendix A): an addressing method
 * letter and a size, e.g. `Ev,Gv`. Methods with a ModRM byte: E (register or memory), G (reg
 * field), M (memory only), R (register only, mod field), C/D (control/debug register), S
 * (segment register), N/P/Q/U/V/W (MMX and SSE). Immediates: I (`Ib`, `Iw`, `Iz` 16/32,
 * `Iv` 16/32/64), J (relative: `Jb`, `Jz`), O (moffs, address-size wide). X/Y are the string
 * operands (no bytes). Z is this table's letter for a register in the opcode's low 3 bits (with
 * REX.B). Fixed registers are written as such (`AL`, `rAX`, `DX`, `CL`, `1`). Sizes: b byte,
 * w word, d dword, q qword, v 16/32/64 by 0x66 and REX.W, z 16/32, y 32/64, p far pointer, a
 * pair, s descriptor-table pointer.
 *
 * An opcode of the 0F, 0F 38 or 0F 3A maps without a row decodes with its map's default (a ModRM
 * byte; 0F 3A also an imm8) and raises #UD, counted as unimplemented.
 * @module
 */
import {
  F_ALU_MI, F_ALU_MR, F_ALU_RI, F_ALU_RM, F_ALU_RR, F_CALL, F_JCC, F_JMP, F_LEA, F_MOVZX8_M, F_MOVZX8_R, F_MOV_LOAD,
  F_MOV_RI, F_MOV_RR, F_MOV_STORE, F_MOVSXD_M, F_MOVSXD_R, F_MOVZX16_M, F_MOVZX16_R, F_NOP, F_POP, F_PUSH, F_RET,
  F_SHIFT_RI, F_TEST_RR,
} from './fast-kinds.js';

/** What an instruction is for (documentation, listings). */
export type Group =
  | 'alu' | 'shift' | 'muldiv' | 'bit' | 'data' | 'stack' | 'control' | 'string' | 'io' | 'flags' | 'system'
  | 'nop' | 'x87' | 'simd' | 'legacy';

/**
 * How an instruction may move RIP elsewhere than the next instruction: a specialised handler with
 * a control class ends a basic block.
 */
export type Control = 'jcc' | 'jmp' | 'call' | 'ret' | 'loop' | 'int' | 'iret' | 'far' | 'sys';

/** What the emulator does with the row. */
export type Support =
  /** Emulated. */
  | 'yes'
  /** Not emulated: #UD in the guest, counted as unimplemented (`Vcpu.stats().unimplemented`). */
  | 'no'
  /** #UD by definition (invalid in 64-bit mode, UD2, VERR/VERW here): not counted. */
  | 'ud';

/** Specialised handlers (isa/fast-kinds.ts) for the register (mod = 3) and memory forms. */
export interface FastForms {
  readonly reg?: number;
  readonly mem?: number;
  /**
   * Which operand sizes the handler takes. Default: 32 and 64 bits when an operand is `v`-sized,
   * any size otherwise, and no 0x66 prefix for `d64` rows. `any`: every size (NOPs).
   */
  readonly sizes?: 'any';
  /** The handler applies only without REX.B (0x90 is NOP; with REX.B it is XCHG r8, rAX). */
  readonly noRexB?: boolean;
}

/** Status flags, as bits (reads and writes). */
export const FL_O = 1, FL_S = 2, FL_Z = 4, FL_A = 8, FL_P = 16, FL_C = 32, FL_D = 64;
/** All six status flags: an instruction that writes these overwrites the whole lazy-flag record. */
export const FL_STATUS = 63;

/** One opcode (or one ModRM extension of a group opcode). */
export interface OpcodeRow {
  /** Opcode number: 0x000–0x0ff the one-byte map, 0x1xx 0F, 0x2xx 0F 38, 0x3xx 0F 3A. */
  readonly op: number;
  /** The ModRM `reg` field for a group opcode's row; absent: the row covers every value. */
  readonly ext?: number;
  /** For group rows that differ by form: `reg` (mod = 3) or `mem`. */
  readonly mod?: 'reg' | 'mem';
  readonly mnemonic: string;
  /** Operands in SDM notation (see the module comment); '' for none. */
  readonly operands: string;
  readonly group: Group;
  readonly support: Support;
  /** Status flags read (bits FL_*; condition codes read the flags they test). */
  readonly reads?: number;
  /** Status flags written, undefined results included (bits FL_*). */
  readonly writes?: number;
  /** How it may transfer control. */
  readonly control?: Control;
  /** Needs CPL 0 (#GP(0) otherwise). */
  readonly privileged?: boolean;
  /** LOCK is accepted on its memory form (otherwise LOCK is #UD). */
  readonly lock?: boolean;
  /** Operand size defaults to 64 bits (0x66 selects 16): PUSH, POP, RET, ENTER, LEAVE. */
  readonly d64?: boolean;
  /** Also accesses the stack (implicit memory operand). */
  readonly stack?: boolean;
  /** Its ModRM memory operand is an address only, never accessed (LEA, hint NOPs). */
  readonly noAccess?: boolean;
  /** The row's count operand masked to 0 leaves the flags alone (shifts and rotates). */
  readonly countFlags?: boolean;
  /** Invalid in 64-bit mode (#UD, not counted); the decoder still takes its ModRM/immediate. */
  readonly invalid64?: boolean;
  /** Only the REX.W form is emulated (other sizes stop with an internal-error exit): IRETQ, SYSRETQ. */
  readonly rexW?: boolean;
  /** Its specialised handlers (execute/fast.ts). */
  readonly fast?: FastForms;
  /**
   * SSE rows: the mandatory-prefix forms emulated, space-separated (`np` none, `66`, `f3`, `f2`);
   * the others (MMX forms without a prefix, SSE3…) are counted #UD.
   */
  readonly forms?: string;
}

const ALL = FL_STATUS;
/** Flags each condition code (0–15) tests. */
const CC_READS = [FL_O, FL_O, FL_C, FL_C, FL_Z, FL_Z, FL_C | FL_Z, FL_C | FL_Z, FL_S, FL_S, FL_P, FL_P,
  FL_S | FL_O, FL_S | FL_O, FL_Z | FL_S | FL_O, FL_Z | FL_S | FL_O];
const CC = ['O', 'NO', 'B', 'AE', 'E', 'NE', 'BE', 'A', 'S', 'NS', 'P', 'NP', 'L', 'GE', 'LE', 'G'];
const ALU = ['ADD', 'OR', 'ADC', 'SBB', 'AND', 'SUB', 'XOR', 'CMP'];
const SHIFT = ['ROL', 'ROR', 'RCL', 'RCR', 'SHL', 'SHR', 'SAL', 'SAR'];
/** Flags of a shift/rotate by a non-zero count: rotates touch only CF and OF (RCL/RCR also read CF). */
function shiftFlags(ext: number): { reads?: number; writes: number } {
  return ext < 2 ? { writes: FL_C | FL_O } : ext < 4 ? { reads: FL_C, writes: FL_C | FL_O } : { writes: ALL };
}

type RowInit = Partial<Omit<OpcodeRow, 'op' | 'mnemonic' | 'operands' | 'group'>>;

function row(op: number, mnemonic: string, operands: string, group: Group, more: RowInit = {}): OpcodeRow {
  return { op, mnemonic, operands, group, ...more, support: more.support ?? 'yes' };
}

/** Rows `op + i` for i in 0..7 (register in the opcode, or one row per condition half). */
function eight(op: number, f: (i: number) => OpcodeRow): OpcodeRow[] {
  return Array.from({ length: 8 }, (_, i) => f(i));
}

function legacy(op: number, mnemonic: string, operands = ''): OpcodeRow {
  return row(op, mnemonic, operands, 'legacy', { invalid64: true, support: 'ud' });
}

/** An SSE/SSE2 row of the 0F map with the prefix forms it emulates. */
function sse(op: number, mnemonic: string, operands: string, forms: string, more: RowInit = {}): OpcodeRow {
  return row(0x100 | op, mnemonic, operands, 'simd', { ...more, forms });
}

const ALL4 = 'np 66 f3 f2';
/** SSE and SSE2 (execute/sse.ts), MMX forms excluded; EMMS and MOVNTI with them. */
const SSE_ROWS: readonly OpcodeRow[] = [
  sse(0x10, 'MOVUPS / MOVUPD / MOVSS / MOVSD', 'Vx,Wx', ALL4),
  sse(0x11, 'MOVUPS / MOVUPD / MOVSS / MOVSD (store)', 'Wx,Vx', ALL4),
  sse(0x12, 'MOVLPS / MOVHLPS / MOVLPD', 'Vx,Wq', 'np 66'),
  sse(0x13, 'MOVLPS / MOVLPD (store)', 'Mq,Vq', 'np 66', { mod: 'mem' }),
  sse(0x14, 'UNPCKLPS / UNPCKLPD', 'Vx,Wx', 'np 66'),
  sse(0x15, 'UNPCKHPS / UNPCKHPD', 'Vx,Wx', 'np 66'),
  sse(0x16, 'MOVHPS / MOVLHPS / MOVHPD', 'Vx,Wq', 'np 66'),
  sse(0x17, 'MOVHPS / MOVHPD (store)', 'Mq,Vq', 'np 66', { mod: 'mem' }),
  sse(0x28, 'MOVAPS / MOVAPD', 'Vx,Wx', 'np 66'),
  sse(0x29, 'MOVAPS / MOVAPD (store)', 'Wx,Vx', 'np 66'),
  sse(0x2a, 'CVTSI2SS / CVTSI2SD', 'Vx,Ey', 'f3 f2'),
  sse(0x2b, 'MOVNTPS / MOVNTPD', 'Mx,Vx', 'np 66', { mod: 'mem' }),
  sse(0x2c, 'CVTTSS2SI / CVTTSD2SI', 'Gy,Wx', 'f3 f2'),
  sse(0x2d, 'CVTSS2SI / CVTSD2SI', 'Gy,Wx', 'f3 f2'),
  sse(0x2e, 'UCOMISS / UCOMISD', 'Vx,Wx', 'np 66', { writes: ALL }),
  sse(0x2f, 'COMISS / COMISD', 'Vx,Wx', 'np 66', { writes: ALL }),
  sse(0x50, 'MOVMSKPS / MOVMSKPD', 'Gd,Ux', 'np 66', { mod: 'reg' }),
  sse(0x51, 'SQRTPS / SQRTPD / SQRTSS / SQRTSD', 'Vx,Wx', ALL4),
  sse(0x52, 'RSQRTPS / RSQRTSS', 'Vx,Wx', 'np f3'),
  sse(0x53, 'RCPPS / RCPSS', 'Vx,Wx', 'np f3'),
  sse(0x54, 'ANDPS / ANDPD', 'Vx,Wx', 'np 66'),
  sse(0x55, 'ANDNPS / ANDNPD', 'Vx,Wx', 'np 66'),
  sse(0x56, 'ORPS / ORPD', 'Vx,Wx', 'np 66'),
  sse(0x57, 'XORPS / XORPD', 'Vx,Wx', 'np 66'),
  sse(0x58, 'ADDPS / ADDPD / ADDSS / ADDSD', 'Vx,Wx', ALL4),
  sse(0x59, 'MULPS / MULPD / MULSS / MULSD', 'Vx,Wx', ALL4),
  sse(0x5a, 'CVTPS2PD / CVTPD2PS / CVTSS2SD / CVTSD2SS', 'Vx,Wx', ALL4),
  sse(0x5b, 'CVTDQ2PS / CVTPS2DQ / CVTTPS2DQ', 'Vx,Wx', 'np 66 f3'),
  sse(0x5c, 'SUBPS / SUBPD / SUBSS / SUBSD', 'Vx,Wx', ALL4),
  sse(0x5d, 'MINPS / MINPD / MINSS / MINSD', 'Vx,Wx', ALL4),
  sse(0x5e, 'DIVPS / DIVPD / DIVSS / DIVSD', 'Vx,Wx', ALL4),
  sse(0x5f, 'MAXPS / MAXPD / MAXSS / MAXSD', 'Vx,Wx', ALL4),
  ...(['PUNPCKLBW', 'PUNPCKLWD', 'PUNPCKLDQ', 'PACKSSWB', 'PCMPGTB', 'PCMPGTW', 'PCMPGTD', 'PACKUSWB',
    'PUNPCKHBW', 'PUNPCKHWD', 'PUNPCKHDQ', 'PACKSSDW', 'PUNPCKLQDQ', 'PUNPCKHQDQ'] as const)
    .map((m, i) => sse(0x60 + i, m, 'Vx,Wx', '66')),
  sse(0x6e, 'MOVD / MOVQ', 'Vy,Ey', '66'),
  sse(0x6f, 'MOVDQA / MOVDQU', 'Vx,Wx', '66 f3'),
  sse(0x70, 'PSHUFD / PSHUFHW / PSHUFLW', 'Vx,Wx,Ib', '66 f3 f2'),
  ...([[0x71, ['', '', 'PSRLW', '', 'PSRAW', '', 'PSLLW', '']], [0x72, ['', '', 'PSRLD', '', 'PSRAD', '', 'PSLLD', '']],
    [0x73, ['', '', 'PSRLQ', 'PSRLDQ', '', '', 'PSLLQ', 'PSLLDQ']]] as const).flatMap(([op, names]) =>
    names.map((m, e) => m === '' ? sse(op, '(MMX shift group)', 'Ux,Ib', '', { ext: e, support: 'no' })
      : sse(op, m, 'Ux,Ib', '66', { ext: e, mod: 'reg' }))),
  sse(0x74, 'PCMPEQB', 'Vx,Wx', '66'),
  sse(0x75, 'PCMPEQW', 'Vx,Wx', '66'),
  sse(0x76, 'PCMPEQD', 'Vx,Wx', '66'),
  sse(0x77, 'EMMS', '', 'np'),
  sse(0x7e, 'MOVD / MOVQ (66: to r/m; F3: MOVQ xmm, xmm/m64)', 'Ey,Vy', '66 f3'),
  sse(0x7f, 'MOVDQA / MOVDQU (store)', 'Wx,Vx', '66 f3'),
  sse(0xc2, 'CMPPS / CMPPD / CMPSS / CMPSD', 'Vx,Wx,Ib', ALL4),
  sse(0xc3, 'MOVNTI', 'My,Gy', 'np', { mod: 'mem' }),
  sse(0xc4, 'PINSRW', 'Vdq,Ew,Ib', '66'),
  sse(0xc5, 'PEXTRW', 'Gd,Udq,Ib', '66', { mod: 'reg' }),
  sse(0xc6, 'SHUFPS / SHUFPD', 'Vx,Wx,Ib', 'np 66'),
  ...([[0xd1, 'PSRLW'], [0xd2, 'PSRLD'], [0xd3, 'PSRLQ'], [0xd4, 'PADDQ'], [0xd5, 'PMULLW']] as const).map(([o, m]) => sse(o, m, 'Vx,Wx', '66')),
  sse(0xd6, 'MOVQ (store)', 'Wq,Vq', '66'),
  sse(0xd7, 'PMOVMSKB', 'Gd,Ux', '66', { mod: 'reg' }),
  ...(['PSUBUSB', 'PSUBUSW', 'PMINUB', 'PAND', 'PADDUSB', 'PADDUSW', 'PMAXUB', 'PANDN', 'PAVGB', 'PSRAW', 'PSRAD',
    'PAVGW', 'PMULHUW', 'PMULHW'] as const).map((m, i) => sse(0xd8 + i, m, 'Vx,Wx', '66')),
  sse(0xe6, 'CVTTPD2DQ / CVTDQ2PD / CVTPD2DQ', 'Vx,Wx', '66 f3 f2'),
  sse(0xe7, 'MOVNTDQ', 'Mx,Vx', '66', { mod: 'mem' }),
  ...(['PSUBSB', 'PSUBSW', 'PMINSW', 'POR', 'PADDSB', 'PADDSW', 'PMAXSW', 'PXOR'] as const).map((m, i) => sse(0xe8 + i, m, 'Vx,Wx', '66')),
  ...(['PSLLW', 'PSLLD', 'PSLLQ', 'PMULUDQ', 'PMADDWD', 'PSADBW'] as const).map((m, i) => sse(0xf1 + i, m, 'Vx,Wx', '66')),
  sse(0xf7, 'MASKMOVDQU', 'Vdq,Udq', '66', { mod: 'reg' }),
  ...(['PSUBB', 'PSUBW', 'PSUBD', 'PSUBQ', 'PADDB', 'PADDW', 'PADDD'] as const).map((m, i) => sse(0xf8 + i, m, 'Vx,Wx', '66')),
];

/** The x87 escapes D8–DF, one row per ModRM reg value and form: the subset execute/x87*.ts implements is `yes`. */
const ARITH8 = ['FADD', 'FMUL', 'FCOM', 'FCOMP', 'FSUB', 'FSUBR', 'FDIV', 'FDIVR'];
const X87_YES: Record<string, string> = {
  ...Object.fromEntries(ARITH8.map((m, e) => [`d8/${e}/mem`, `${m} m32`])),
  ...Object.fromEntries(ARITH8.map((m, e) => [`dc/${e}/mem`, `${m} m64`])),
  ...Object.fromEntries(ARITH8.map((m, e) => [`da/${e}/mem`, `FI${m.slice(1)} m32int`])),
  ...Object.fromEntries(ARITH8.map((m, e) => [`de/${e}/mem`, `FI${m.slice(1)} m16int`])),
  ...Object.fromEntries(ARITH8.map((m, e) => [`d8/${e}/reg`, `${m} ST, ST(i)`])),
  ...Object.fromEntries(['FADD', 'FMUL', '', '', 'FSUBR', 'FSUB', 'FDIVR', 'FDIV'].flatMap((m, e) => (m ? [[`dc/${e}/reg`, `${m} ST(i), ST`], [`de/${e}/reg`, `${m}P ST(i), ST`]] : []))),
  'd9/0/mem': 'FLD m32', 'd9/2/mem': 'FST m32', 'd9/3/mem': 'FSTP m32', 'd9/5/mem': 'FLDCW', 'd9/7/mem': 'FNSTCW',
  'd9/4/mem': 'FLDENV', 'd9/6/mem': 'FNSTENV', 'dd/4/mem': 'FRSTOR', 'dd/6/mem': 'FNSAVE',
  'd9/0/reg': 'FLD ST(i)',
  'db/0/mem': 'FILD m32', 'db/5/mem': 'FLD m80', 'db/7/mem': 'FSTP m80',
  'db/4/reg': 'FNENI, FNDISI, FNCLEX, FNINIT, FNSETPM (rm 0–4)',
  'dd/0/mem': 'FLD m64', 'dd/2/mem': 'FST m64', 'dd/3/mem': 'FSTP m64', 'dd/7/mem': 'FNSTSW m16',
  'dd/2/reg': 'FST ST(i)', 'dd/3/reg': 'FSTP ST(i)', 'dd/4/reg': 'FUCOM ST(i)', 'dd/5/reg': 'FUCOMP ST(i)',
  'df/0/mem': 'FILD m16', 'df/4/mem': 'FBLD m80bcd', 'df/6/mem': 'FBSTP m80bcd', 'df/5/mem': 'FILD m64', 'df/4/reg': 'FNSTSW AX (rm 0)', 'df/0/reg': 'FFREEP ST(i)',
  'df/2/mem': 'FIST m16', 'df/3/mem': 'FISTP m16', 'db/2/mem': 'FIST m32', 'db/3/mem': 'FISTP m32', 'df/7/mem': 'FISTP m64',
  'd9/1/reg': 'FXCH ST(i)', 'd9/2/reg': 'FNOP (rm 0)', 'd9/4/reg': 'FCHS, FABS, FTST, FXAM (rm 0, 1, 4, 5)',
  'd9/5/reg': 'FLD1, FLDL2T, FLDL2E, FLDPI, FLDLG2, FLDLN2, FLDZ (rm 0–6)',

  'd9/7/reg': 'FPREM, FSQRT, FRNDINT, FSCALE (rm 0, 2, 4, 5; not FYL2XP1, FSINCOS, FSIN, FCOS)',
  'da/0/reg': 'FCMOVB', 'da/1/reg': 'FCMOVE', 'da/2/reg': 'FCMOVBE', 'da/3/reg': 'FCMOVU',
  'db/0/reg': 'FCMOVNB', 'db/1/reg': 'FCMOVNE', 'db/2/reg': 'FCMOVNBE', 'db/3/reg': 'FCMOVNU',
  'dd/0/reg': 'FFREE ST(i)',
  'db/5/reg': 'FUCOMI ST, ST(i)', 'db/6/reg': 'FCOMI ST, ST(i)', 'df/5/reg': 'FUCOMIP ST, ST(i)', 'df/6/reg': 'FCOMIP ST, ST(i)',
};
/**
 * Rows whose rm 0 form is not emulated (so the row is `no`) while other rm values are: D9 /6 is
 * F2XM1, FYL2X, FPTAN, FPATAN (not emulated) and FXTRACT, FPREM1, FDECSTP, FINCSTP (rm 4–7,
 * emulated); DE /3 and DA /5 are FCOMPP and FUCOMPP at rm 1 only.
 */
const X87_PARTLY: Record<string, string> = {
  'd9/6/reg': 'FXTRACT, FPREM1, FDECSTP, FINCSTP (rm 4–7); F2XM1, FYL2X, FPTAN, FPATAN (rm 0–3) not emulated',
  'de/3/reg': 'FCOMPP (rm 1); the rest not emulated', 'da/5/reg': 'FUCOMPP (rm 1); the rest not emulated',
};
/** Flags FCMOVcc reads (DA/DB reg 0–3: CF, ZF, CF|ZF, PF). */
const FCMOV_READS = [FL_C, FL_Z, FL_C | FL_Z, FL_P];
const X87_ROWS: readonly OpcodeRow[] = [0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf].flatMap((op) =>
  [0, 1, 2, 3, 4, 5, 6, 7].flatMap((e) => (['mem', 'reg'] as const).map((m) => {
    const key = `${op.toString(16)}/${e}/${m}`;
    const partly = X87_PARTLY[key];
    const name = X87_YES[key];
    if (partly) return row(op, partly, '', 'x87', { ext: e, mod: m, support: 'no' as const });
    const flags = m === 'reg' && (op === 0xdb || op === 0xdf) && (e === 5 || e === 6) ? { writes: ALL }
      : m === 'reg' && (op === 0xda || op === 0xdb) && e <= 3 ? { reads: FCMOV_READS[e]! } : {};
    return row(op, name ?? '(x87, not emulated)', m === 'mem' ? 'M' : '', 'x87', { ext: e, mod: m, ...flags, ...(name ? {} : { support: 'no' as const }) });
  })));

/** The table. */
export const OPCODES: readonly OpcodeRow[] = [
  // ---------------------------------------------------------------- one-byte map
  // ADD…CMP rows: 00–3D.
  ...ALU.flatMap((m, o) => {
    const b = o * 8, cmp = m === 'CMP', reads = m === 'ADC' || m === 'SBB' ? FL_C : 0;
    const f = { reads, writes: ALL };
    return [
      row(b, m, 'Eb,Gb', 'alu', { ...f, lock: !cmp }),
      row(b + 1, m, 'Ev,Gv', 'alu', { ...f, lock: !cmp, fast: { reg: F_ALU_RR, mem: F_ALU_MR } }),
      row(b + 2, m, 'Gb,Eb', 'alu', f),
      row(b + 3, m, 'Gv,Ev', 'alu', { ...f, fast: { reg: F_ALU_RR, mem: F_ALU_RM } }),
      row(b + 4, m, 'AL,Ib', 'alu', f),
      row(b + 5, m, 'rAX,Iz', 'alu', f),
    ];
  }),
  legacy(0x06, 'PUSH ES'), legacy(0x07, 'POP ES'), legacy(0x0e, 'PUSH CS'),
  legacy(0x16, 'PUSH SS'), legacy(0x17, 'POP SS'), legacy(0x1e, 'PUSH DS'), legacy(0x1f, 'POP DS'),
  legacy(0x27, 'DAA'), legacy(0x2f, 'DAS'), legacy(0x37, 'AAA'), legacy(0x3f, 'AAS'),
  // 26, 2E, 36, 3E, 64–67: prefixes; 40–4F: REX; 0F: the two-byte escape.
  ...eight(0x50, (i) => row(0x50 + i, 'PUSH', 'Zv', 'stack', { d64: true, stack: true, fast: { reg: F_PUSH } })),
  ...eight(0x58, (i) => row(0x58 + i, 'POP', 'Zv', 'stack', { d64: true, stack: true, fast: { reg: F_POP } })),
  legacy(0x60, 'PUSHA'), legacy(0x61, 'POPA'), legacy(0x62, 'BOUND', 'Gv,Ma'),
  row(0x63, 'MOVSXD', 'Gv,Ed', 'data', { fast: { reg: F_MOVSXD_R, mem: F_MOVSXD_M } }),
  row(0x68, 'PUSH', 'Iz', 'stack', { d64: true, stack: true }),
  row(0x69, 'IMUL', 'Gv,Ev,Iz', 'muldiv', { writes: ALL }),
  row(0x6a, 'PUSH', 'Ib', 'stack', { d64: true, stack: true }),
  row(0x6b, 'IMUL', 'Gv,Ev,Ib', 'muldiv', { writes: ALL }),
  row(0x6c, 'INSB', 'Yb,DX', 'io', { reads: FL_D }),
  row(0x6d, 'INS', 'Yz,DX', 'io', { reads: FL_D }),
  row(0x6e, 'OUTSB', 'DX,Xb', 'io', { reads: FL_D }),
  row(0x6f, 'OUTS', 'DX,Xz', 'io', { reads: FL_D }),
  ...Array.from({ length: 16 }, (_, c) =>
    row(0x70 + c, `J${CC[c]}`, 'Jb', 'control', { reads: CC_READS[c], control: 'jcc', fast: { reg: F_JCC, mem: F_JCC } })),
  ...ALU.map((m, e) => row(0x80, m, 'Eb,Ib', 'alu', { ext: e, reads: e === 2 || e === 3 ? FL_C : 0, writes: ALL, lock: e !== 7 })),
  ...ALU.map((m, e) => row(0x81, m, 'Ev,Iz', 'alu', {
    ext: e, reads: e === 2 || e === 3 ? FL_C : 0, writes: ALL, lock: e !== 7, fast: { reg: F_ALU_RI, mem: F_ALU_MI },
  })),
  legacy(0x82, 'ADD…CMP (alias of 80)', 'Eb,Ib'),
  ...ALU.map((m, e) => row(0x83, m, 'Ev,Ib', 'alu', {
    ext: e, reads: e === 2 || e === 3 ? FL_C : 0, writes: ALL, lock: e !== 7, fast: { reg: F_ALU_RI, mem: F_ALU_MI },
  })),
  row(0x84, 'TEST', 'Eb,Gb', 'alu', { writes: ALL }),
  row(0x85, 'TEST', 'Ev,Gv', 'alu', { writes: ALL, fast: { reg: F_TEST_RR } }),
  row(0x86, 'XCHG', 'Eb,Gb', 'data', { lock: true }),
  row(0x87, 'XCHG', 'Ev,Gv', 'data', { lock: true }),
  row(0x88, 'MOV', 'Eb,Gb', 'data'),
  row(0x89, 'MOV', 'Ev,Gv', 'data', { fast: { reg: F_MOV_RR, mem: F_MOV_STORE } }),
  row(0x8a, 'MOV', 'Gb,Eb', 'data'),
  row(0x8b, 'MOV', 'Gv,Ev', 'data', { fast: { reg: F_MOV_RR, mem: F_MOV_LOAD } }),
  row(0x8c, 'MOV', 'Ev,Sw', 'data'),
  row(0x8d, 'LEA', 'Gv,M', 'data', { noAccess: true, fast: { mem: F_LEA } }),
  row(0x8e, 'MOV', 'Sw,Ew', 'data'),
  row(0x8f, 'POP', 'Ev', 'stack', { ext: 0, d64: true, stack: true }),
  ...[1, 2, 3, 4, 5, 6, 7].map((e) => row(0x8f, '(XOP)', 'Ev', 'stack', { ext: e, support: 'no' })),
  row(0x90, 'NOP / PAUSE (XCHG r8, rAX with REX.B)', '', 'nop', { fast: { reg: F_NOP, mem: F_NOP, noRexB: true } }),
  ...[1, 2, 3, 4, 5, 6, 7].map((i) => row(0x90 + i, 'XCHG', 'Zv,rAX', 'data')),
  row(0x98, 'CBW / CWDE / CDQE', '', 'data'),
  row(0x99, 'CWD / CDQ / CQO', '', 'data'),
  legacy(0x9a, 'CALL far'),
  row(0x9b, 'FWAIT', '', 'x87'),
  row(0x9c, 'PUSHF', '', 'flags', { reads: ALL | FL_D, d64: true, stack: true }),
  row(0x9d, 'POPF', '', 'flags', { writes: ALL, d64: true, stack: true }),
  row(0x9e, 'SAHF', '', 'flags', { writes: FL_S | FL_Z | FL_A | FL_P | FL_C }),
  row(0x9f, 'LAHF', '', 'flags', { reads: FL_S | FL_Z | FL_A | FL_P | FL_C }),
  row(0xa0, 'MOV', 'AL,Ob', 'data'),
  row(0xa1, 'MOV', 'rAX,Ov', 'data'),
  row(0xa2, 'MOV', 'Ob,AL', 'data'),
  row(0xa3, 'MOV', 'Ov,rAX', 'data'),
  row(0xa4, 'MOVSB', 'Yb,Xb', 'string', { reads: FL_D }),
  row(0xa5, 'MOVS', 'Yv,Xv', 'string', { reads: FL_D }),
  row(0xa6, 'CMPSB', 'Xb,Yb', 'string', { reads: FL_D, writes: ALL }),
  row(0xa7, 'CMPS', 'Xv,Yv', 'string', { reads: FL_D, writes: ALL }),
  row(0xa8, 'TEST', 'AL,Ib', 'alu', { writes: ALL }),
  row(0xa9, 'TEST', 'rAX,Iz', 'alu', { writes: ALL }),
  row(0xaa, 'STOSB', 'Yb,AL', 'string', { reads: FL_D }),
  row(0xab, 'STOS', 'Yv,rAX', 'string', { reads: FL_D }),
  row(0xac, 'LODSB', 'AL,Xb', 'string', { reads: FL_D }),
  row(0xad, 'LODS', 'rAX,Xv', 'string', { reads: FL_D }),
  row(0xae, 'SCASB', 'AL,Yb', 'string', { reads: FL_D, writes: ALL }),
  row(0xaf, 'SCAS', 'rAX,Yv', 'string', { reads: FL_D, writes: ALL }),
  ...eight(0xb0, (i) => row(0xb0 + i, 'MOV', 'Zb,Ib', 'data')),
  ...eight(0xb8, (i) => row(0xb8 + i, 'MOV', 'Zv,Iv', 'data', { fast: { reg: F_MOV_RI } })),
  ...SHIFT.map((m, e) => row(0xc0, m, 'Eb,Ib', 'shift', { ext: e, ...shiftFlags(e), countFlags: true })),
  ...SHIFT.map((m, e) => row(0xc1, m, 'Ev,Ib', 'shift', { ext: e, ...shiftFlags(e), countFlags: true, fast: { reg: F_SHIFT_RI } })),
  row(0xc2, 'RET', 'Iw', 'control', { d64: true, stack: true, control: 'ret' }),
  row(0xc3, 'RET', '', 'control', { d64: true, stack: true, control: 'ret', fast: { reg: F_RET } }),
  legacy(0xc4, 'LES (VEX3)', 'Gz,Mp'), legacy(0xc5, 'LDS (VEX2)', 'Gz,Mp'),
  row(0xc6, 'MOV', 'Eb,Ib', 'data', { ext: 0 }),
  ...[1, 2, 3, 4, 5, 6, 7].map((e) => row(0xc6, '(XABORT at /7)', 'Eb,Ib', 'data', { ext: e, support: 'no' })),
  row(0xc7, 'MOV', 'Ev,Iz', 'data', { ext: 0 }),
  ...[1, 2, 3, 4, 5, 6, 7].map((e) => row(0xc7, '(XBEGIN at /7)', 'Ev,Iz', 'data', { ext: e, support: 'no' })),
  row(0xc8, 'ENTER', 'Iw,Ib', 'stack', { d64: true, stack: true }),
  row(0xc9, 'LEAVE', '', 'stack', { d64: true, stack: true }),
  row(0xca, 'RETF', 'Iw', 'control', { stack: true, control: 'far' }),
  row(0xcb, 'RETF', '', 'control', { stack: true, control: 'far' }),
  row(0xcc, 'INT3', '', 'control', { control: 'int' }),
  row(0xcd, 'INT', 'Ib', 'control', { control: 'int' }),
  row(0xce, 'INTO', '', 'control', { support: 'no' }),
  row(0xcf, 'IRETQ', '', 'control', { writes: ALL, stack: true, control: 'iret', rexW: true }),
  ...SHIFT.map((m, e) => row(0xd0, m, 'Eb,1', 'shift', { ext: e, ...shiftFlags(e) })),
  ...SHIFT.map((m, e) => row(0xd1, m, 'Ev,1', 'shift', { ext: e, ...shiftFlags(e) })),
  ...SHIFT.map((m, e) => row(0xd2, m, 'Eb,CL', 'shift', { ext: e, ...shiftFlags(e), countFlags: true })),
  ...SHIFT.map((m, e) => row(0xd3, m, 'Ev,CL', 'shift', { ext: e, ...shiftFlags(e), countFlags: true })),
  legacy(0xd4, 'AAM', 'Ib'), legacy(0xd5, 'AAD', 'Ib'), legacy(0xd6, 'SALC'),
  row(0xd7, 'XLAT', '', 'data', { support: 'no' }),
  ...X87_ROWS,
  row(0xe0, 'LOOPNE', 'Jb', 'control', { reads: FL_Z, control: 'loop' }),
  row(0xe1, 'LOOPE', 'Jb', 'control', { reads: FL_Z, control: 'loop' }),
  row(0xe2, 'LOOP', 'Jb', 'control', { control: 'loop' }),
  row(0xe3, 'JRCXZ', 'Jb', 'control', { control: 'loop' }),
  row(0xe4, 'IN', 'AL,Ib', 'io'),
  row(0xe5, 'IN', 'eAX,Ib', 'io'),
  row(0xe6, 'OUT', 'Ib,AL', 'io'),
  row(0xe7, 'OUT', 'Ib,eAX', 'io'),
  row(0xe8, 'CALL', 'Jz', 'control', { stack: true, control: 'call', fast: { reg: F_CALL, mem: F_CALL } }),
  row(0xe9, 'JMP', 'Jz', 'control', { control: 'jmp', fast: { reg: F_JMP, mem: F_JMP } }),
  legacy(0xea, 'JMP far'),
  row(0xeb, 'JMP', 'Jb', 'control', { control: 'jmp', fast: { reg: F_JMP, mem: F_JMP } }),
  row(0xec, 'IN', 'AL,DX', 'io'),
  row(0xed, 'IN', 'eAX,DX', 'io'),
  row(0xee, 'OUT', 'DX,AL', 'io'),
  row(0xef, 'OUT', 'DX,eAX', 'io'),
  row(0xf1, 'INT1', '', 'control', { support: 'no' }),
  row(0xf4, 'HLT', '', 'system', { privileged: true }),
  row(0xf5, 'CMC', '', 'flags', { reads: FL_C, writes: FL_C }),
  row(0xf6, 'TEST', 'Eb,Ib', 'alu', { ext: 0, writes: ALL }),
  row(0xf6, 'TEST', 'Eb,Ib', 'alu', { ext: 1, writes: ALL }),
  row(0xf6, 'NOT', 'Eb', 'alu', { ext: 2, lock: true }),
  row(0xf6, 'NEG', 'Eb', 'alu', { ext: 3, writes: ALL, lock: true }),
  row(0xf6, 'MUL', 'Eb', 'muldiv', { ext: 4, writes: ALL }),
  row(0xf6, 'IMUL', 'Eb', 'muldiv', { ext: 5, writes: ALL }),
  row(0xf6, 'DIV', 'Eb', 'muldiv', { ext: 6, writes: ALL }),
  row(0xf6, 'IDIV', 'Eb', 'muldiv', { ext: 7, writes: ALL }),
  row(0xf7, 'TEST', 'Ev,Iz', 'alu', { ext: 0, writes: ALL }),
  row(0xf7, 'TEST', 'Ev,Iz', 'alu', { ext: 1, writes: ALL }),
  row(0xf7, 'NOT', 'Ev', 'alu', { ext: 2, lock: true }),
  row(0xf7, 'NEG', 'Ev', 'alu', { ext: 3, writes: ALL, lock: true }),
  row(0xf7, 'MUL', 'Ev', 'muldiv', { ext: 4, writes: ALL }),
  row(0xf7, 'IMUL', 'Ev', 'muldiv', { ext: 5, writes: ALL }),
  row(0xf7, 'DIV', 'Ev', 'muldiv', { ext: 6, writes: ALL }),
  row(0xf7, 'IDIV', 'Ev', 'muldiv', { ext: 7, writes: ALL }),
  row(0xf8, 'CLC', '', 'flags', { writes: FL_C }),
  row(0xf9, 'STC', '', 'flags', { writes: FL_C }),
  row(0xfa, 'CLI', '', 'flags'),
  row(0xfb, 'STI', '', 'flags'),
  row(0xfc, 'CLD', '', 'flags'),
  row(0xfd, 'STD', '', 'flags'),
  row(0xfe, 'INC', 'Eb', 'alu', { ext: 0, writes: ALL & ~FL_C, lock: true }),
  row(0xfe, 'DEC', 'Eb', 'alu', { ext: 1, writes: ALL & ~FL_C, lock: true }),
  ...[2, 3, 4, 5, 6, 7].map((e) => row(0xfe, '(undefined)', 'Eb', 'alu', { ext: e, support: 'no' })),
  row(0xff, 'INC', 'Ev', 'alu', { ext: 0, writes: ALL & ~FL_C, lock: true }),
  row(0xff, 'DEC', 'Ev', 'alu', { ext: 1, writes: ALL & ~FL_C, lock: true }),
  row(0xff, 'CALL', 'Ev', 'control', { ext: 2, stack: true, control: 'call' }),
  row(0xff, 'CALL far', 'Mp', 'control', { ext: 3, support: 'no' }),
  row(0xff, 'JMP', 'Ev', 'control', { ext: 4, control: 'jmp' }),
  row(0xff, 'JMP far', 'Mp', 'control', { ext: 5, support: 'no' }),
  row(0xff, 'PUSH', 'Ev', 'stack', { ext: 6, d64: true, stack: true }),
  row(0xff, '(undefined)', 'Ev', 'stack', { ext: 7, support: 'no' }),

  // ---------------------------------------------------------------- 0F map
  row(0x100, 'SLDT', 'Ew', 'system', { ext: 0 }),
  row(0x100, 'STR', 'Ew', 'system', { ext: 1 }),
  row(0x100, 'LLDT', 'Ew', 'system', { ext: 2, privileged: true }),
  row(0x100, 'LTR', 'Ew', 'system', { ext: 3, privileged: true }),
  row(0x100, 'VERR', 'Ew', 'system', { ext: 4, support: 'ud' }),
  row(0x100, 'VERW', 'Ew', 'system', { ext: 5, support: 'ud' }),
  row(0x100, '(undefined)', 'Ew', 'system', { ext: 6, support: 'ud' }),
  row(0x100, '(undefined)', 'Ew', 'system', { ext: 7, support: 'ud' }),
  row(0x101, 'SGDT', 'Ms', 'system', { ext: 0, mod: 'mem' }),
  row(0x101, 'SIDT', 'Ms', 'system', { ext: 1, mod: 'mem' }),
  row(0x101, 'LGDT', 'Ms', 'system', { ext: 2, mod: 'mem', privileged: true }),
  row(0x101, 'LIDT', 'Ms', 'system', { ext: 3, mod: 'mem', privileged: true }),
  row(0x101, 'SMSW', 'Ew', 'system', { ext: 4 }),
  row(0x101, '(RSTORSSP)', 'Mq', 'system', { ext: 5, support: 'no' }),
  row(0x101, 'LMSW', 'Ew', 'system', { ext: 6, mod: 'mem', privileged: true }),
  row(0x101, 'INVLPG', 'Mb', 'system', { ext: 7, mod: 'mem', privileged: true }),
  row(0x101, 'SWAPGS (rm 0; RDTSCP at rm 1)', '', 'system', { ext: 7, mod: 'reg', privileged: true }),
  ...[0, 1, 2, 3, 6].map((e) => row(0x101, '(VMCALL, MONITOR, XGETBV, …)', '', 'system', { ext: e, mod: 'reg', support: 'no' })),
  row(0x105, 'SYSCALL', '', 'control', { control: 'sys', writes: ALL }),
  row(0x106, 'CLTS', '', 'system', { privileged: true }),
  row(0x107, 'SYSRETQ', '', 'control', { control: 'sys', writes: ALL, privileged: true, rexW: true }),
  row(0x108, 'INVD', '', 'system', { privileged: true }),
  row(0x109, 'WBINVD', '', 'system', { privileged: true }),
  row(0x10b, 'UD2', '', 'system', { support: 'ud' }),
  row(0x10d, 'PREFETCH', 'Ev', 'nop', { noAccess: true, fast: { reg: F_NOP, mem: F_NOP, sizes: 'any' } }),
  row(0x10e, 'FEMMS', '', 'simd', { support: 'no' }),
  ...eight(0x118, (i) => row(0x118 + i, i === 6 ? 'hint NOP (ENDBR64 with F3)' : 'hint NOP / PREFETCHh', 'Ev', 'nop', {
    noAccess: true, fast: { reg: F_NOP, mem: F_NOP, sizes: 'any' },
  })),
  row(0x120, 'MOV', 'Rd,Cd', 'system', { privileged: true }),
  row(0x121, 'MOV', 'Rd,Dd', 'system', { privileged: true }),
  row(0x122, 'MOV', 'Cd,Rd', 'system', { privileged: true }),
  row(0x123, 'MOV', 'Dd,Rd', 'system', { privileged: true }),
  row(0x130, 'WRMSR', '', 'system', { privileged: true }),
  row(0x131, 'RDTSC', '', 'system'),
  row(0x132, 'RDMSR', '', 'system', { privileged: true }),
  row(0x133, 'RDPMC', '', 'system', { support: 'no' }),
  row(0x134, 'SYSENTER', '', 'control', { support: 'no' }),
  row(0x135, 'SYSEXIT', '', 'control', { support: 'no' }),
  row(0x136, '(undefined)', '', 'system', { support: 'no' }),
  row(0x137, 'GETSEC', '', 'system', { support: 'no' }),
  ...Array.from({ length: 16 }, (_, c) => row(0x140 + c, `CMOV${CC[c]}`, 'Gv,Ev', 'data', { reads: CC_READS[c] })),
  ...Array.from({ length: 16 }, (_, c) =>
    row(0x180 + c, `J${CC[c]}`, 'Jz', 'control', { reads: CC_READS[c], control: 'jcc', fast: { reg: F_JCC, mem: F_JCC } })),
  ...Array.from({ length: 16 }, (_, c) => row(0x190 + c, `SET${CC[c]}`, 'Eb', 'data', { reads: CC_READS[c] })),
  row(0x1a0, 'PUSH FS', '', 'stack', { d64: true, stack: true }),
  row(0x1a1, 'POP FS', '', 'stack', { d64: true, stack: true }),
  row(0x1a2, 'CPUID', '', 'system'),
  row(0x1a3, 'BT', 'Ev,Gv', 'bit', { writes: FL_C }),
  row(0x1a4, 'SHLD', 'Ev,Gv,Ib', 'shift', { writes: ALL, countFlags: true }),
  row(0x1a5, 'SHLD', 'Ev,Gv,CL', 'shift', { writes: ALL, countFlags: true }),
  row(0x1a8, 'PUSH GS', '', 'stack', { d64: true, stack: true }),
  row(0x1a9, 'POP GS', '', 'stack', { d64: true, stack: true }),
  row(0x1aa, 'RSM', '', 'system', { support: 'no' }),
  row(0x1ab, 'BTS', 'Ev,Gv', 'bit', { writes: FL_C, lock: true }),
  row(0x1ac, 'SHRD', 'Ev,Gv,Ib', 'shift', { writes: ALL, countFlags: true }),
  row(0x1ad, 'SHRD', 'Ev,Gv,CL', 'shift', { writes: ALL, countFlags: true }),
  row(0x1ae, 'FXSAVE (FXSAVE64 with REX.W)', 'M', 'x87', { ext: 0, mod: 'mem' }),
  row(0x1ae, 'FXRSTOR (FXRSTOR64 with REX.W)', 'M', 'x87', { ext: 1, mod: 'mem' }),
  row(0x1ae, 'LDMXCSR', 'Md', 'simd', { ext: 2, mod: 'mem' }),
  row(0x1ae, 'STMXCSR', 'Md', 'simd', { ext: 3, mod: 'mem' }),
  ...[4, 5, 6].map((e) => row(0x1ae, '(XSAVE, XRSTOR, XSAVEOPT)', 'M', 'system', { ext: e, mod: 'mem', support: 'no' })),
  row(0x1ae, 'CLFLUSH', 'Mb', 'system', { ext: 7, mod: 'mem' }),
  ...[0, 1, 2, 3, 4].map((e) => row(0x1ae, '(RDFSBASE, …)', '', 'system', { ext: e, mod: 'reg', support: 'no' })),
  row(0x1ae, 'LFENCE', '', 'system', { ext: 5, mod: 'reg' }),
  row(0x1ae, 'MFENCE', '', 'system', { ext: 6, mod: 'reg' }),
  row(0x1ae, 'SFENCE', '', 'system', { ext: 7, mod: 'reg' }),
  row(0x1af, 'IMUL', 'Gv,Ev', 'muldiv', { writes: ALL }),
  row(0x1b0, 'CMPXCHG', 'Eb,Gb', 'data', { writes: ALL, lock: true }),
  row(0x1b1, 'CMPXCHG', 'Ev,Gv', 'data', { writes: ALL, lock: true }),
  row(0x1b3, 'BTR', 'Ev,Gv', 'bit', { writes: FL_C, lock: true }),
  row(0x1b6, 'MOVZX', 'Gv,Eb', 'data', { fast: { reg: F_MOVZX8_R, mem: F_MOVZX8_M } }),
  row(0x1b7, 'MOVZX', 'Gv,Ew', 'data', { fast: { reg: F_MOVZX16_R, mem: F_MOVZX16_M } }),
  // LOCK is accepted on every 0F BA form (as the executor always did, BT included; hardware #UDs LOCK BT).
  ...[0, 1, 2, 3].map((e) => row(0x1ba, '(undefined)', 'Ev,Ib', 'bit', { ext: e, lock: true, support: 'no' })),
  row(0x1ba, 'BT', 'Ev,Ib', 'bit', { ext: 4, writes: FL_C, lock: true }),
  row(0x1ba, 'BTS', 'Ev,Ib', 'bit', { ext: 5, writes: FL_C, lock: true }),
  row(0x1ba, 'BTR', 'Ev,Ib', 'bit', { ext: 6, writes: FL_C, lock: true }),
  row(0x1ba, 'BTC', 'Ev,Ib', 'bit', { ext: 7, writes: FL_C, lock: true }),
  row(0x1bb, 'BTC', 'Ev,Gv', 'bit', { writes: FL_C, lock: true }),
  row(0x1bc, 'BSF (TZCNT with F3)', 'Gv,Ev', 'bit', { writes: FL_Z }),
  row(0x1bd, 'BSR (LZCNT with F3)', 'Gv,Ev', 'bit', { writes: FL_Z }),
  row(0x1be, 'MOVSX', 'Gv,Eb', 'data'),
  row(0x1bf, 'MOVSX', 'Gv,Ew', 'data'),
  row(0x1c0, 'XADD', 'Eb,Gb', 'alu', { writes: ALL, lock: true }),
  row(0x1c1, 'XADD', 'Ev,Gv', 'alu', { writes: ALL, lock: true }),
  // LOCK is accepted on every 0F C7 form (as the executor always did); only /1 without REX.W is emulated.
  row(0x1c7, 'CMPXCHG8B (CMPXCHG16B with REX.W: not emulated)', 'Mq', 'data', { ext: 1, mod: 'mem', writes: FL_Z, lock: true }),
  ...[0, 2, 3, 4, 5, 6, 7].map((e) => row(0x1c7, '(RDRAND, RDSEED, XSAVEC, …)', 'Mq', 'data', { ext: e, lock: true, support: 'no' })),
  ...eight(0x1c8, (i) => row(0x1c8 + i, 'BSWAP', 'Zv', 'data')),
  ...SSE_ROWS,
];
