/**
 * SSE/x87 state against the Intel SDM's literals: the FXSAVE layout (vol. 1 §10.5.1, table
 * 10-2 / vol. 2 FXSAVE), reset and FNINIT values, the CR0.EM/TS/MP and CR4.OSFXSR/OSXMMEXCPT
 * rules (#UD, #NM, #XM), MXCSR reserved bits (#GP(0)), exact 80-bit moves and FST rounding.
 * Comparison with the CPU itself: differential/simd.test.ts.
 */
import test from 'ava';
import { DATA, handler, harness, hex, reg, runToHlt, setRegs, type Harness } from '../test-support.js';

const CR0_MP = 2n, CR0_EM = 4n, CR0_TS = 8n, CR4_OSFXSR = 0x200n, CR4_OSXMMEXCPT = 0x400n;

/** Runs `code` + HLT with RDI → DATA, `data` at DATA, CR4.OSFXSR|OSXMMEXCPT set unless `cr` says otherwise. */
function exec(code: string, data: Record<number, number[]> = {}, cr: { cr0Or?: bigint; cr4?: bigint } = {}): Harness {
  const h = harness(hex(code, 'f4'));
  const s = h.vcpu.getSpecialRegisters();
  h.vcpu.setSpecialRegisters({ ...s, cr0: s.cr0 | (cr.cr0Or ?? 0n), cr4: cr.cr4 ?? (s.cr4 | CR4_OSFXSR | CR4_OSXMMEXCPT) });
  setRegs(h, { rdi: BigInt(DATA) });
  for (const [at, bytes] of Object.entries(data)) h.mem.write(DATA + Number(at), Uint8Array.from(bytes));
  runToHlt(h);
  return h;
}

function bytesAt(h: Harness, at: number, n: number): number[] {
  return [...h.mem.read(DATA + at, n)!];
}

const u16 = (h: Harness, at: number): number => h.mem.u16(DATA + at)!;
const u32 = (h: Harness, at: number): number => h.mem.u32(DATA + at)!;
const le = (v: bigint, n: number): number[] => Array.from({ length: n }, (_, i) => Number((v >> BigInt(8 * i)) & 0xffn));

const FXSAVE64 = '480fae07', FXRSTOR64 = '480fae0f';

test('FXSAVE64 after reset: FCW 037Fh, FSW 0, FTW 0, MXCSR 1F80h, MXCSR_MASK FFBFh (no DAZ), registers zero', (t) => {
  const h = exec(FXSAVE64, { 0: new Array(512).fill(0xaa) });
  t.is(u16(h, 0), 0x037f);
  t.is(u16(h, 2), 0);
  t.is(h.mem.u8(DATA + 4), 0);
  t.is(u32(h, 24), 0x1f80);
  t.is(u32(h, 28), 0xffbf);
  t.deepEqual(bytesAt(h, 32, 10), new Array(10).fill(0));
  t.deepEqual(bytesAt(h, 160, 16 * 16), new Array(256).fill(0));
  t.deepEqual(bytesAt(h, 464, 48), new Array(48).fill(0xaa), 'bytes 464–511 are left to software');
});

test('FXSAVE64 layout: ST(i) in stack order at 32 + 16i, abridged tags by physical register, TOP in FSW, XMMi at 160 + 16i, MXCSR at 24', (t) => {
  // fninit; fild dword [rdi+0x300] (1); fld qword [rdi+0x308] (1.5); movdqu xmm15, [rdi+0x310];
  // ldmxcsr [rdi+0x320]; fxsave64 [rdi]
  const h = exec('dbe3 db8700030000 dd8708030000 f3440f6fbf10030000 0fae9720030000 ' + FXSAVE64, {
    0x300: [1, 0, 0, 0], 0x308: le(0x3ff8000000000000n, 8),
    0x310: Array.from({ length: 16 }, (_, i) => i + 1), 0x320: le(0x9f80n, 4),
  });
  // Two pushes from TOP 0: TOP = 6, physical registers 7 (1.0) and 6 (1.5) in use.
  t.is((u16(h, 2) >> 11) & 7, 6);
  t.is(h.mem.u8(DATA + 4), 0b1100_0000);
  // ST0 = 1.5: exponent 3FFFh, significand C000000000000000h; ST1 = 1.0: 3FFFh, 8000000000000000h.
  t.deepEqual(bytesAt(h, 32, 10), [...le(0xc000000000000000n, 8), 0xff, 0x3f]);
  t.deepEqual(bytesAt(h, 48, 10), [...le(0x8000000000000000n, 8), 0xff, 0x3f]);
  t.deepEqual(bytesAt(h, 160 + 15 * 16, 16), Array.from({ length: 16 }, (_, i) => i + 1));
  t.is(u32(h, 24), 0x9f80);
  // FOP of the last FLD m64 (DD /0, ModRM 87h): 11 bits (opcode low 3 bits << 8) | ModRM.
  t.is(u16(h, 6), (5 << 8) | 0x87);
  // FDP: the operand's linear address; FIP: the instruction's.
  t.is(Number(h.mem.u64(DATA + 16)!), DATA + 0x308);
});

test('FXRSTOR64 restores what FXSAVE64 saved, bit for bit; FLD/FSTP m80 moves the 80 bits unchanged', (t) => {
  const ext = [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0x7f, 0x01, 0x40]; // an unnormal: no rounding allowed
  const h = exec('dbe3 db af 00 03 00 00 ' + FXSAVE64 + ' dbe3 ' + FXRSTOR64 + ' db bf 10 03 00 00', { 0x300: ext });
  t.deepEqual(bytesAt(h, 0x310, 10), ext);
  t.is(h.mem.u8(DATA + 4), 0x80, 'abridged tag of physical register 7');
});

test('FXRSTOR with a reserved MXCSR bit is #GP(0) and loads nothing; LDMXCSR with DAZ or bit 16 is #GP(0)', (t) => {
  const area = new Array(512).fill(0);
  area[24] = 0x80; area[25] = 0x1f; area[26] = 0x01; // MXCSR 11F80h
  area[0] = 0x7f; // FCW 7Fh
  let h = exec('dbe3 ' + FXRSTOR64, { 0: area });
  t.is(h.vcpu.readRegister('rip'), handler(13) + 1);
  t.is(h.vcpu.cpu.fcw, 0x37f);
  h = exec('0fae17', { 0: le(0x1fc0n, 4) });
  t.is(h.vcpu.readRegister('rip'), handler(13) + 1, 'DAZ (bit 6) is not in MXCSR_MASK');
  h = exec('0fae17', { 0: le(0x11f80n, 4) });
  t.is(h.vcpu.readRegister('rip'), handler(13) + 1);
  h = exec('0fae17 0fae5f04', { 0: le(0x7f80n | 0x6000n, 4) });
  t.is(u32(h, 4), 0x7f80, 'STMXCSR reads back what LDMXCSR loaded');
});

test('CR4.OSFXSR clear or CR0.EM set: SSE is #UD; CR0.TS: #NM; x87 with EM or TS: #NM; FWAIT: #NM only with TS and MP', (t) => {
  const movaps = '0f28c1';
  const s0 = harness('').vcpu.getSpecialRegisters().cr4;
  t.is(exec(movaps, {}, { cr4: s0 & ~CR4_OSFXSR }).vcpu.readRegister('rip'), handler(6) + 1);
  t.is(exec(movaps, {}, { cr0Or: CR0_EM }).vcpu.readRegister('rip'), handler(6) + 1);
  t.is(exec(movaps, {}, { cr0Or: CR0_TS }).vcpu.readRegister('rip'), handler(7) + 1);
  t.is(exec('dbe3', {}, { cr0Or: CR0_EM }).vcpu.readRegister('rip'), handler(7) + 1);
  t.is(exec('dd07', {}, { cr0Or: CR0_TS }).vcpu.readRegister('rip'), handler(7) + 1);
  t.is(exec(FXSAVE64, {}, { cr0Or: CR0_TS }).vcpu.readRegister('rip'), handler(7) + 1);
  t.is(exec('9b', {}, { cr0Or: CR0_TS }).vcpu.readRegister('rip'), CODE_END(1), 'TS without MP: FWAIT runs');
  t.is(exec('9b', {}, { cr0Or: CR0_TS | CR0_MP }).vcpu.readRegister('rip'), handler(7) + 1);
  t.is(exec('480fae4708', {}, {}).vcpu.readRegister('rip'), handler(13) + 1, 'FXSAVE to a misaligned address: #GP(0)');
});

/** RIP after the HLT that follows `n` bytes of code. */
function CODE_END(n: number): number {
  return 0x100000 + n + 1;
}

test('an unmasked SIMD exception is #XM with OSXMMEXCPT, #UD without; the flag is set and the destination kept', (t) => {
  // ldmxcsr [rdi] (ZM clear); movsd xmm0, [rdi+8] (1.0); xorps xmm1, xmm1; divsd xmm0, xmm1
  const code = '0fae17 f20f104708 0f57c9 f20f5ec1';
  const data = { 0: le(0x1f80n & ~0x200n, 4), 8: le(0x3ff0000000000000n, 8) };
  let h = exec(code, data);
  t.is(h.vcpu.readRegister('rip'), handler(19) + 1);
  t.is(h.vcpu.cpu.mxcsr & 0x3f, 0x4, 'ZE');
  t.is(h.vcpu.cpu.xmm[1], 0x3ff00000, 'XMM0 still 1.0');
  const s0 = harness('').vcpu.getSpecialRegisters().cr4;
  h = exec(code, data, { cr4: s0 | CR4_OSFXSR });
  t.is(h.vcpu.readRegister('rip'), handler(6) + 1);
  // Masked (the default): +∞ and ZE.
  h = exec('f20f104708 0f57c9 f20f5ec1 0fae5f10', data);
  t.is(h.vcpu.cpu.xmm[1], 0x7ff00000);
  t.is(u32(h, 0x10) & 0x3f, 0x4);
});

test('FSTP m32 rounds 1 + 2^-24 (a tie) to even under round-to-nearest and up with RC = up, setting PE and C1 = 1', (t) => {
  const tie = [...le(0x8000008000000000n, 8), 0xff, 0x3f]; // 1 + 2^-24 as an 80-bit value
  let h = exec('db af 00 03 00 00 d9 9f 10 03 00 00 dfe0', { 0x300: tie });
  t.is(u32(h, 0x310), 0x3f800000);
  t.is(Number(reg(h, 'rax')) & 0x220, 0x20, 'PE, C1 clear (rounded down)');
  // fldcw [rdi+0x320] with RC = 10b (up)
  h = exec('d9 af 20 03 00 00 db af 00 03 00 00 d9 9f 10 03 00 00 dfe0', { 0x300: tie, 0x320: le(0x0b7fn, 2) });
  t.is(u32(h, 0x310), 0x3f800001);
  t.is(Number(reg(h, 'rax')) & 0x220, 0x220, 'PE and C1 (rounded up)');
});

test('x87 stack: FLD onto a full stack is IE + SF with C1 = 1 and the QNaN indefinite; FSTP from an empty one stores the indefinite', (t) => {
  const nine = Array.from({ length: 9 }, () => 'db 87 00 03 00 00').join(' '); // fild dword [rdi+0x300], nine times
  const h = exec(`dbe3 ${nine} dfe0 ${FXSAVE64.replace('07', '47 40')}`, { 0x300: [7, 0, 0, 0] });
  const sw = Number(reg(h, 'rax')) & 0xffff;
  t.is(sw & 0x241, 0x241, 'IE, SF, C1');
  t.deepEqual(bytesAt(h, 0x40 + 32, 10), [0, 0, 0, 0, 0, 0, 0, 0xc0, 0xff, 0xff], 'ST0 = the indefinite');
  const e = exec('dbe3 dd 9f 00 03 00 00 dfe0');
  t.deepEqual(bytesAt(e, 0x300, 8), le(0xfff8000000000000n, 8));
  t.is(Number(reg(e, 'rax')) & 0x241, 0x41, 'IE, SF, C1 = 0 (underflow)');
});
