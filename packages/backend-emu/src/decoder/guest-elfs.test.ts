/**
 * Every instruction of the guest ELFs (the functions of `.text` and `.user` in hello.elf and
 * testbed.elf, as `objdump -d` lists them at test time) decodes to objdump's length and executes
 * on the emulator without hitting an unimplemented opcode. Skips with a reason if the ELFs or
 * binutils are missing (build the guests with `make -C packages/guest-hello` / `guest-testbed`).
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Insn, decode } from './decoder.js';
import { CODE, DATA, STACK_TOP, harness } from '../test-support.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const ELFS = ['packages/guest-hello/build/hello.elf', 'packages/guest-testbed/build/testbed.elf'].map((p) => path.join(root, p));

interface Listed { addr: number; bytes: Uint8Array; text: string; mnemonic: string }

const PREFIX_WORDS = new Set(['rep', 'repz', 'repe', 'repnz', 'repne', 'lock', 'cs', 'ds', 'es', 'ss', 'fs', 'gs', 'data16', 'addr32', 'notrack', 'bnd', 'rex', 'rex.W']);

/** Instructions inside function symbols of `.text` and `.user` (data between functions is skipped). */
function listInstructions(elf: string): Listed[] {
  // Code symbols in address order; assembly labels have no size: they run to the next symbol.
  const nm = execFileSync('nm', ['-n', '-S', '--defined-only', elf], { encoding: 'utf8' });
  const syms: { addr: number; size: number | undefined }[] = [];
  for (const line of nm.split('\n')) {
    const m = /^([0-9a-f]+) (?:([0-9a-f]+) )?[tT] /.exec(line);
    if (m) syms.push({ addr: parseInt(m[1]!, 16), size: m[2] ? parseInt(m[2], 16) : undefined });
  }
  const funcs: [number, number][] = syms.map((x, i) => [x.addr, x.size ?? ((syms[i + 1]?.addr ?? x.addr) - x.addr)]);
  const inFunc = (a: number): boolean => funcs.some(([s, n]) => a >= s && a < s + n);
  const sections = ['.text', '.user'].filter((s) => execFileSync('objdump', ['-h', elf], { encoding: 'utf8' }).includes(` ${s} `));
  const out: Listed[] = [];
  for (const sec of sections) {
    const dump = execFileSync('objdump', ['-d', '--insn-width=16', '-j', sec, elf], { encoding: 'utf8', maxBuffer: 64 << 20 });
    for (const line of dump.split('\n')) {
      const m = /^\s*([0-9a-f]+):\t([0-9a-f ]+?)\s*\t(.*)$/.exec(line);
      if (!m) continue;
      const addr = parseInt(m[1]!, 16);
      if (!inFunc(addr)) continue;
      const bytes = Uint8Array.from(m[2]!.trim().split(/\s+/).map((b) => parseInt(b, 16)));
      const text = m[3]!.trim();
      const words = text.split(/\s+/);
      let i = 0;
      while (i < words.length - 1 && PREFIX_WORDS.has(words[i]!)) i++;
      out.push({ addr, bytes, text, mnemonic: words[i]! });
    }
  }
  return out;
}

function available(): string | undefined {
  for (const e of ELFS) if (!fs.existsSync(e)) return `${path.relative(root, e)} is missing (build it with make -C ${path.relative(root, path.dirname(path.dirname(e)))})`;
  try { execFileSync('objdump', ['--version']); execFileSync('nm', ['--version']); } catch { return 'binutils (objdump, nm) not found'; }
  return undefined;
}

const missing = available();
const listings = missing ? [] : ELFS.map((e) => ({ elf: path.basename(e), insns: listInstructions(e) }));

test('every instruction of the guest ELFs decodes to the length objdump gives it', (t) => {
  if (missing) { t.log(`skipped: ${missing}`); t.pass(); return; }
  const d = new Insn();
  const bad: string[] = [];
  let n = 0;
  for (const { elf, insns } of listings) {
    for (const x of insns) {
      const bytes = x.bytes;
      decode({ byte: (i) => bytes[i] ?? 0x90 }, d);
      n++;
      if (d.len !== bytes.length || d.tooLong) bad.push(`${elf} 0x${x.addr.toString(16)} ${x.text}: decoded ${d.len} bytes, objdump ${bytes.length}`);
    }
  }
  t.log(`${n} instructions decoded`);
  t.deepEqual(bad.slice(0, 20), []);
});

test('every instruction of the guest ELFs executes without an unimplemented-opcode #UD', (t) => {
  if (missing) { t.log(`skipped: ${missing}`); t.pass(); return; }
  const h = harness();
  const { vcpu, mem } = h;
  const sregs = vcpu.getSpecialRegisters();
  const regs = vcpu.getRegisters();
  for (const k of ['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rbp', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'] as const) {
    regs[k] = BigInt(DATA + 0x1000);
  }
  regs.rsp = BigInt(STACK_TOP - 0x100);
  regs.rflags = 2n;
  const mnemonics = new Set<string>();
  const failed: string[] = [];
  for (const { elf, insns } of listings) {
    for (const x of insns) {
      vcpu.setSpecialRegisters(sregs);
      vcpu.setRegisters({ ...regs, rip: BigInt(CODE) });
      mem.write(CODE, x.bytes);
      mem.setU8(CODE + x.bytes.length, 0xf4);
      const before = vcpu.unimplementedInstructions;
      const exit = vcpu.singleStep();
      if (vcpu.unimplementedInstructions !== before) failed.push(`${elf} 0x${x.addr.toString(16)}: ${x.text} (#UD: not implemented)`);
      else if (exit?.kind === 5) failed.push(`${elf} 0x${x.addr.toString(16)}: ${x.text} (internal error: ${exit.reason})`);
      else mnemonics.add(x.mnemonic);
    }
  }
  t.log(`${mnemonics.size} distinct mnemonics executed: ${[...mnemonics].sort().join(' ')}`);
  t.deepEqual(failed.slice(0, 20), []);
});
