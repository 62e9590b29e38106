import test, { type ExecutionContext } from 'ava';
import { ExitKind, setExitValue, type Registers } from '@hyvisor/core';
import { CODE, DATA, STACK_TOP, harness, hex, reg, rflags, run, setRegs, type Harness } from './test-support.js';

// Basic blocks and compiled blocks must be indistinguishable from the per-instruction path:
// same registers, flags, memory, RIP and instructionsRetired at every exit, faults included.

/** Small seeded PRNG (xorshift32). */
function rng(seed: number): (n: number) => number {
  let s = seed >>> 0 || 1;
  return (n) => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s % n;
  };
}

/** Registers random code may write: never RBX (the data pointer) nor RSP. */
const DEST = [0, 1, 2, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

function modrmReg(rex: number, reg: number, rm: number): { rex: number; modrm: number } {
  return { rex: rex | (reg & 8 ? 4 : 0) | (rm & 8 ? 1 : 0), modrm: 0xc0 | ((reg & 7) << 3) | (rm & 7) };
}

/** `[base + disp8]` (base never RSP/R12 or RBP/R13, so no SIB and no special cases). */
function memOp(rex: number, reg: number, base: number, disp: number): number[] {
  const r = rex | (reg & 8 ? 4 : 0) | (base & 8 ? 1 : 0);
  return [...(r !== 0 ? [r] : []), 0x40 | ((reg & 7) << 3) | (base & 7), disp & 0xff];
}

function imm32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}

/**
 * One random instruction of a form that can be in a block: a specialised handler, an instruction
 * the general executor runs inside blocks, or a conditional jump over the next one (a side exit).
 */
function genFast(pick: (n: number) => number): number[] {
  const w = pick(2) === 0 ? 0x48 : 0;
  const dst = DEST[pick(DEST.length)]!;
  const src = pick(16);
  // Memory operands: mostly the data page (RBX), sometimes RSI/RDI (random, MMIO, unmapped, non-canonical or code).
  const base = [3, 3, 3, 6, 7][pick(5)]!;
  const disp = pick(256) - 128;
  const withOp = (op: number[], reg: number, rm: number): number[] => {
    const { rex, modrm } = modrmReg(w, reg, rm);
    return [...(rex !== 0 ? [rex] : []), ...op, modrm];
  };
  switch (pick(20)) {
    case 0: case 1: { // ALU r/m, r or r, r/m (register form)
      const o = pick(8);
      return pick(2) ? withOp([(o << 3) | 1], src, dst) : withOp([(o << 3) | 3], dst, src);
    }
    case 2: { // ALU with memory
      const o = pick(8);
      const store = pick(2) === 0;
      return [...memOp(w, store ? src : dst, base, disp).slice(0, -2), (o << 3) | (store ? 1 : 3), ...memOp(0, store ? src : dst, base, disp).slice(-2)];
    }
    case 3: { // ALU r, imm
      const o = pick(8);
      return pick(2)
        ? [...withOp([0x83], o, dst), pick(256)]
        : [...withOp([0x81], o, dst), ...imm32(pick(0x10000) * 0x10001)];
    }
    case 4: { // ALU [m], imm8
      const o = pick(8);
      const m = memOp(w, o, base, disp);
      return [...m.slice(0, -2), 0x83, ...m.slice(-2), pick(256)];
    }
    case 5: return withOp([0x85], src, dst); // TEST
    case 6: { // shift by immediate
      const counts = [0, 1, 2, 7, 31, 32, 33, 63, pick(256)];
      return [...withOp([0xc1], pick(8), dst), counts[pick(counts.length)]!];
    }
    case 7: return pick(2) ? withOp([0x89], src, dst) : withOp([0x8b], dst, src); // MOV r, r
    case 8: { // MOV load/store
      const store = pick(2) === 0;
      const m = memOp(w, store ? src : dst, base, disp);
      return [...m.slice(0, -2), store ? 0x89 : 0x8b, ...m.slice(-2)];
    }
    case 9: { // MOVZX r32, r8 (without REX: AH…BH) or m8
      if (pick(3) === 0) { const m = memOp(0, dst, base, disp); return [...m.slice(0, -2), 0x0f, 0xb6, ...m.slice(-2)]; }
      if (pick(2) === 0 && dst < 8) return [0x0f, 0xb6, 0xc0 | (dst << 3) | pick(8)];
      const { rex, modrm } = modrmReg(0x40, dst, src);
      return [rex, 0x0f, 0xb6, modrm];
    }
    case 10: { // LEA: [base + index*scale + disp32] or [rip + disp32]
      if (pick(4) === 0) return [w | 0x40 | (dst & 8 ? 4 : 0), 0x8d, ((dst & 7) << 3) | 5, ...imm32(pick(0x10000) - 0x8000)];
      const idx = [0, 1, 2, 5, 6, 7][pick(6)]!;
      return [w | 0x40 | (dst & 8 ? 4 : 0), 0x8d, 0x84 | ((dst & 7) << 3), (pick(4) << 6) | (idx << 3) | 3, ...imm32(pick(0x100000) - 0x80000)];
    }
    case 11: // MOV r, imm32 / imm64
      return w
        ? [0x48 | (dst & 8 ? 1 : 0), 0xb8 | (dst & 7), ...imm32(pick(0x10000) * 0x10001), ...imm32(pick(3) === 0 ? 0xffff8000 : pick(0x10000))]
        : [...(dst & 8 ? [0x41] : []), 0xb8 | (dst & 7), ...imm32(pick(0x10000) * 0x10001)];
    case 12: // PUSH r; POP r
      return [...(src & 8 ? [0x41] : []), 0x50 | (src & 7), ...(dst & 8 ? [0x41] : []), 0x58 | (dst & 7)];
    case 13: return [0x90];
    case 14: return [0xe8, 0, 0, 0, 0]; // call next instruction
    case 15: { // MOVZX r, r/m16
      if (pick(2) === 0) { const m = memOp(w, dst, base, disp); return [...m.slice(0, -2), 0x0f, 0xb7, ...m.slice(-2)]; }
      return withOp([0x0f, 0xb7], dst, src);
    }
    case 16: { // MOVSXD r, r/m32
      if (pick(2) === 0) { const m = memOp(w, dst, base, disp); return [...m.slice(0, -2), 0x63, ...m.slice(-2)]; }
      return withOp([0x63], dst, src);
    }
    case 17: { // general executor inside a block: CMP r8, r/m8; TEST r/m8, r8; SETcc r/m8; IMUL r, r/m; BT r, r
      const { rex, modrm } = modrmReg(0x40, dst, src);
      switch (pick(5)) {
        case 0: return [rex, 0x3a, modrm];
        case 1: return [rex, 0x84, modrm];
        case 2: { const x = modrmReg(0x40, 0, dst); return [x.rex, 0x0f, 0x90 | pick(16), x.modrm]; }
        case 3: return withOp([0x0f, 0xaf], dst, src);
        default: return withOp([0x0f, 0xa3], src, dst);
      }
    }
    case 18: case 19: { // Jcc over the next instruction: leaves the block when taken
      const next = genFast(pick);
      return [0x70 | pick(16), next.length, ...next];
    }
    default: return withOp([0x31], dst, dst); // xor r, r
  }
}

/** A program: random fast instructions, then a Jcc (random condition) to one of two HLTs. */
function genProgram(pick: (n: number) => number): Uint8Array {
  const out: number[] = [];
  const n = 1 + pick(24);
  for (let i = 0; i < n; i++) out.push(...genFast(pick));
  out.push(0x70 | pick(16), 1, 0xf4, 0xf4);
  return Uint8Array.from(out);
}

interface Event {
  kind: number;
  retired: number;
  regs: Registers;
  rflags: number;
}

function snapshot(h: Harness, kind: number): Event {
  return { kind, retired: h.vcpu.instructionsRetired, regs: h.vcpu.getRegisters(), rflags: rflags(h) };
}

/** Answers an MMIO/port read exit the same way on every path. */
function answer(h: Harness): void {
  const e = h.vcpu.exit;
  if ((e.kind === ExitKind.Mmio || e.kind === ExitKind.Io) && !e.write) setExitValue(e, 0x5a5aa5a5);
}

/** Instructions a traced program may retire (a program that went astray ends with a Deadline event). */
const LIMIT = 20_000;
/** Exits a trace records at most. */
const MAX_EVENTS = 40;

function final(kind: number): boolean {
  return kind === ExitKind.Hlt || kind === ExitKind.Shutdown || kind === ExitKind.InternalError || kind === ExitKind.Deadline;
}

/** Runs to the first HLT (or shutdown, internal error, LIMIT instructions) with run(); every exit on the way. */
function traceRun(h: Harness): Event[] {
  const out: Event[] = [];
  h.vcpu.hostGuardMinMs = Infinity;
  h.vcpu.setDeadline(LIMIT / 1e6);
  while (out.length < MAX_EVENTS) {
    const e = h.vcpu.run();
    out.push(snapshot(h, e.kind));
    if (final(e.kind)) break;
    answer(h);
  }
  h.vcpu.setDeadline(0);
  return out;
}

/** The same with singleStep() (per instruction, no blocks). */
function traceStep(h: Harness): Event[] {
  const out: Event[] = [];
  const end = h.vcpu.instructionsRetired + LIMIT;
  while (out.length < MAX_EVENTS) {
    if (h.vcpu.instructionsRetired >= end) { out.push(snapshot(h, ExitKind.Deadline)); break; }
    const e = h.vcpu.singleStep();
    if (e === null) continue;
    out.push(snapshot(h, e.kind));
    if (final(e.kind)) break;
    answer(h);
  }
  return out;
}

const MMIO = 0x7fff0000n, UNMAPPED = 0x7fff_0000_0000n, NONCANONICAL = 0x8000_0000_0000n;

/**
 * Runs each program (`runs` times, from the start states `start` gives) on three vCPUs — per
 * instruction (singleStep), interpreted blocks, blocks compiled from their first run — and
 * compares every exit, the data page, the code and the stack. Returns the compiled-block runs.
 */
function differential(t: ExecutionContext, programs: Iterable<Uint8Array>, runs: number, start: (regs: Record<string, bigint>) => void, pick: (n: number) => number): number {
  const fresh = (threshold: number): Harness => {
    const h = harness();
    h.vcpu.compileThreshold = threshold;
    return h;
  };
  const paths = [
    { name: 'step', h: fresh(Infinity), trace: traceStep, threshold: Infinity },
    { name: 'blocks', h: fresh(Infinity), trace: traceRun, threshold: Infinity },
    { name: 'compiled', h: fresh(1), trace: traceRun, threshold: 1 },
  ];
  const text = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => typeof x === 'bigint' ? x.toString(16) : x);
  let compiledRuns = 0;
  let p = 0;
  for (const code of programs) {
    for (let it = 0; it < runs; it++) {
      const regs: Record<string, bigint> = { rbx: BigInt(DATA + 0x800), rsp: BigInt(STACK_TOP), rip: BigInt(CODE) };
      start(regs);
      const data = Uint8Array.from({ length: 4096 }, () => pick(256));
      const compiledBefore = paths[2]!.h.vcpu.compiledBlockRuns;
      const traces = paths.map(({ h, trace }) => {
        h.mem.write(CODE, code);
        h.mem.write(DATA, data);
        h.mem.fill(STACK_TOP - 0x1000, 0x1000);
        setRegs(h, regs);
        const before = h.vcpu.instructionsRetired;
        const events = trace(h).map((e) => ({ ...e, retired: e.retired - before }));
        return { events, data: Buffer.from(h.mem.read(DATA, 4096)!).toString('hex'), code: Buffer.from(h.mem.read(CODE, code.length)!).toString('hex'), stack: Buffer.from(h.mem.read(STACK_TOP - 0x1000, 0x1000)!).toString('hex') };
      });
      compiledRuns += paths[2]!.h.vcpu.compiledBlockRuns - compiledBefore;
      for (let i = 1; i < paths.length; i++) {
        if (text(traces[i]) !== text(traces[0])) {
          t.deepEqual(traces[i], traces[0], `${paths[i]!.name} vs step, program ${p} run ${it}: ${Buffer.from(code).toString('hex')}, start ${text(regs)}`);
          return -1;
        }
      }
      // A shutdown is final for run(): start over with fresh vCPUs.
      if (traces[0]!.events.some((e) => e.kind === ExitKind.Shutdown)) for (const q of paths) q.h = fresh(q.threshold);
    }
    p++;
  }
  return compiledRuns;
}

test('random blocks: interpreted and compiled blocks match the per-instruction path exactly', (t) => {
  const pick = rng(0x5eed);
  const programs = Array.from({ length: 250 }, () => genProgram(pick));
  const r64 = (): bigint => (BigInt(pick(0x10000)) << 48n) | (BigInt(pick(0x1000000)) << 24n) | BigInt(pick(0x1000000));
  const compiled = differential(t, programs, 3, (regs) => {
    for (const name of ['rax', 'rcx', 'rdx', 'rbp', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15']) regs[name] = pick(3) === 0 ? BigInt(pick(4)) : r64();
    const addr = (): bigint => [BigInt(DATA + 0x800), BigInt(DATA + 0x800), MMIO, UNMAPPED, NONCANONICAL, BigInt(CODE + 16), r64()][pick(7)]!;
    regs['rsi'] = addr(); regs['rdi'] = addr();
    regs['rflags'] = BigInt(2 | (pick(0x1000) & 0x8d5));
  }, pick);
  t.true(compiled > 500, `compiled blocks ran ${compiled} times`);
});

test('every condition after every inline flag writer (ALU, TEST, shifts; 32 and 64 bits) at edge values', (t) => {
  const pick = rng(0xc0de);
  const writers: number[][] = [];
  for (const w of [0, 0x48]) {
    for (let o = 0; o < 8; o++) writers.push([...(w ? [w] : []), (o << 3) | 1, 0xc8]); // op eax/rax, ecx/rcx
    writers.push([...(w ? [w] : []), 0x85, 0xc8]); // test
    for (let o = 0; o < 8; o++) writers.push([...(w ? [w] : []), 0x83, 0xc0 | (o << 3), 0xff]); // op eax, -1
    for (const kind of [4, 5, 7]) for (const n of [1, 5, 31, 32, 33, 63]) writers.push([...(w ? [w] : []), 0xc1, 0xc0 | (kind << 3), n]);
  }
  const programs: Uint8Array[] = [];
  for (const wr of writers) for (let cc = 0; cc < 16; cc++) programs.push(Uint8Array.from([...wr, 0x70 | cc, 1, 0xf4, 0xf4]));
  const edges = [0n, 1n, 2n, 0x7fffffffn, 0x80000000n, 0xffffffffn, 0x1_0000_0000n, 0x7fff_ffff_ffff_ffffn, 0x8000_0000_0000_0000n,
    0xffff_ffff_ffff_ffffn, 0xffff_ffff_0000_0000n, 0x8000_0000_7fff_ffffn];
  const compiled = differential(t, programs, 4, (regs) => {
    regs['rax'] = edges[pick(edges.length)]!;
    regs['rcx'] = pick(3) === 0 ? regs['rax'] : edges[pick(edges.length)]!;
    regs['rflags'] = BigInt(2 | (pick(0x1000) & 0x8d5));
  }, pick);
  t.true(compiled >= programs.length * 2, `compiled blocks ran ${compiled} times`);
});

/** A loop of 8 instructions: add ecx, 1; add rdx, rcx; xor eax, edx; shr eax, 3; mov [rbx], eax; lea rsi, [rsi + 1]; cmp ecx, 300; jne top; hlt. */
const LOOP = hex('83c101 4801ca 31d0 c1e803 8903 488d7601 81f92c010000 75e7 f4');

for (const threshold of [Infinity, 1]) {
  const mode = threshold === 1 ? 'compiled' : 'interpreted';

  test(`${mode} blocks: a virtual deadline falls on the exact instruction, never past it`, (t) => {
    for (const k of [1, 2, 7, 8, 9, 15, 16, 17, 100, 1001]) {
      const h = harness(LOOP);
      h.vcpu.compileThreshold = threshold;
      h.vcpu.hostGuardMinMs = Infinity;
      setRegs(h, { rbx: BigInt(DATA), rcx: 0n, rdx: 0n });
      h.vcpu.setDeadline(k / 1e6); // k ns = k instructions
      t.is(run(h).kind, ExitKind.Deadline, `k=${k}`);
      t.is(h.vcpu.instructionsRetired, k, `k=${k}`);
      // The per-instruction path from the same start, k steps.
      const r = harness(LOOP);
      setRegs(r, { rbx: BigInt(DATA), rcx: 0n, rdx: 0n });
      for (let i = 0; i < k; i++) r.vcpu.singleStep();
      t.deepEqual(h.vcpu.getRegisters(), r.vcpu.getRegisters(), `k=${k}`);
      t.is(rflags(h), rflags(r), `k=${k}`);
      // And the rest of the loop runs to the same end.
      t.is(run(h).kind, ExitKind.Hlt);
      t.is(h.vcpu.instructionsRetired, 300 * 8 + 1);
    }
  });

  test(`${mode} blocks: a fault mid-block leaves RIP at the faulting instruction, exact flags, only earlier instructions retired`, (t) => {
    // top: add ecx, 1; mov eax, 5; sub eax, 5 (ZF=1); mov edx, [rsi]; add eax, 1; cmp ecx, 50; jne top; hlt
    const code = hex('83c101 b805000000 83e805 8b16 83c001 83f932 75eb f4');
    const h = harness(code);
    h.vcpu.compileThreshold = threshold;
    setRegs(h, { rcx: 0n, rsi: BigInt(DATA) });
    // Fault on the 40th pass: the load's address turns non-canonical (the VMM patches RSI between runs).
    h.vcpu.hostGuardMinMs = Infinity;
    h.vcpu.setDeadline((39 * 7) / 1e6);
    t.is(run(h).kind, ExitKind.Deadline);
    setRegs(h, { rsi: 0x8000_0000_0000n });
    t.is(run(h).kind, ExitKind.Hlt); // the #GP handler's HLT
    t.is(h.vcpu.instructionsRetired, 39 * 7 + 3 + 1, 'mov, sub, add retired; the load did not; then the handler HLT');
    const rsp = Number(reg(h, 'rsp'));
    const frame = new DataView(h.mem.read(rsp, 40)!.buffer);
    t.is(frame.getBigUint64(0, true), 0n, 'error code');
    t.is(frame.getBigUint64(8, true), BigInt(CODE + 11), 'RIP of the faulting load');
    t.is(Number(frame.getBigUint64(24, true)) & 0x8d5, 0x44, 'RFLAGS of sub eax, 5 (ZF, PF)');
    t.is(reg(h, 'rcx'), 40n);
    t.is(reg(h, 'rax'), 0n);
  });

  test(`${mode} blocks: a store into a later instruction of the same block is seen`, (t) => {
    // top: add ecx, 1; mov dword [rip + 1], ecx (imm of the next mov); mov eax, 0; cmp ecx, 20; jne top; hlt
    const code = hex('83c101 890d01000000 b800000000 83f914 75ed f4');
    const h = harness(code);
    h.vcpu.compileThreshold = threshold;
    setRegs(h, { rcx: 0n, rax: 0n });
    t.is(run(h).kind, ExitKind.Hlt);
    t.is(reg(h, 'rax'), 20n, 'the last pass ran mov eax, 20');
    t.is(h.vcpu.instructionsRetired, 20 * 5 + 1);
  });

  test(`${mode} blocks: an MMIO write mid-block exits right after it; an MMIO read mid-block exits before it and completes on the next run`, (t) => {
    // top: add ecx, 1; mov [rdi], ecx (MMIO when rdi is); mov edx, [rsi] (MMIO when rsi is); add edx, ecx; cmp ecx, 30; jne top; hlt
    const code = hex('83c101 890f 8b16 01ca 83f91e 75f2 f4');
    const h = harness(code);
    h.vcpu.compileThreshold = threshold;
    setRegs(h, { rcx: 0n, rdi: BigInt(DATA), rsi: BigInt(DATA + 8) });
    h.vcpu.hostGuardMinMs = Infinity;
    h.vcpu.setDeadline((20 * 6) / 1e6);
    t.is(run(h).kind, ExitKind.Deadline);
    setRegs(h, { rdi: 0x7fff0000n, rsi: 0x7fff0010n });
    let e = run(h);
    t.deepEqual([e.kind, e.gpa, e.write], [ExitKind.Mmio, 0x7fff0000, true]);
    t.is(h.vcpu.instructionsRetired, 20 * 6 + 2);
    t.is(h.vcpu.readRegister('rip'), CODE + 5);
    e = run(h);
    t.deepEqual([e.kind, e.gpa, e.write], [ExitKind.Mmio, 0x7fff0010, false]);
    t.is(h.vcpu.instructionsRetired, 20 * 6 + 2, 'the read has not retired');
    t.is(h.vcpu.readRegister('rip'), CODE + 5);
    // Every later pass exits twice (the write, then the read, answered 1000); then HLT.
    let exits = 0;
    for (;;) {
      if (e.kind === ExitKind.Mmio && !e.write) setExitValue(e, 1000);
      e = run(h);
      if (e.kind === ExitKind.Hlt) break;
      t.is(e.kind, ExitKind.Mmio);
      exits++;
    }
    t.is(exits, 10 * 2 - 2, "passes 21 (already seen) to 30: a write and a read each");
    t.is(reg(h, 'rcx'), 30n);
    t.is(reg(h, 'rdx'), 1030n);
    t.is(h.vcpu.instructionsRetired, 30 * 6 + 1);
  });
}
