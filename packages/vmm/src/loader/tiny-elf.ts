/**
 * A minimal ELF64 executable around raw machine code: for hand-assembled guests in tests and
 * experiments (one instruction sequence, no toolchain).
 * @module
 */

/** An ELF64 executable with one RWX segment at `paddr` (default 1 MiB) holding `code`, entry at its start. */
export function tinyElf(code: readonly number[], paddr = 0x100000): Uint8Array {
  const bytes = new Uint8Array(0x78 + code.length);
  const v = new DataView(bytes.buffer);
  v.setUint32(0, 0x7f454c46, false);
  bytes[4] = 2; // ELFCLASS64
  bytes[5] = 1; // little endian
  bytes[6] = 1; // EV_CURRENT
  v.setUint16(16, 2, true); // ET_EXEC
  v.setUint16(18, 62, true); // EM_X86_64
  v.setUint32(20, 1, true);
  v.setBigUint64(24, BigInt(paddr), true); // entry
  v.setBigUint64(32, 0x40n, true); // phoff
  v.setUint16(52, 0x40, true); // ehsize
  v.setUint16(54, 56, true); // phentsize
  v.setUint16(56, 1, true); // phnum
  v.setUint32(0x40, 1, true); // PT_LOAD
  v.setUint32(0x44, 7, true); // RWX
  v.setBigUint64(0x48, 0x78n, true); // offset
  v.setBigUint64(0x50, BigInt(paddr), true); // vaddr
  v.setBigUint64(0x58, BigInt(paddr), true); // paddr
  v.setBigUint64(0x60, BigInt(code.length), true); // filesz
  v.setBigUint64(0x68, BigInt(code.length), true); // memsz
  bytes.set(code, 0x78);
  return bytes;
}
