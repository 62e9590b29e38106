import test from 'ava';
import { BootLayout } from '../../abi/guest-abi.js';
import type { Segment, SpecialRegisters } from '../../backend/registers.js';
import { WiringError } from '../../errors.js';
import { GuestMemory } from '../../memory/guest-memory.js';
import { BootSelectors, bootRegisters, longModeSpecialRegisters, writeBootTables } from './long-mode.js';

function ram(size = 0x100000): GuestMemory {
  const m = new GuestMemory();
  m.addRegion({ name: 'ram', gpa: 0, size, buffer: new ArrayBuffer(size), readonly: false });
  return m;
}

/** Walks the 4-level tables the way the MMU does for a 2 MiB page; returns the physical address. */
function translate(m: GuestMemory, va: bigint): bigint | string {
  const cr3 = BigInt(BootLayout.PML4);
  const pml4e = m.u64(Number(cr3 + ((va >> 39n) & 511n) * 8n))!;
  if (!(pml4e & 1n)) return 'PML4E not present';
  const pdpte = m.u64(Number((pml4e & 0xffffffffff000n) + ((va >> 30n) & 511n) * 8n))!;
  if (!(pdpte & 1n)) return 'PDPTE not present';
  if (pdpte & 0x80n) return 'unexpected 1 GiB page';
  const pde = m.u64(Number((pdpte & 0xffffffffff000n) + ((va >> 21n) & 511n) * 8n))!;
  if (!(pde & 1n)) return 'PDE not present';
  if (!(pde & 2n)) return 'PDE not writable';
  if (!(pde & 0x80n)) return 'PDE is not a 2 MiB page';
  return (pde & 0xfffffffe00000n) | (va & 0x1fffffn);
}

test('the page tables identity-map the first 4 GiB with writable 2 MiB pages', (t) => {
  const m = ram();
  writeBootTables(m);
  for (const va of [0n, 0x1234n, 0x200000n, 0x40000000n, 0x7fe12345n, 0xc0000000n, 0xffe00000n, 0xffffffffn]) {
    t.is(translate(m, va), va, `0x${va.toString(16)}`);
  }
});

test('nothing above 4 GiB is mapped', (t) => {
  const m = ram();
  writeBootTables(m);
  t.is(translate(m, 0x100000000n), 'PDPTE not present');
  t.is(translate(m, 1n << 39n), 'PML4E not present');
});

test('writing the tables over dirty memory leaves no stale entries', (t) => {
  const m = ram();
  m.fill(BootLayout.PML4, 0x1000, 0xff);
  m.fill(BootLayout.PDPT, 0x1000, 0xff);
  writeBootTables(m);
  t.is(translate(m, 0x100000000n), 'PDPTE not present');
  t.is(m.u64(BootLayout.PML4 + 8), 0n);
});

test('the GDT holds the standard flat 64-bit code and data descriptors', (t) => {
  const m = ram();
  writeBootTables(m);
  t.is(m.u64(BootLayout.GDT), 0n);
  t.is(m.u64(BootLayout.GDT + BootSelectors.CODE64), 0x00af9b000000ffffn);
  t.is(m.u64(BootLayout.GDT + BootSelectors.DATA), 0x00cf93000000ffffn);
  t.is(m.u64(BootLayout.GDT + BootSelectors.TSS), 0x008f8b000000ffffn);
});

test('writing boot tables into too little RAM is a wiring error', (t) => {
  t.throws(() => writeBootTables(ram(0x8000)), { instanceOf: WiringError });
});

function seg(): Segment {
  return { base: 0n, limit: 0xffff, selector: 0, type: 3, present: true, dpl: 0, db: false, s: true, l: false, g: false, avl: false, unusable: false };
}

const reset: SpecialRegisters = {
  cs: seg(), ds: seg(), es: seg(), fs: seg(), gs: seg(), ss: seg(), tr: seg(), ldt: seg(),
  gdt: { base: 0n, limit: 0xffff }, idt: { base: 0n, limit: 0xffff },
  cr0: 0x60000010n, cr2: 0n, cr3: 0n, cr4: 0n, cr8: 0n, efer: 0n, apicBase: 0xfee00900n,
};

test('long-mode special registers turn on paging, PAE and long mode with caches on', (t) => {
  const s = longModeSpecialRegisters(reset);
  t.is(s.cr0 & 0x80000001n, 0x80000001n, 'PG and PE');
  t.is(s.cr0 & 0x60000000n, 0n, 'CD and NW clear');
  t.is(s.cr4 & 0x20n, 0x20n, 'PAE');
  t.is(s.efer & 0x500n, 0x500n, 'LME and LMA');
  t.is(s.cr3, BigInt(BootLayout.PML4));
  t.is(s.apicBase, reset.apicBase, 'untouched fields are kept');
});

test('the boot code segment is 64-bit (L=1, D=0) and selects the GDT code entry', (t) => {
  const s = longModeSpecialRegisters(reset);
  t.is(s.cs.selector, BootSelectors.CODE64);
  t.true(s.cs.l);
  t.false(s.cs.db);
  t.true(s.cs.present && s.cs.s && s.cs.g);
  t.is(s.cs.type, 0xb);
  t.is(s.ss.selector, BootSelectors.DATA);
  t.true(s.ss.db);
  t.is(s.tr.type, 0xb, 'busy 64-bit TSS');
  t.false(s.tr.s);
  t.is(s.gdt.base, BigInt(BootLayout.GDT));
  t.is(s.gdt.limit, 4 * 8 - 1);
});

test('boot registers start at the entry with the start info in RBX and RSI and interrupts off', (t) => {
  const r = bootRegisters(0x100000n);
  t.is(r.rip, 0x100000n);
  t.is(r.rbx, BigInt(BootLayout.START_INFO));
  t.is(r.rsi, BigInt(BootLayout.START_INFO));
  t.is(r.rsp, BigInt(BootLayout.BOOT_STACK_TOP));
  t.is(r.rflags, 2n);
});
