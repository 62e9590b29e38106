import test from 'ava';
import { ManualClock as FakeClock } from '@hyvisor/core/testing';
import { Lapic, LapicReg, Lvt, Svr } from './lapic.js';
import { DualPic, Icw1, Icw4, PicReg } from './pic8259.js';
import { PlatformInterrupts } from './platform-interrupts.js';

function setup() {
  const pic = new DualPic();
  for (const [chip, base, icw3] of [[pic.master, 0x20, 4], [pic.slave, 0x28, 2]] as const) {
    chip.write(PicReg.COMMAND, 1, Icw1.INIT | Icw1.IC4);
    chip.write(PicReg.DATA, 1, base);
    chip.write(PicReg.DATA, 1, icw3);
    chip.write(PicReg.DATA, 1, Icw4.UPM);
  }
  const lapic = new Lapic(new FakeClock());
  const router = new PlatformInterrupts(pic, lapic);
  return { pic, lapic, router };
}

test('PIC interrupts pass through LINT0 in ExtINT mode', (t) => {
  const { pic, router } = setup();
  t.true(router.picConnected(), 'virtual-wire mode at reset');
  pic.setIrq(4, true);
  t.true(router.hasPendingInterrupt());
  t.is(router.acknowledge(), 0x24);
  t.is(router.fromPic, 1);
});

test('a masked LINT0 keeps the PIC away from the CPU', (t) => {
  const { pic, lapic, router } = setup();
  lapic.write(LapicReg.SVR, 4, Svr.ENABLE | 0xff);
  lapic.write(LapicReg.LVT_LINT0, 4, Lvt.MASKED | 0x700);
  pic.setIrq(4, true);
  t.false(router.hasPendingInterrupt());
  t.is(router.acknowledge(), 0xff, 'the APIC answers with its spurious vector');
});

test('APIC vectors come before PIC vectors', (t) => {
  const { pic, lapic, router } = setup();
  lapic.write(LapicReg.SVR, 4, Svr.ENABLE | 0xff);
  lapic.write(LapicReg.LVT_LINT0, 4, 0x700);
  pic.setIrq(1, true);
  lapic.acceptInterrupt(0x80);
  t.is(router.acknowledge(), 0x80);
  t.is(router.acknowledge(), 0x21);
});

test('a hardware-disabled APIC connects the PIC directly', (t) => {
  const { pic, lapic, router } = setup();
  lapic.write(LapicReg.SVR, 4, Svr.ENABLE | 0xff);
  lapic.write(LapicReg.LVT_LINT0, 4, Lvt.MASKED);
  lapic.hardwareEnabled = false;
  pic.setIrq(3, true);
  t.true(router.hasPendingInterrupt());
  t.is(router.acknowledge(), 0x23);
});

test('INTR notifications combine both controllers', (t) => {
  const { pic, lapic, router } = setup();
  const seen: boolean[] = [];
  router.onInterruptChange = (level) => seen.push(level);
  pic.setIrq(3, true);
  lapic.write(LapicReg.SVR, 4, Svr.ENABLE | 0xff);
  lapic.write(LapicReg.LVT_LINT0, 4, Lvt.MASKED | 0x700); // the PIC is cut off: INTR falls
  lapic.acceptInterrupt(0x90); // the APIC raises it again
  router.acknowledge();
  t.deepEqual(seen, [true, false, true, false]);
});
