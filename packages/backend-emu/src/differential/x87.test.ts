/**
 * Differential tests of the x87 arithmetic against KVM's ring 3 (kvm_pvm runs ring 3 natively:
 * the host CPU is the reference, bit for bit). Random programs (x87-gen.ts) over 80-bit special
 * operands under every rounding and precision control; after every instruction the FXSAVE image
 * (FCW, FSW with C0–C3 and the exception flags, the abridged tags, ST0–7), RFLAGS after FCOMI and
 * AX after FNSTSW are compared, and the environment images FNSTENV/FNSAVE wrote. Not compared:
 * FIP/FDP/FOP (this AMD host saves them only with an exception pending), as in simd.test.ts.
 * `HYVISOR_DIFF_SEED` and `HYVISOR_X87_RUNS` change the seed and the number of programs.
 */
import test from 'ava';
import type { Backend } from '@hyvisor/core';
import { KvmBackend } from '@hyvisor/backend-kvm';
import { requireKvm } from '@hyvisor/backend-kvm/testing';
import { EmuBackend } from '../emu-backend.js';
import { FLAGS_AT, GPR_AT, OPERANDS, OPERAND_COUNT, SLOTS_AT, type SimdInsn } from './simd-gen.js';
import { ENV_AT, x87Program } from './x87-gen.js';
import { GPRS, runRing3, type Ring3Output } from './ring3.js';

let kvmBackend: Backend | undefined;
const emuBackend = new EmuBackend();
test.after.always(() => { kvmBackend?.dispose(); emuBackend.dispose(); });

const SEED = Number(process.env['HYVISOR_DIFF_SEED'] ?? 0x5eed) ^ 0x387;
const RUNS = Number(process.env['HYVISOR_X87_RUNS'] ?? 300);
const ARITH = 0x8d5;

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
  // The environment image (FNSTENV/FNSAVE): not FIP, FOP, FDP and the selectors (12–27), as in the FXSAVE image.
  for (let o = ENV_AT; o < ENV_AT + 108; o += 4) {
    if (o - ENV_AT >= 12 && o - ENV_AT < 28) continue;
    const a = ev.getUint32(o, true), b = kv.getUint32(o, true);
    if (a !== b) out.push(`env+${o - ENV_AT}: emu ${h(a)}, kvm ${h(b)}`);
  }
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

test.serial('x87 arithmetic on the emulator matches KVM ring 3 bit for bit, after every instruction [kvm]', (t) => {
  if (!requireKvm(t)) return;
  kvmBackend ??= new KvmBackend();
  let instructions = 0, traps = 0;
  for (let i = 0; i < RUNS; i++) {
    const s = (SEED + i * 0x9e3779b9) >>> 0;
    const { input, insns } = x87Program(s);
    const e = runRing3(emuBackend, input), k = runRing3(kvmBackend, input);
    const diff = differences(e, k, insns);
    if (diff.length > 0) {
      t.fail(`program ${i + 1}, seed 0x${s.toString(16)} (${insns.length} instructions; ${insns.map((x) => x.text).join('; ')}):\n${diff.slice(0, 12).join('\n')}`);
      return;
    }
    instructions += insns.length;
    if (k.vector !== 3) traps++;
  }
  t.log(`${RUNS} programs, ${instructions} instructions, ${traps} ended by an exception (#MF, #UD)`);
  t.pass();
});
