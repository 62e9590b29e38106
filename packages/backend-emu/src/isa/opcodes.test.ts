/**
 * The opcode table and what is derived from it agree: the table covers the one-byte map, every
 * row decodes to the length its operand notation gives (counted here independently of the
 * decoder's arrays), the executor implements exactly the rows marked `yes` (and raises counted
 * or uncounted #UD for `no`/`ud`), privileged rows raise #GP(0) at CPL 3, and the specialised
 * handler the decoder picks, its block-ending and memory classes and the compiler's flag use
 * match each row's columns. Lengths against real code: decoder/guest-elfs.test.ts.
 */
import test from 'ava';
import { ExitKind } from '@hyvisor/core';
import { A_EXCEPTION } from '../cpu/cpu.js';
import { Insn, decode, type CodeReader } from '../decoder/decoder.js';
import { CODE, DATA, KCODE, KDATA, STACK_TOP, harness, setRegs, toUser, userPaging } from '../test-support.js';
import { accessesMemory, classify, isBranch } from '../execute/fast.js';
import { F_NONE } from './fast-kinds.js';
import { hasModrm, operandsOf, ROWS_BY_OP, writesAllFlags, FLAGS_READ, FLAGS_WRITTEN } from './derive.js';
import { FL_STATUS, OPCODES, type OpcodeRow } from './opcodes.js';

const PREFIXES = new Set([0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf0, 0xf2, 0xf3]);

class Bytes implements CodeReader {
  constructor(private readonly b: readonly number[]) {}
  byte(i: number): number {
    if (i >= this.b.length) throw new Error(`read past the ${this.b.length} bytes given`);
    return this.b[i]!;
  }
}

function escapeOf(op: number): number[] {
  return op < 0x100 ? [op] : op < 0x200 ? [0x0f, op & 0xff] : op < 0x300 ? [0x0f, 0x38, op & 0xff] : [0x0f, 0x3a, op & 0xff];
}

/** Immediate bytes the row's operands call for, counted from the notation (`opsz`: 2, 4 or 8). */
function immediateBytes(row: OpcodeRow, opsz: number): number {
  let n = 0;
  for (const o of operandsOf(row)) {
    if (o.method === 'O') n += 8;
    else if (o.method === 'J') n += o.size === 'b' ? 1 : 4;
    else if (o.method === 'I') n += o.size === 'b' ? 1 : o.size === 'w' ? 2 : o.size === 'z' ? (opsz === 2 ? 2 : 4) : opsz;
  }
  return n;
}

/** A sample encoding of `row`: prefix, opcode, ModRM (memory form [rax] unless the row is register-only) and immediate bytes. */
function encode(row: OpcodeRow, prefix: number[] = [], opsz = 4): number[] {
  const modrm = hasModrm(row) ? [(row.mod === 'reg' ? 0xc0 : 0x00) | ((row.ext ?? 0) << 3)] : [];
  return [...prefix, ...escapeOf(row.op), ...modrm, ...new Array<number>(immediateBytes(row, opsz)).fill(0)];
}

function decoded(bytes: number[]): Insn {
  const d = new Insn();
  decode(new Bytes(bytes), d);
  return d;
}

test('every one-byte opcode but the prefixes, REX and the 0F escape has rows for every ModRM reg value and form', (t) => {
  for (let op = 0; op < 0x100; op++) {
    const rows = ROWS_BY_OP[op]!;
    if (PREFIXES.has(op) || (op & 0xf0) === 0x40 || op === 0x0f) { t.is(rows.length, 0, `0x${op.toString(16)}`); continue; }
    for (let e = 0; e < 8; e++) {
      for (const m of ['reg', 'mem'] as const) {
        t.true(rows.some((r) => (r.ext === undefined || r.ext === e) && (r.mod === undefined || r.mod === m)), `0x${op.toString(16)} /${e} ${m}`);
      }
    }
  }
});

test('every row decodes to the length its operands give, with and without 0x66 and REX.W', (t) => {
  let n = 0;
  for (const row of OPCODES) {
    for (const [prefix, opsz] of [[[], 4], [[0x66], 2], [[0x48], 8]] as const) {
      const bytes = encode(row, [...prefix], opsz);
      const d = decoded(bytes);
      const what = `${row.mnemonic} (0x${row.op.toString(16)}${row.ext !== undefined ? `/${row.ext}` : ''}) ${bytes.map((b) => b.toString(16)).join(' ')}`;
      t.is(d.op, row.op, what);
      t.is(d.hasModrm, hasModrm(row), what);
      t.is(d.len, bytes.length, what);
      n++;
    }
  }
  t.log(`${OPCODES.length} rows, ${n} encodings`);
});

test('0F, 0F 38 and 0F 3A opcodes without a row decode with their map default (ModRM; imm8 in 0F 3A)', (t) => {
  for (let op = 0x100; op < 0x400; op++) {
    if (ROWS_BY_OP[op]!.length > 0 || op === 0x138 || op === 0x13a) continue; // 0F 38 and 0F 3A are escapes
    const bytes = [...escapeOf(op), 0x00, ...(op >= 0x300 ? [0] : [])];
    t.is(decoded(bytes).len, bytes.length, `0x${op.toString(16)}`);
  }
});

/**
 * Runs `row`'s sample once at CPL `cpl` with RAX → writable data, RCX = RDX = 0, EFER.SCE set and
 * a ring-0 return frame on the stack;
 * returns the exception it raised (-1 for none), the unimplemented count and the exit.
 */
function runSample(row: OpcodeRow, cpl: 0 | 3): { vector: number; unimplemented: number; exit: ExitKind | undefined } {
  // SSE rows run their first emulated mandatory-prefix form.
  const form = row.forms?.split(' ')[0];
  const mandatory = form === '66' ? [0x66] : form === 'f3' ? [0xf3] : form === 'f2' ? [0xf2] : [];
  const h = harness(Uint8Array.from(encode(row, row.rexW ? [0x48] : mandatory, row.rexW ? 8 : 4)));
  const sregs = h.vcpu.getSpecialRegisters();
  h.vcpu.setSpecialRegisters({ ...sregs, cr4: sregs.cr4 | 0x600n }); // OSFXSR, OSXMMEXCPT: SSE enabled as an OS would
  const sp = STACK_TOP - 0x100;
  setRegs(h, { rax: BigInt(DATA), rcx: 0n, rdx: 0n, rsp: BigInt(sp) });
  // A return frame for RET, RETF and IRETQ: RIP, CS, RFLAGS, RSP, SS (ring 0).
  [CODE + 0x40, KCODE, 2, STACK_TOP, KDATA].forEach((v, i) => h.mem.setU64(sp + i * 8, BigInt(v)));
  h.vcpu.setMsr(0xc0000080, h.vcpu.getMsr(0xc0000080) | 1n); // EFER.SCE: SYSCALL/SYSRET exist
  if (operandsOf(row)[0]?.method === 'C') setRegs(h, { rax: h.vcpu.getSpecialRegisters().cr0 }); // MOV CR0, RAX keeps long mode
  if (cpl === 3) { userPaging(h); toUser(h); }
  const cpu = h.vcpu.cpu;
  cpu.abortKind = 0; cpu.excVector = -1;
  const exit = h.vcpu.singleStep();
  const vector = cpu.abortKind === A_EXCEPTION ? cpu.excVector : -1;
  return { vector, unimplemented: h.vcpu.unimplementedInstructions, exit: exit?.kind };
}

test('the executor implements exactly the rows marked yes: no → counted #UD, ud → uncounted #UD', (t) => {
  for (const row of OPCODES) {
    const what = `${row.mnemonic} (0x${row.op.toString(16)}${row.ext !== undefined ? `/${row.ext}` : ''}${row.mod ? ` ${row.mod}` : ''})`;
    const r = runSample(row, 0);
    t.not(r.exit, ExitKind.InternalError, what);
    if (row.support === 'yes') {
      t.is(r.unimplemented, 0, what);
      t.not(r.vector, 6, what);
    } else {
      t.is(r.vector, 6, what);
      t.is(r.unimplemented, row.support === 'no' ? 1 : 0, what);
    }
  }
});

test('privileged rows raise #GP at CPL 3', (t) => {
  const rows = OPCODES.filter((r) => r.privileged === true && r.support === 'yes');
  t.true(rows.length >= 15);
  for (const row of rows) t.is(runSample(row, 3).vector, 13, `${row.mnemonic} (0x${row.op.toString(16)})`);
});

test('specialised handlers: the decoder picks each row\'s handler, and its branch and memory classes follow the row', (t) => {
  let n = 0;
  for (const row of OPCODES) {
    if (row.fast === undefined) continue;
    for (const form of ['reg', 'mem'] as const) {
      const kind = form === 'reg' ? row.fast.reg : row.fast.mem;
      if (kind === undefined || (form === 'mem' && !hasModrm(row))) continue;
      const modrm = hasModrm(row) ? [(form === 'reg' ? 0xc0 : 0) | ((row.ext ?? 0) << 3)] : [];
      const bytes = [...escapeOf(row.op), ...modrm, ...new Array<number>(immediateBytes(row, 4)).fill(0)];
      const d = decoded(bytes);
      const what = `${row.mnemonic} (0x${row.op.toString(16)}) ${form}`;
      t.is(classify(d), kind, what);
      t.is(isBranch(kind), row.control !== undefined, what);
      if (row.stack) t.true(accessesMemory(kind), what);
      if (form === 'reg' && !row.stack) t.false(accessesMemory(kind), what);
      n++;
    }
  }
  t.true(n > 50);
  // Forms the handlers do not take: 16-bit operands of v-sized rows, LOCK, 0x66 on d64 rows.
  t.is(classify(decoded([0x66, 0x01, 0xc0])), F_NONE, 'add ax, ax');
  t.is(classify(decoded([0xf0, 0x01, 0x00])), F_NONE, 'lock add [rax], eax');
  t.is(classify(decoded([0x66, 0x50])), F_NONE, 'push ax');
  t.is(classify(decoded([0x41, 0x90])), F_NONE, 'xchg r8d, eax');
  t.not(classify(decoded([0x66, 0x0f, 0x1f, 0x44, 0, 0])), F_NONE, 'nopw 0(rax,rax)');
});

test('flag columns: ALU rows write every status flag, ADC/SBB and Jcc read, rotates write only CF and OF', (t) => {
  const at = (op: number, ext: number): [number, number] => [FLAGS_READ[(op << 3) | ext]!, FLAGS_WRITTEN[(op << 3) | ext]!];
  for (let o = 0; o < 8; o++) {
    const [r, w] = at(o * 8 + 1, 0);
    t.true(writesAllFlags(w));
    t.is(r !== 0, o === 2 || o === 3);
  }
  for (let c = 0; c < 16; c++) t.not(at(0x70 + c, 0)[0], 0);
  t.false(writesAllFlags(at(0xc1, 0)[1])); // ROL
  t.true(writesAllFlags(at(0xc1, 4)[1])); // SHL
  t.is(at(0x89, 0)[1], 0);
  t.is(FL_STATUS, 63);
});
