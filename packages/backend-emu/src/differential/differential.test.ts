/**
 * Differential tests against KVM: the same ring-3 code, from the same state, on the emulator and
 * on KVM (where kvm_pvm runs ring 3 natively: the reference is the host CPU), comparing general
 * registers, RIP, RFLAGS, the exception that ended the snippet and the user data page. First a
 * table of hand-written snippets (compared at their end), then seeded random instruction sequences
 * (fast-check) of ALU ops, shifts and rotates, multiplies and divides, bit tests, exchanges,
 * SETcc/CMOVcc, Jcc/LOOPcc/JRCXZ, LAHF/SAHF/CMC, moves with extension, BSWAP, CBW…CQO and LEA,
 * with boundary operands and counts (see gen.ts), where the flags and every writable register
 * after each instruction are compared (architecturally undefined flags masked), and the final
 * state too. Skipped, with the reason logged, where /dev/kvm is missing. `HYVISOR_DIFF_SEED` and
 * `HYVISOR_DIFF_RUNS` change the seed and the number of programs (2,000 by default: about 20-40 s
 * here).
 */
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import type { Backend } from '@hyvisor/core';
import { KvmBackend } from '@hyvisor/backend-kvm';
import { requireKvm } from '@hyvisor/backend-kvm/testing';
import { EmuBackend } from '../emu-backend.js';
import { AF, OF, PF, SF, SNAPSHOT_BYTES, SNAPSHOT_NAMES, ZF, assemble, genStep, type GenInsn } from './gen.js';
import { GPRS, USER_CODE, USER_DATA, runRing3, type Ring3Input, type Ring3Output } from './ring3.js';
import { hex } from '../test-support.js';

let kvmBackend: Backend | undefined;
const emuBackend = new EmuBackend();

function diffTest(title: string, fn: (t: ExecutionContext, kvm: Backend) => void): void {
  test.serial(`${title} [kvm]`, (t) => {
    if (!requireKvm(t)) return;
    kvmBackend ??= new KvmBackend();
    fn(t, kvmBackend);
  });
}

test.after.always(() => {
  kvmBackend?.dispose();
  emuBackend.dispose();
});

/** Differences between two outcomes, as readable lines (empty: the same). */
function differences(emu: Ring3Output, ref: Ring3Output, flagMask = -1, dataMask?: (offset: number) => number): string[] {
  const out: string[] = [];
  const h = (v: bigint | number): string => `0x${v.toString(16)}`;
  if (emu.vector !== ref.vector || emu.error !== ref.error) out.push(`trap: emu #${emu.vector}/${emu.error}, kvm #${ref.vector}/${ref.error}`);
  if (emu.rip !== ref.rip) out.push(`rip: emu ${h(emu.rip)}, kvm ${h(ref.rip)}`);
  if ((emu.rflags & flagMask) !== (ref.rflags & flagMask)) out.push(`rflags: emu ${h(emu.rflags)}, kvm ${h(ref.rflags)}`);
  for (const r of GPRS) if (emu.regs[r] !== ref.regs[r]) out.push(`${r}: emu ${h(emu.regs[r])}, kvm ${h(ref.regs[r])}`);
  for (let i = 0; i < emu.data.length; i += 4) {
    const a = new DataView(emu.data.buffer).getUint32(i, true), b = new DataView(ref.data.buffer).getUint32(i, true);
    const m = dataMask ? dataMask(i) : -1;
    if (((a ^ b) & m) !== 0) out.push(`data+0x${i.toString(16)}: emu ${h(a)}, kvm ${h(b)}${m !== -1 ? ` (mask ${h(m >>> 0)})` : ''}`);
  }
  return out;
}

function compare(t: ExecutionContext, ref: Backend, input: Ring3Input, undef = 0): void {
  const e = runRing3(emuBackend, input);
  const k = runRing3(ref, input);
  t.deepEqual(differences(e, k, ~undef), []);
}

// ------------------------------------------------------------------ hand-written snippets

/** Flags the last instruction of a snippet leaves undefined are masked out of the final RFLAGS with `undef`. */
const SNIPPETS: readonly { name: string; code: string; regs?: Ring3Input['regs']; rflags?: number; undef?: number }[] = [
  { name: 'add/adc/sub/sbb carry chains', code: '4801d8 4811c8 4829d1 4819c2 cc', regs: { rax: 0xffffffffffffffffn, rbx: 1n, rcx: 0x8000000000000000n, rdx: 5n } },
  { name: '32-bit writes clear the upper half; 8/16-bit writes do not', code: '89c8 6689ca 88cb 40887302 cc', regs: { rax: -1n, rcx: 0x1234567880n, rdx: -1n, rbx: BigInt(USER_DATA), rsi: -1n } },
  { name: 'mul/imul/div/idiv at 64 bits', code: '48f7e3 4889c1 48f7f9 49f7ea 4d0fafc1 cc', regs: { rax: 0x123456789abcdefn, rbx: 0xfedcba987654321n, r8: -7n, r9: 3n, r10: 0x7fffffffffffffffn }, undef: SF | ZF | AF | PF },
  { name: 'shifts and rotates by cl, with CF into rcl/rcr', code: 'b103 48d3e0 48d3f8 f9 48d1d0 48d3d8 d3c0 cc', regs: { rax: 0x8000000000000001n }, undef: OF | AF }, // AF: undefined after the SAR, rotates keep it
  { name: 'shld/shrd at 32 and 64 bits', code: '480fa4d805 0facd81b 480fadd8 cc', regs: { rax: 0x0123456789abcdefn, rbx: 0xfedcba9876543210n, rcx: 13n }, undef: OF | AF },
  // A count equal to the operand size is defined (only a larger one is not): the source moves in whole.
  { name: 'shld ax, bx, 16 (count = operand size)', code: '660fa4d810 cc', regs: { rax: 0x1111222233334444n, rbx: 0x5555666677778888n }, undef: OF | AF },
  { name: 'shrd ax, bx, 16 (count = operand size)', code: '660facd810 cc', regs: { rax: 0x1111222233334444n, rbx: 0x5555666677778888n }, undef: OF | AF },
  { name: 'bt/bts/btr/btc with register offsets into memory', code: '480fa3 03 480fab 4b08 0fb34308 480fbb 03 cc', regs: { rax: 77n, rcx: -3n, rbx: BigInt(USER_DATA + 64) } },
  { name: 'bsf/bsr/bswap/movsx/movzx', code: '480fbcc3 480fbdcb 480fca 480fbed3 0fb7f3 cc', regs: { rbx: 0x00f0000000000100n, rdx: 0x1122334455667788n } },
  { name: 'push/pop/call/ret/leave/enter and the stack', code: '50 53 e805000000 eb08 90 90 c3 90909090 5b 58 c8100001 c9 cc', regs: { rax: 1n, rbx: 2n, rbp: 0x370000n } },
  { name: 'rep movsb/stosq/cmpsb/scasb with DF clear and set', code: 'b910000000 f3a4 b904000000 f348ab b908000000 f3a6 fd b903000000 f2ae fc cc', regs: { rsi: BigInt(USER_DATA), rdi: BigInt(USER_DATA + 0x100), rax: 0x41n } },
  { name: 'cmpxchg/xadd/xchg/cmpxchg8b on memory', code: 'f0480fb10b f0480fc113 48870b 0fc74b10 cc', regs: { rax: 0n, rbx: BigInt(USER_DATA), rcx: 0x55n, rdx: 3n } },
  { name: 'setcc and cmovcc after a signed compare', code: '4839d8 0f9cc1 0f9fc2 480f4cf3 480f4ffb 0f92c0 cc', regs: { rax: -5n, rbx: 3n, rsi: 0x11n, rdi: 0x22n } },
  { name: 'lahf/sahf/pushf/popf/cmc/stc/clc', code: 'f9 9f f5 9c 58 b4d5 9e 9c 5a f8 cc' },
  { name: 'loop, jrcxz and a backward branch', code: 'b90a000000 31c0 ffc0 e2fc e300 4885c9 cc' },
  { name: 'cbw/cwde/cdqe/cwd/cdq/cqo', code: '6698 98 4898 6699 99 4899 cc', regs: { rax: 0x80n } },
  { name: 'rdtsc is not compared but a #GP from ring 3 is: mov cr0', code: '0f20c0 cc' },
  { name: 'in from ring 3 without I/O permission is #GP', code: 'e480 cc' },
  { name: 'cli from ring 3 (IOPL 0) is #GP', code: 'fa cc' },
  { name: 'a page fault on a non-canonical address is #GP, ud2 is #UD', code: '48b800000000008000008b00 cc' },
  { name: 'ud2 raises #UD at its own address', code: '90 0f0b cc' },
  { name: 'divide by zero raises #DE', code: '31c9 f7f1 cc', regs: { rax: 7n } },
];

for (const s of SNIPPETS) {
  diffTest(`ring 3 on the emulator matches KVM: ${s.name}`, (t, ref) => {
    const data = new Uint8Array(4096);
    for (let i = 0; i < data.length; i++) data[i] = (i * 37 + 11) & 0xff;
    compare(t, ref, { code: hex(s.code), ...(s.regs ? { regs: s.regs } : {}), ...(s.rflags !== undefined ? { rflags: s.rflags } : {}), data }, s.undef);
  });
}

// ------------------------------------------------------------------ random instruction sequences

const SEED = Number(process.env['HYVISOR_DIFF_SEED'] ?? 0x5eed);
const RUNS = Number(process.env['HYVISOR_DIFF_RUNS'] ?? 2000);
/** Random numbers drawn per instruction (genStep takes at most about 30). */
const CHOICES = 40;
/** Longest program: its snapshots must fit the stack page. */
const MAX_INSNS = 28;
/** The data area: page 0 holds the memory operands, page 1 the stack with the snapshots. */
const DATA_BYTES = 8192;

/** Builds the program from per-instruction random choices (so shrinking drops whole instructions). */
function program(choices: readonly (readonly number[])[]): GenInsn[] {
  return choices.map((c) => {
    let i = 0;
    return genStep((n) => c[i++ % CHOICES]! % n);
  });
}

/** Offset in the data area of instruction i's saved RFLAGS (its registers follow below it). */
const flagsAt = (i: number): number => DATA_BYTES - 8 - i * SNAPSHOT_BYTES;

/** The first instruction after which the emulator's state differs from KVM's, as readable lines. */
function firstDivergence(e: Ring3Output, k: Ring3Output, prog: readonly GenInsn[]): string[] {
  const E = new DataView(e.data.buffer), K = new DataView(k.data.buffer);
  const h = (v: bigint | number): string => `0x${v.toString(16)}`;
  for (let i = 0; i < prog.length; i++) {
    const out: string[] = [];
    const f = flagsAt(i), mask = ~prog[i]!.undefinedFlags;
    const ef = E.getUint32(f, true), kf = K.getUint32(f, true);
    if (((ef ^ kf) & mask) !== 0) out.push(`rflags: emu ${h(ef)}, kvm ${h(kf)}`);
    SNAPSHOT_NAMES.forEach((name, j) => {
      const ev = E.getBigUint64(f - 8 * (j + 1), true), kv = K.getBigUint64(f - 8 * (j + 1), true);
      if (ev !== kv) out.push(`${name}: emu ${h(ev)}, kvm ${h(kv)}`);
    });
    if (out.length > 0) return [`after instruction ${i} (${prog[i]!.text}):`, ...out.map((l) => `  ${l}`)];
  }
  return [];
}

/** The programs run as this many tests (seeds SEED, SEED + 1, …), so none comes near ava's timeout on a loaded host. */
const CHUNKS = 8;

for (let chunk = 0; chunk < CHUNKS; chunk++) {
  const seed = SEED + chunk;
  const runs = Math.floor(RUNS / CHUNKS) + (chunk < RUNS % CHUNKS ? 1 : 0);
  if (runs > 0) randomPrograms(seed, runs, `${chunk + 1}/${CHUNKS}`);
}

function randomPrograms(seed: number, runs: number, part: string): void {
  diffTest(`random ALU/shift/mul/div/branch/flag sequences match KVM after every instruction (${part}: seed ${seed}, ${runs} programs)`, (t, ref) => {
    let instructions = 0;
    const arb = fc.record({
      insns: fc.array(fc.array(fc.nat({ max: 0xffff }), { minLength: CHOICES, maxLength: CHOICES }), { minLength: 1, maxLength: MAX_INSNS, size: 'max' }),
      regs: fc.array(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), { minLength: 16, maxLength: 16 }),
      flags: fc.array(fc.nat({ max: 0xffff }), { minLength: MAX_INSNS + 1, maxLength: MAX_INSNS + 1 }),
      data: fc.uint8Array({ minLength: 128, maxLength: 128 }),
    });
    const started = process.hrtime.bigint();
    fc.assert(fc.property(arb, ({ insns, regs, flags, data }) => {
      const prog = program(insns);
      const { code, masks } = assemble(prog, (i) => flags[i % flags.length]!, true);
      const init: Record<string, bigint> = {};
      GPRS.forEach((r, i) => { init[r] = regs[i]!; });
      init['rbx'] = BigInt(USER_DATA);
      init['rsp'] = BigInt(USER_DATA + DATA_BYTES);
      const area = new Uint8Array(DATA_BYTES);
      area.set(data);
      const input: Ring3Input = { code, regs: init, rflags: flags[MAX_INSNS]!, data: area };
      const e = runRing3(emuBackend, input);
      const k = runRing3(ref, input);
      // Saved RFLAGS of instruction i: its undefined flags are masked (the upper dword is 0 on both).
      const dataMask = (offset: number): number => {
        const i = (DATA_BYTES - 8 - offset) / SNAPSHOT_BYTES;
        return Number.isInteger(i) && i >= 0 && i < masks.length ? ~masks[i]! : -1;
      };
      const diff = differences(e, k, -1, dataMask);
      if (diff.length > 0) {
        const listing = prog.map((g, i) => `  ${i}: ${g.text}  [${g.bytes.map((b) => b.toString(16).padStart(2, '0')).join(' ')}]${g.undefinedFlags ? ` undefined flags 0x${g.undefinedFlags.toString(16)}` : ''}`);
        throw new Error(`emulator and KVM differ:\n${firstDivergence(e, k, prog).join('\n')}\nall differences:\n${diff.slice(0, 20).join('\n')}\nprogram at 0x${USER_CODE.toString(16)}:\n${listing.join('\n')}`);
      }
      instructions += prog.length;
      return true;
    }), { seed, numRuns: runs, includeErrorInReport: true });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    t.log(`${runs} programs, ${instructions} generated instructions in ${seconds.toFixed(1)} s; flags and registers compared after each`);
    t.pass();
  });
}
