/**
 * An ELF64 loader for guest kernels. The image is untrusted input: every header field is checked
 * before anything is copied, and a bad image is a {@link GuestImageError} that says what is wrong.
 * @module
 */
import { BootLayout, GuestImageError, type GuestMemory } from '@hyvisor/core';

/** A loadable segment after validation. */
export interface ElfSegment {
  /** Guest-physical load address. */
  readonly paddr: number;
  /** Bytes taken from the file. */
  readonly fileSize: number;
  /** Bytes in memory (the rest is zeroed, .bss). */
  readonly memSize: number;
  /** Offset in the file. */
  readonly offset: number;
  /** PF_X is set. */
  readonly executable: boolean;
}

/** A validated ELF image. */
export interface ElfImage {
  readonly entry: bigint;
  readonly segments: readonly ElfSegment[];
}

const PT_LOAD = 1;
const PF_X = 1;
const EM_X86_64 = 62;
const ET_EXEC = 2;
/** More program headers than any kernel has; more is a hostile or broken file. */
const MAX_PHDRS = 64;

/**
 * Parses and validates `bytes` as an x86-64 ELF64 executable whose segments fit guest RAM of
 * `ramSize` bytes above the VMM's boot area. `name` appears in messages.
 */
export function parseElf(bytes: Uint8Array, ramSize: number, name = 'guest image'): ElfImage {
  const fail = (why: string): never => {
    throw new GuestImageError(`${name}: ${why}`, { image: name });
  };
  if (bytes.length < 64) fail(`too small to be an ELF file (${bytes.length} bytes)`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (v.getUint32(0, false) !== 0x7f454c46) fail('not an ELF file (bad magic)');
  if (bytes[4] !== 2) fail('not a 64-bit ELF file (EI_CLASS is not ELFCLASS64)');
  if (bytes[5] !== 1) fail('not a little-endian ELF file');
  if (v.getUint16(18, true) !== EM_X86_64) fail(`not an x86-64 ELF file (e_machine ${v.getUint16(18, true)})`);
  if (v.getUint16(16, true) !== ET_EXEC) fail('not an executable ELF file (e_type is not ET_EXEC); link it with -static and a fixed address');

  const entry = v.getBigUint64(24, true);
  const phoff = num(v.getBigUint64(32, true));
  const phentsize = v.getUint16(54, true);
  const phnum = v.getUint16(56, true);
  if (phnum === 0) fail('has no program headers');
  if (phnum > MAX_PHDRS) fail(`has ${phnum} program headers; at most ${MAX_PHDRS} are accepted`);
  if (phentsize !== 56) fail(`program header size is ${phentsize}, expected 56`);
  if (phoff > bytes.length || phoff + phnum * 56 > bytes.length) fail('program headers lie outside the file');

  const segments: ElfSegment[] = [];
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * 56;
    if (v.getUint32(at, true) !== PT_LOAD) continue;
    const flags = v.getUint32(at + 4, true);
    const offset = num(v.getBigUint64(at + 8, true));
    const paddr = num(v.getBigUint64(at + 24, true));
    const fileSize = num(v.getBigUint64(at + 32, true));
    const memSize = num(v.getBigUint64(at + 40, true));
    const where = `segment ${i} (paddr 0x${paddr.toString(16)}, ${memSize} bytes)`;
    if (memSize === 0) continue;
    if (fileSize > memSize) fail(`${where}: file size ${fileSize} exceeds memory size`);
    if (offset > bytes.length || offset + fileSize > bytes.length) fail(`${where}: data lies outside the file`);
    if (memSize > ramSize) fail(`${where}: larger than guest RAM (${ramSize} bytes)`);
    if (paddr < BootLayout.KERNEL_MIN) fail(`${where}: below 0x${BootLayout.KERNEL_MIN.toString(16)}, where the VMM keeps its boot tables`);
    if (paddr + memSize > ramSize) fail(`${where}: ends beyond guest RAM (${ramSize} bytes); give the VM more memory`);
    for (const s of segments) {
      if (paddr < s.paddr + s.memSize && s.paddr < paddr + memSize) fail(`${where}: overlaps another segment at 0x${s.paddr.toString(16)}`);
    }
    segments.push({ paddr, fileSize, memSize, offset, executable: (flags & PF_X) !== 0 });
  }
  if (segments.length === 0) fail('has no loadable (PT_LOAD) segment');
  const e = Number(entry);
  if (!segments.some((s) => s.executable && e >= s.paddr && e < s.paddr + s.memSize)) {
    fail(`entry point 0x${entry.toString(16)} is not inside an executable segment`);
  }
  return { entry, segments };
}

/** Copies a validated image into guest memory (zeroing .bss). */
export function loadElf(memory: GuestMemory, bytes: Uint8Array, image: ElfImage, name = 'guest image'): void {
  for (const s of image.segments) {
    const ok = memory.write(s.paddr, bytes.subarray(s.offset, s.offset + s.fileSize)) &&
      memory.fill(s.paddr + s.fileSize, s.memSize - s.fileSize, 0);
    if (!ok) throw new GuestImageError(`${name}: segment at 0x${s.paddr.toString(16)} does not fit guest RAM`, { image: name, field: 'segment' });
  }
}

/** bigint → number; anything beyond 2^53 becomes Infinity so range checks reject it. */
function num(x: bigint): number {
  return x > BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(x);
}
