/**
 * The MMU: linear → physical translation through 4-level paging (4 KiB, 2 MiB and 1 GiB pages)
 * with a direct-mapped TLB, accessed/dirty bits, U/S, R/W (with CR0.WP) and NX checks, #PF with
 * CR2 and the architectural error code, and the guest-visible memory accessors every instruction
 * uses. Linear addresses are signed canonical numbers (exact in a double); 64-bit values travel
 * as a low half (returned) and a high half (`cpu.rh`).
 * @module
 */
import { CR0_PG, CR0_WP, EFER_NXE, type Cpu } from '../cpu/cpu.js';
import type { PhysicalMemory } from './physical.js';

/** Access kinds. */
export const ACC_READ = 0, ACC_WRITE = 1, ACC_EXEC = 2;

/** Page-fault error code bits. */
export const PF_P = 1, PF_W = 2, PF_U = 4, PF_RSVD = 8, PF_I = 16;

/** Where MMIO accesses go (the vCPU's exit machinery). */
export interface MmioPort {
  /** Returns the low 32 bits (high half in `cpu.rh` for 8 bytes), or abandons the instruction for an exit. */
  mmioRead(gpa: number, size: number): number;
  mmioWrite(gpa: number, size: number, lo: number, hi: number): void;
}

const TLB_SIZE = 1024, TLB_MASK = TLB_SIZE - 1;
/** TLB permission bits: 1 << (access + (user ? 3 : 0)); then page-size marks for INVLPG. */
const T_LARGE2M = 0x40, T_LARGE1G = 0x80;
const TWO32 = 0x1_0000_0000;
const TWO48 = 2 ** 48;
/** Physical pages below this number have a code mark (`Mmu.codeMarks`); writes above always count as code writes. */
export const CODE_MARK_PAGES = 1 << 18;
const CODE_MARK_LIMIT = CODE_MARK_PAGES * 4096;

export class Mmu {
  private readonly tag = new Float64Array(TLB_SIZE).fill(0.5);
  private readonly page = new Float64Array(TLB_SIZE);
  private readonly perm = new Uint8Array(TLB_SIZE);
  private largeCached = false;
  /** Bumped on every flush, so cached code pages know they are stale. */
  generation = 0;
  /** Page walks done (telemetry, tests). */
  walks = 0;
  /**
   * Physical pages holding decoded instructions (set by the decode cache). A guest write through
   * this MMU to a marked page (or any write the fast paths cannot place) bumps `codeStamp`.
   */
  readonly codeMarks = new Uint8Array(CODE_MARK_PAGES);
  /**
   * Bumped by every guest write that may have changed cached code, and by the vCPU whenever memory
   * may have changed outside it (each run() entry): cached instructions checked against memory at
   * the current stamp need no new check.
   */
  codeStamp = 0;
  /**
   * Linear page numbers a debugger watches (`run/debug.ts`), or null. Their translations never
   * enter the TLB, so every access to them walks and is logged in {@link watchLog}; only the walk
   * (a TLB miss) reads this field, never the fast path.
   */
  watchPages: Set<number> | null = null;
  /** Data accesses to watched pages since the debugger last cleared it: linear address, access kind, … (bounded). */
  readonly watchLog: number[] = [];
  mmio: MmioPort = {
    mmioRead: () => 0xffffffff,
    mmioWrite: () => {},
  };

  constructor(private readonly cpu: Cpu, readonly phys: PhysicalMemory) {}

  /** Forgets every translation (CR3, CR0, CR4 writes). */
  flush(): void {
    this.tag.fill(0.5);
    this.largeCached = false;
    this.generation++;
  }

  /** INVLPG: forgets the translation of the page holding `lin` (including a large page's other slices). */
  invalidate(lin: number): void {
    const vpn = Math.floor(lin / 4096);
    const i = vpn & TLB_MASK;
    if (this.tag[i] === vpn) this.tag[i] = 0.5;
    if (this.largeCached) {
      const tag = this.tag, perm = this.perm;
      for (let j = 0; j < TLB_SIZE; j++) {
        const p = perm[j]!;
        if ((p & T_LARGE2M && Math.floor(tag[j]! / 512) === Math.floor(vpn / 512)) ||
          (p & T_LARGE1G && Math.floor(tag[j]! / 262144) === Math.floor(vpn / 262144))) tag[j] = 0.5;
      }
    }
    this.generation++;
  }

  /** Physical address of `lin` for an access of kind `acc`; raises #PF when the walk or the check fails. */
  translate(lin: number, acc: number, user: boolean): number {
    const vpn = Math.floor(lin / 4096);
    const i = vpn & TLB_MASK;
    if (this.tag[i] === vpn && (this.perm[i]! & (1 << (user ? acc + 3 : acc))) !== 0) return this.page[i]! + (lin & 0xfff);
    return this.walk(lin, acc, user);
  }

  /** The full page walk; fills the TLB. */
  walk(lin: number, acc: number, user: boolean): number {
    const cpu = this.cpu;
    if ((cpu.cr0 & CR0_PG) === 0) return lin >>> 0;
    this.walks++;
    const u48 = lin < 0 ? lin + TWO48 : lin;
    const nxe = (cpu.efer & EFER_NXE) !== 0;
    let table = cpu.cr3 - (cpu.cr3 % 4096);
    let allowU = 1, allowW = 1, nx = 0;
    let level = 4;
    let pageBase = 0, pageSize = 4096;
    const entries = WALK_ENTRIES;
    for (;;) {
      const shift = 12 + 9 * (level - 1);
      const idx = Math.floor(u48 / 2 ** shift) % 512;
      const ea = table + idx * 8;
      const lo = this.ptRead(ea), hi = cpu.rh;
      entries[level] = ea;
      if ((lo & 1) === 0) this.pageFault(lin, acc, user, 0);
      if ((hi & 0x80000000) !== 0 && !nxe) this.pageFault(lin, acc, user, PF_P | PF_RSVD);
      if (level === 4 && (lo & 0x80) !== 0) this.pageFault(lin, acc, user, PF_P | PF_RSVD);
      allowU &= (lo >> 2) & 1;
      allowW &= (lo >> 1) & 1;
      if (nxe) nx |= hi >>> 31;
      const frame = (hi & 0xfffff) * TWO32 + ((lo & 0xfffff000) >>> 0);
      if (level === 1 || ((lo & 0x80) !== 0 && level <= 3)) {
        pageSize = 2 ** shift;
        const base = frame - (frame % pageSize);
        pageBase = base + ((u48 % pageSize) - (u48 % 4096));
        break;
      }
      table = frame;
      level--;
    }
    const leafLevel = level;
    let fault = false;
    if (user) {
      if (!allowU || (acc === ACC_WRITE && !allowW)) fault = true;
    } else if (acc === ACC_WRITE && !allowW && (cpu.cr0 & CR0_WP) !== 0) {
      fault = true;
    }
    if (acc === ACC_EXEC && nx) fault = true;
    if (fault) this.pageFault(lin, acc, user, PF_P);
    if (this.watchPages !== null && this.watchPages.has(Math.floor(lin / 4096))) return this.watched(lin, acc, entries, leafLevel, pageBase);
    // Accessed bits on every level, dirty on the leaf for writes.
    let dirty = false;
    for (let l = 4; l >= leafLevel; l--) {
      const ea = entries[l]!;
      let lo = this.ptRead(ea);
      const want = l === leafLevel && acc === ACC_WRITE ? 0x60 : 0x20;
      if ((lo & want) !== want) {
        lo = (lo | want) >>> 0;
        this.ptWriteLow(ea, lo);
      }
      if (l === leafLevel) dirty = (lo & 0x40) !== 0;
    }
    const wp = (cpu.cr0 & CR0_WP) !== 0;
    let p = 1; // supervisor read
    if ((allowW || !wp) && dirty) p |= 2;
    if (!nx) p |= 4;
    if (allowU) {
      p |= 8;
      if (allowW && dirty) p |= 16;
      if (!nx) p |= 32;
    }
    if (pageSize === 0x200000) { p |= T_LARGE2M; this.largeCached = true; }
    else if (pageSize === 0x40000000) { p |= T_LARGE1G; this.largeCached = true; }
    const vpn = Math.floor(lin / 4096);
    const i = vpn & TLB_MASK;
    this.tag[i] = vpn;
    this.page[i] = pageBase;
    this.perm[i] = p;
    return pageBase + (lin & 0xfff);
  }

  /** A walk to a watched page: accessed/dirty bits as usual, logged, and kept out of the TLB. */
  private watched(lin: number, acc: number, entries: Float64Array, leafLevel: number, pageBase: number): number {
    for (let l = 4; l >= leafLevel; l--) {
      const ea = entries[l]!;
      const lo = this.ptRead(ea);
      const want = l === leafLevel && acc === ACC_WRITE ? 0x60 : 0x20;
      if ((lo & want) !== want) this.ptWriteLow(ea, (lo | want) >>> 0);
    }
    if (acc !== ACC_EXEC && this.watchLog.length < 64) this.watchLog.push(lin, acc);
    return pageBase + (lin & 0xfff);
  }

  private pageFault(lin: number, acc: number, user: boolean, bits: number): never {
    const cpu = this.cpu;
    let err = bits;
    if (acc === ACC_WRITE) err |= PF_W;
    if (user) err |= PF_U;
    if (acc === ACC_EXEC && (cpu.efer & EFER_NXE) !== 0) err |= PF_I;
    cpu.cr2 = lin;
    return cpu.raise(14, err);
  }

  /** Reads a page-table entry (low half returned, high half in `cpu.rh`). */
  private ptRead(pa: number): number {
    const ph = this.phys;
    if (pa + 8 <= ph.fastEnd) {
      this.cpu.rh = ph.view.getUint32(pa + 4, true);
      return ph.view.getUint32(pa, true);
    }
    const r = ph.find(pa, 8);
    if (!r) return this.cpu.internal(`page table entry at guest-physical 0x${pa.toString(16)} is outside guest RAM`);
    this.cpu.rh = r.view.getUint32(pa - r.start + 4, true);
    return r.view.getUint32(pa - r.start, true);
  }

  /** Writes back accessed/dirty bits; page tables in read-only regions never get them (as on KVM). */
  private ptWriteLow(pa: number, lo: number): void {
    const ph = this.phys;
    this.codeStamp++;
    if (pa + 8 <= ph.fastEnd) { ph.view.setUint32(pa, lo, true); return; }
    const r = ph.find(pa, 8);
    if (r && !r.readonly) { this.codeStamp++; r.view.setUint32(pa - r.start, lo, true); }
  }

  // ------------------------------------------------------------------ guest accessors

  read8(lin: number): number {
    const pa = this.translate(lin, ACC_READ, this.cpu.cpl === 3);
    if (pa < this.phys.fastEnd) return this.phys.bytes[pa]!;
    return this.readPhysSlow(pa, 1);
  }

  read16(lin: number): number {
    if ((lin & 0xfff) > 0xffe) return this.readSplit(lin, 2);
    const pa = this.translate(lin, ACC_READ, this.cpu.cpl === 3);
    if (pa + 2 <= this.phys.fastEnd) return this.phys.view.getUint16(pa, true);
    return this.readPhysSlow(pa, 2);
  }

  read32(lin: number): number {
    if ((lin & 0xfff) > 0xffc) return this.readSplit(lin, 4);
    const pa = this.translate(lin, ACC_READ, this.cpu.cpl === 3);
    if (pa + 4 <= this.phys.fastEnd) return this.phys.view.getUint32(pa, true);
    return this.readPhysSlow(pa, 4);
  }

  /** Low half returned, high half in `cpu.rh`. */
  read64(lin: number): number {
    if ((lin & 0xfff) > 0xff8) return this.readSplit(lin, 8);
    const pa = this.translate(lin, ACC_READ, this.cpu.cpl === 3);
    if (pa + 8 <= this.phys.fastEnd) {
      const v = this.phys.view;
      this.cpu.rh = v.getUint32(pa + 4, true);
      return v.getUint32(pa, true);
    }
    return this.readPhysSlow(pa, 8);
  }

  /** Reads `size` bytes (1, 2, 4, 8). */
  read(lin: number, size: number): number {
    switch (size) {
      case 1: return this.read8(lin);
      case 2: return this.read16(lin);
      case 4: return this.read32(lin);
      default: return this.read64(lin);
    }
  }

  write8(lin: number, v: number): void {
    const pa = this.translate(lin, ACC_WRITE, this.cpu.cpl === 3);
    if (pa >= CODE_MARK_LIMIT || this.codeMarks[pa >>> 12] !== 0) this.codeStamp++;
    if (pa < this.phys.fastEnd) { this.phys.bytes[pa] = v; return; }
    this.writePhysSlow(pa, 1, v & 0xff, 0);
  }

  write16(lin: number, v: number): void {
    if ((lin & 0xfff) > 0xffe) { this.writeSplit(lin, 2, v, 0); return; }
    const pa = this.translate(lin, ACC_WRITE, this.cpu.cpl === 3);
    if (pa >= CODE_MARK_LIMIT || this.codeMarks[pa >>> 12] !== 0) this.codeStamp++;
    if (pa + 2 <= this.phys.fastEnd) { this.phys.view.setUint16(pa, v, true); return; }
    this.writePhysSlow(pa, 2, v & 0xffff, 0);
  }

  write32(lin: number, v: number): void {
    if ((lin & 0xfff) > 0xffc) { this.writeSplit(lin, 4, v, 0); return; }
    const pa = this.translate(lin, ACC_WRITE, this.cpu.cpl === 3);
    if (pa >= CODE_MARK_LIMIT || this.codeMarks[pa >>> 12] !== 0) this.codeStamp++;
    if (pa + 4 <= this.phys.fastEnd) { this.phys.view.setUint32(pa, v, true); return; }
    this.writePhysSlow(pa, 4, v >>> 0, 0);
  }

  write64(lin: number, lo: number, hi: number): void {
    if ((lin & 0xfff) > 0xff8) { this.writeSplit(lin, 8, lo, hi); return; }
    const pa = this.translate(lin, ACC_WRITE, this.cpu.cpl === 3);
    if (pa >= CODE_MARK_LIMIT || this.codeMarks[pa >>> 12] !== 0) this.codeStamp++;
    if (pa + 8 <= this.phys.fastEnd) {
      const v = this.phys.view;
      v.setUint32(pa, lo, true);
      v.setUint32(pa + 4, hi, true);
      return;
    }
    this.writePhysSlow(pa, 8, lo >>> 0, hi >>> 0);
  }

  /** Writes `size` bytes (1, 2, 4, 8). */
  write(lin: number, size: number, lo: number, hi: number): void {
    switch (size) {
      case 1: this.write8(lin, lo); return;
      case 2: this.write16(lin, lo); return;
      case 4: this.write32(lin, lo); return;
      default: this.write64(lin, lo, hi);
    }
  }

  /** Checks that `[lin, lin+size)` is writable (raising #PF now), without writing. */
  probeWrite(lin: number, size: number): void {
    const user = this.cpu.cpl === 3;
    this.translate(lin, ACC_WRITE, user);
    if (size > 1) this.translate(lin + size - 1, ACC_WRITE, user);
  }

  /** Supervisor (implicit) accesses: descriptor tables, the TSS, the IDT. */
  sysRead32(lin: number): number {
    const cpl = this.cpu.cpl;
    this.cpu.cpl = 0;
    try { return this.read32(lin); } finally { this.cpu.cpl = cpl; }
  }

  sysRead64(lin: number): number {
    const cpl = this.cpu.cpl;
    this.cpu.cpl = 0;
    try { return this.read64(lin); } finally { this.cpu.cpl = cpl; }
  }

  sysWrite32(lin: number, v: number): void {
    const cpl = this.cpu.cpl;
    this.cpu.cpl = 0;
    try { this.write32(lin, v); } finally { this.cpu.cpl = cpl; }
  }

  private readSplit(lin: number, size: number): number {
    let lo = 0, hi = 0;
    for (let i = 0; i < size; i++) {
      const b = this.read8(lin + i);
      if (i < 4) lo |= b << (8 * i);
      else hi |= b << (8 * (i - 4));
    }
    this.cpu.rh = hi >>> 0;
    return lo >>> 0;
  }

  private writeSplit(lin: number, size: number, lo: number, hi: number): void {
    this.probeWrite(lin, size);
    for (let i = 0; i < size; i++) {
      const b = i < 4 ? (lo >>> (8 * i)) & 0xff : (hi >>> (8 * (i - 4))) & 0xff;
      this.write8(lin + i, b);
    }
  }

  private readPhysSlow(pa: number, size: number): number {
    const r = this.phys.find(pa, size);
    if (r === undefined) return this.mmio.mmioRead(pa, size);
    const v = r.view, o = pa - r.start;
    switch (size) {
      case 1: return v.getUint8(o);
      case 2: return v.getUint16(o, true);
      case 4: return v.getUint32(o, true);
      default:
        this.cpu.rh = v.getUint32(o + 4, true);
        return v.getUint32(o, true);
    }
  }

  private writePhysSlow(pa: number, size: number, lo: number, hi: number): void {
    const r = this.phys.find(pa, size);
    if (r === undefined || r.readonly) { this.mmio.mmioWrite(pa, size, lo, hi); return; }
    this.codeStamp++;
    const v = r.view, o = pa - r.start;
    switch (size) {
      case 1: v.setUint8(o, lo); return;
      case 2: v.setUint16(o, lo, true); return;
      case 4: v.setUint32(o, lo, true); return;
      default:
        v.setUint32(o, lo, true);
        v.setUint32(o + 4, hi, true);
    }
  }
}

/** Scratch for the walk: guest-physical address of the entry read at each level (index 1–4). */
const WALK_ENTRIES = new Float64Array(5);
