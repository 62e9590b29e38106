/**
 * The ring-0 instruction scan: kvm_pvm cannot run some instructions at ring 0 (they hang or fail
 * with an internal error; see docs/kvm-pvm.md), so guest kernel code must not contain them. The
 * Makefiles refuse such a build at link time; this module does the same check from TypeScript so
 * a test can run it on the built guests and on a deliberately bad object.
 * @module
 */
import { execFileSync } from 'node:child_process';

/** Mnemonics kernel (ring-0) code must not contain on kvm_pvm. */
export const RING0_FORBIDDEN = [
  'int3', 'int', 'into', 'vmcall', 'vmmcall', 'popcnt', 'rdtscp', 'rdpid', 'xgetbv', 'cmpxchg16b', 'stac', 'clac',
] as const;

/** One forbidden instruction found. */
export interface ScanHit {
  readonly section: string;
  readonly line: string;
}

/**
 * Disassembles `section` of `file` with objdump (`i386` for 32-bit boot code) and returns every
 * forbidden instruction, plus any use of an SSE/AVX register (xmm/ymm/zmm).
 */
export function scanRing0(file: string, section: string, arch: 'x86-64' | 'i386' = 'x86-64'): ScanHit[] {
  const args = ['-d', '--no-show-raw-insn', '-j', section, ...(arch === 'i386' ? ['-Mi386'] : []), file];
  const text = execFileSync('objdump', args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  const forbidden = new RegExp(`^(?:lock\\s+|rep\\w*\\s+)?(?:${RING0_FORBIDDEN.join('|')}|xsave\\w*|xrstor\\w*)\\b`);
  const hits: ScanHit[] = [];
  for (const line of text.split('\n')) {
    const insn = line.split('\t')[1]?.trim();
    if (!insn) continue;
    if (forbidden.test(insn) || /%[xyz]mm\d/.test(insn)) hits.push({ section, line: line.trim() });
  }
  return hits;
}
