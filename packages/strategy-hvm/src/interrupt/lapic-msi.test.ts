/**
 * Message-signalled interrupts into the local APIC, against the SDM's layout (Vol. 3, 11.11:
 * Figure 11-24 message address, Figure 11-25 message data). Literals on purpose.
 */
import test from 'ava';
import { ManualClock } from '@hyvisor/core/testing';
import { Lapic } from './lapic.js';

const SVR = 0x0f0;
const IRR = 0x200;
const TMR = 0x180;
const LDR = 0x0d0;
const DFR = 0x0e0;
const ID = 0x020;

function apic(id = 0) {
  const a = new Lapic(new ManualClock(0), { busHz: 100_000_000 });
  a.write(ID, 4, id << 24);
  a.write(SVR, 4, 0x1ff);
  const irr = (v: number) => ((a.read(IRR + 0x10 * (v >>> 5), 4) >>> (v & 31)) & 1) === 1;
  const tmr = (v: number) => ((a.read(TMR + 0x10 * (v >>> 5), 4) >>> (v & 31)) & 1) === 1;
  return { a, irr, tmr };
}

test('a fixed, edge message to this APIC in physical mode sets its IRR bit', (t) => {
  const { a, irr, tmr } = apic();
  t.true(a.acceptMessage(0xfee00000, 0x0041));
  t.true(irr(0x41));
  t.false(tmr(0x41));
});

test('trigger mode bit 15 makes it level (TMR); lowest priority goes to the only CPU', (t) => {
  const { a, irr, tmr } = apic();
  t.true(a.acceptMessage(0xfee00000, 0xc152)); // level, assert, lowest priority, vector 0x52
  t.true(irr(0x52));
  t.true(tmr(0x52));
});

test('the destination must be this APIC: physical ID, broadcast 0xff, or a logical match', (t) => {
  const { a, irr } = apic(2);
  t.false(a.acceptMessage(0xfee00000, 0x0043), 'physical destination 0 is another CPU');
  t.true(a.acceptMessage(0xfee02000, 0x0044), 'destination ID 2 in bits 19:12');
  t.true(a.acceptMessage(0xfeeff000, 0x0045), 'broadcast');
  a.write(DFR, 4, 0xffffffff); // flat model
  a.write(LDR, 4, 0x04000000);
  t.true(a.acceptMessage(0xfee0400c, 0x0046), 'logical (bit 2) destination 0x04 matches LDR bit 2');
  t.false(a.acceptMessage(0xfee0100c, 0x0047), 'logical destination 0x01 does not');
  t.deepEqual([0x43, 0x44, 0x45, 0x46, 0x47].map(irr), [false, true, true, true, false]);
});

test('not an interrupt message: another address, SMI/NMI/INIT/ExtINT modes, a vector below 16', (t) => {
  const { a, irr } = apic();
  t.false(a.acceptMessage(0xfed00000, 0x0041));
  t.false(a.acceptMessage(0xfef00000, 0x0041));
  t.false(a.acceptMessage(2 ** 40 + 0xfee00000, 0x0041));
  for (const mode of [2, 4, 5, 7]) t.false(a.acceptMessage(0xfee00000, (mode << 8) | 0x41), `mode ${mode}`);
  t.false(irr(0x41));
  t.false(a.acceptMessage(0xfee00000, 0x000f), 'vectors 0-15 are illegal');
});
