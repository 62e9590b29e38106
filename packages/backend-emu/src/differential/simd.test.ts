/**
 * Differential tests of SSE/SSE2 and the x87 subset against KVM's ring 3 (kvm_pvm runs ring 3
 * natively: the host CPU is the reference). Random programs (simd-gen.ts) over IEEE special
 * operands; after every instruction the FXSAVE image (XMM0–15, MXCSR, FCW/FSW/FTW, ST0–7),
 * RFLAGS (after COMISS…) and any general register written are compared, plus the final state.
 * Not compared: FIP/FDP/FOP (this AMD host saves them only with an exception pending; the
 * emulator keeps them like Intel), MXCSR_MASK (the host's has DAZ), bytes 416–511 of each image,
 * RCPPS/RSQRTPS (approximations that differ between CPUs; not generated). `HYVISOR_DIFF_SEED`
 * and `HYVISOR_SIMD_RUNS` change the seed and the number of programs.
 */
import test from 'ava';
import type { Backend } from '@hyvisor/core';
import { KvmBackend } from '@hyvisor/backend-kvm';
import { requireKvm } from '@hyvisor/backend-kvm/testing';
import { EmuBackend } from '../emu-backend.js';
import { hex } from '../test-support.js';
import {
  DATA_BYTES, FCW_AT, FLAGS_AT, GPR_AT, MXCSR_AT, OPERANDS, OPERAND_COUNT, Rng, SLOTS_AT, assembleSimd, genFcw, genMxcsr,
  genSse, genX87, operand, type SimdInsn,
} from './simd-gen.js';
import { GPRS, USER_DATA, runRing3, type Ring3Input, type Ring3Output } from './ring3.js';

let kvmBackend: Backend | undefined;
const emuBackend = new EmuBackend();
test.after.always(() => { kvmBackend?.dispose(); emuBackend.dispose(); });

const SEED = Number(process.env['HYVISOR_DIFF_SEED'] ?? 0x5eed);
const RUNS = Number(process.env['HYVISOR_SIMD_RUNS'] ?? 400);
const ARITH = 0x8d5;

/** Mask of the compared bits of the FXSAVE image's dword at `o`: not FOP, FIP, FDP (6–23), MXCSR_MASK (28–31), 416–511. */
function imageMask(o: number): number {
  if (o === 4) return 0xffff;
  return (o >= 8 && o < 24) || (o >= 28 && o < 32) || o >= 416 ? 0 : -1;
}

function differences(e: Ring3Output, k: Ring3Output, insns: readonly SimdInsn[]): string[] {
  const out: string[] = [];
  const h = (v: bigint | number): string => `0x${(typeof v === 'number' ? v >>> 0 : v).toString(16)}`;
  if (e.vector !== k.vector || e.error !== k.error) out.push(`trap: emu #${e.vector}/${e.error}, kvm #${k.vector}/${k.error}`);
  if (e.rip !== k.rip) out.push(`rip: emu ${h(e.rip)}, kvm ${h(k.rip)}`);
  if ((e.rflags & ARITH) !== (k.rflags & ARITH)) out.push(`rflags: emu ${h(e.rflags)}, kvm ${h(k.rflags)}`);
  for (const r of GPRS) if (e.regs[r] !== k.regs[r]) out.push(`${r}: emu ${h(e.regs[r])}, kvm ${h(k.regs[r])}`);
  const ev = new DataView(e.data.buffer, e.data.byteOffset), kv = new DataView(k.data.buffer, k.data.byteOffset);
  insns.forEach((insn, i) => {
    const what = `after #${i} ${insn.text} [${insn.bytes.map((b) => b.toString(16).padStart(2, '0')).join(' ')}]`;
    if (insn.flags) {
      const a = ev.getUint32(FLAGS_AT + 8 * i, true) & ARITH, b = kv.getUint32(FLAGS_AT + 8 * i, true) & ARITH;
      if (a !== b) out.push(`${what}: flags emu ${h(a)}, kvm ${h(b)}`);
    }
    if (insn.gpr >= 0) {
      const a = ev.getBigUint64(GPR_AT + 8 * i, true), b = kv.getBigUint64(GPR_AT + 8 * i, true);
      if (a !== b) out.push(`${what}: gpr emu ${h(a)}, kvm ${h(b)}`);
    }
    const slot = SLOTS_AT + 0x200 * i;
    for (let o = 0; o < 512; o += 4) {
      const mask = imageMask(o);
      const a = ev.getUint32(slot + o, true) & mask, b = kv.getUint32(slot + o, true) & mask;
      if (a !== b) out.push(`${what}: fxsave+${o} (${fieldOf(o)}) emu ${h(a)}, kvm ${h(b)}`);
    }
  });
  // Operands stored by the program (movups [m], fstp m…).
  for (let o = OPERANDS; o < OPERANDS + 16 * OPERAND_COUNT; o += 4) {
    const a = ev.getUint32(o, true), b = kv.getUint32(o, true);
    if (a !== b) out.push(`data+${h(o)}: emu ${h(a)}, kvm ${h(b)}`);
  }
  return out;
}

function fieldOf(o: number): string {
  if (o < 4) return 'FCW/FSW';
  if (o < 8) return 'FTW/FOP';
  if (o < 28) return 'MXCSR';
  if (o < 160) return `ST${(o - 32) >> 4}`;
  return `XMM${(o - 160) >> 4}`;
}

function program(seed: number, x87: boolean): { input: Ring3Input; insns: SimdInsn[] } {
  const r = new Rng(seed);
  const data = new Uint8Array(DATA_BYTES);
  const dv = new DataView(data.buffer);
  for (let i = 0; i < OPERAND_COUNT; i++) operand(r, dv, OPERANDS + 16 * i);
  for (let o = 0x900; o < 0x980; o += 4) dv.setUint32(o, r.pick(4) === 0 ? r.pick(1000) : r.u32(), true);
  dv.setUint32(MXCSR_AT, genMxcsr(r), true);
  dv.setUint16(FCW_AT, x87 ? genFcw(r) : 0x37f, true);
  const n = 4 + r.pick(20);
  const insns: SimdInsn[] = [];
  for (let i = 0; i < n; i++) insns.push(x87 && r.pick(3) !== 0 ? genX87(r) : genSse(r));
  return { input: { code: assembleSimd(insns), data, regs: { rbx: BigInt(USER_DATA) } }, insns };
}

function run(t: import('ava').ExecutionContext, x87: boolean, runs: number, seed: number): void {
  if (!requireKvm(t)) return;
  kvmBackend ??= new KvmBackend();
  let instructions = 0, traps = 0;
  for (let i = 0; i < runs; i++) {
    const s = (seed + i * 0x9e3779b9) >>> 0;
    const { input, insns } = program(s, x87);
    const e = runRing3(emuBackend, input), k = runRing3(kvmBackend, input);
    const diff = differences(e, k, insns);
    if (diff.length > 0) {
      t.fail(`program seed 0x${s.toString(16)} (${insns.length} instructions; ${insns.map((x) => x.text).join('; ')}):\n${diff.slice(0, 12).join('\n')}`);
      return;
    }
    instructions += insns.length;
    if (k.vector !== 3) traps++;
  }
  t.log(`${runs} programs, ${instructions} instructions, ${traps} ended by an exception (#XM, #MF, #UD)`);
  t.pass();
}

test.serial('SSE/SSE2 on the emulator match KVM ring 3 over special operands, after every instruction [kvm]', (t) => {
  run(t, false, RUNS, SEED);
});

test.serial('the x87 subset and FXSAVE on the emulator match KVM ring 3, after every instruction [kvm]', (t) => {
  run(t, true, Math.max(1, RUNS >> 1), SEED ^ 0x87);
});

test.serial('misaligned movaps/movdqa is #GP(0) on both, movups is not [kvm]', (t) => {
  if (!requireKvm(t)) return;
  kvmBackend ??= new KvmBackend();
  const cases = [
    '0f284308 cc', // movaps xmm0, [rbx + 8]
    '660f6f4304 cc', // movdqa xmm0, [rbx + 4]
    '0f10430c 0f118301010000 cc', // movups: unaligned is fine
  ];
  // (LDMXCSR with a reserved bit is #GP(0) by the SDM, but kvm_pvm answers #UD from ring 3: it
  // intercepts ring-3 #GP and its instruction emulator does not know LDMXCSR. Unit-tested instead.)
  for (const c of cases) {
    const input: Ring3Input = { code: hex(c), data: new Uint8Array(4096), regs: { rbx: BigInt(USER_DATA) } };
    const e = runRing3(emuBackend, input), k = runRing3(kvmBackend, input);
    t.is(e.vector, k.vector, c);
    t.is(e.error, k.error, c);
    t.is(e.rip, k.rip, c);
  }
});
