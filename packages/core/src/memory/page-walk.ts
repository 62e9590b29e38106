/**
 * Guest-virtual → guest-physical translation by reading the guest's page tables in guest memory,
 * as the CPU would for a supervisor read, but setting no accessed/dirty bit and raising nothing:
 * for debuggers and tools (the GDB stub's memory packets, the emulator's watchpoints) on any
 * backend. Paging off, 32-bit (with PSE), PAE, and 4- and 5-level long mode; 4 KiB, 2/4 MiB and
 * 1 GiB pages. The tables are guest data: a walk that leaves guest RAM is a miss, never an error.
 * @module
 */
import type { GuestMemory } from './guest-memory.js';

/** The control registers a walk reads (a `SpecialRegisters` fits). */
export interface PagingState {
  readonly cr0: bigint;
  readonly cr3: bigint;
  readonly cr4: bigint;
  readonly efer: bigint;
}

const CR0_PG = 1n << 31n, CR4_PSE = 1n << 4n, CR4_PAE = 1n << 5n, CR4_LA57 = 1n << 12n, EFER_LMA = 1n << 10n;
const ADDR_MASK = 0x000f_ffff_ffff_f000n;

/**
 * The guest-physical address of guest-virtual `va`, or undefined where it is not mapped (a not
 * present entry, a table outside guest RAM, a reserved large-page bit at the top level).
 */
export function translateVirtual(memory: GuestMemory, paging: PagingState, va: bigint): number | undefined {
  const v = BigInt.asUintN(64, va);
  if ((paging.cr0 & CR0_PG) === 0n) return Number(v & 0xffff_ffffn);
  if ((paging.efer & EFER_LMA) !== 0n) return walk64(memory, paging.cr3 & ADDR_MASK, v, (paging.cr4 & CR4_LA57) !== 0n ? 5 : 4);
  if ((paging.cr4 & CR4_PAE) !== 0n) return walkPae(memory, paging.cr3 & 0xffff_ffe0n, v & 0xffff_ffffn);
  return walk32(memory, paging.cr3 & 0xffff_f000n, v & 0xffff_ffffn, (paging.cr4 & CR4_PSE) !== 0n);
}

function entry(memory: GuestMemory, gpa: bigint): bigint | undefined {
  if (gpa > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
  const e = memory.u64(Number(gpa));
  return e === undefined || (e & 1n) === 0n ? undefined : e;
}

function walk64(memory: GuestMemory, root: bigint, va: bigint, levels: number): number | undefined {
  let table = root;
  for (let level = levels; level >= 1; level--) {
    const shift = BigInt(12 + 9 * (level - 1));
    const e = entry(memory, table + ((va >> shift) & 511n) * 8n);
    if (e === undefined) return undefined;
    const large = (e & 0x80n) !== 0n;
    if (large && level > 3) return undefined;
    if (level === 1 || large) {
      const size = 1n << shift;
      return Number(((e & ADDR_MASK) & ~(size - 1n)) + (va & (size - 1n)));
    }
    table = e & ADDR_MASK;
  }
  return undefined;
}

function walkPae(memory: GuestMemory, root: bigint, va: bigint): number | undefined {
  const pdpte = entry(memory, root + ((va >> 30n) & 3n) * 8n);
  if (pdpte === undefined) return undefined;
  const pde = entry(memory, (pdpte & ADDR_MASK) + ((va >> 21n) & 511n) * 8n);
  if (pde === undefined) return undefined;
  if ((pde & 0x80n) !== 0n) return Number((pde & 0x000f_ffff_ffe0_0000n) + (va & 0x1f_ffffn));
  const pte = entry(memory, (pde & ADDR_MASK) + ((va >> 12n) & 511n) * 8n);
  return pte === undefined ? undefined : Number((pte & ADDR_MASK) + (va & 0xfffn));
}

function walk32(memory: GuestMemory, root: bigint, va: bigint, pse: boolean): number | undefined {
  const read = (gpa: bigint): number | undefined => {
    const e = memory.u32(Number(gpa));
    return e === 0xffff_ffff && !memory.contains(Number(gpa), 4) ? undefined : (e & 1) === 0 ? undefined : e;
  };
  const pde = read(root + ((va >> 22n) & 1023n) * 4n);
  if (pde === undefined) return undefined;
  if (pse && (pde & 0x80) !== 0) return (pde & 0xffc0_0000) >>> 0 | Number(va & 0x3f_ffffn);
  const pte = read(BigInt((pde & 0xffff_f000) >>> 0) + ((va >> 12n) & 1023n) * 4n);
  return pte === undefined ? undefined : ((pte & 0xffff_f000) >>> 0) + Number(va & 0xfffn);
}

/**
 * Copies `len` bytes at guest-virtual `va` out of guest memory, page by page. Returns the bytes
 * up to the first unmapped page (possibly none), so a debugger can read what is there.
 */
export function readVirtual(memory: GuestMemory, paging: PagingState, va: bigint, len: number): Uint8Array {
  const out = new Uint8Array(len);
  let done = 0;
  while (done < len) {
    const at = BigInt.asUintN(64, va + BigInt(done));
    const chunk = Math.min(len - done, 4096 - Number(at & 0xfffn));
    const gpa = translateVirtual(memory, paging, at);
    const bytes = gpa === undefined ? undefined : memory.slice(gpa, chunk);
    if (bytes === undefined) break;
    out.set(bytes, done);
    done += chunk;
  }
  return out.subarray(0, done);
}

/**
 * Writes `data` at guest-virtual `va` through the page tables. Checks every page first: false
 * (nothing written) when any byte is unmapped or outside guest RAM. Read-only regions are written
 * too (a debugger may patch code there).
 */
export function writeVirtual(memory: GuestMemory, paging: PagingState, va: bigint, data: Uint8Array): boolean {
  const parts: [Uint8Array, number][] = [];
  let done = 0;
  while (done < data.length) {
    const at = BigInt.asUintN(64, va + BigInt(done));
    const chunk = Math.min(data.length - done, 4096 - Number(at & 0xfffn));
    const gpa = translateVirtual(memory, paging, at);
    const dst = gpa === undefined ? undefined : memory.slice(gpa, chunk);
    if (dst === undefined) return false;
    parts.push([dst, done]);
    done += chunk;
  }
  for (const [dst, from] of parts) dst.set(data.subarray(from, from + dst.length));
  return true;
}
