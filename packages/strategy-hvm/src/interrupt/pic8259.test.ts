import test from 'ava';
import { DualPic, Pic8259 } from './pic8259.js';

// Command words as the Intel 8259A datasheet gives them (figures "Initialization Command Word
// Format" and "Operation Command Word Format"). Literals on purpose, not imported from the
// model: a wrong constant in the model must make these tests fail.
/** A0 = 0: ICW1, OCW2, OCW3 and the IRR/ISR/poll read; A0 = 1: ICW2-4, OCW1 (mask). */
const PicReg = { COMMAND: 0, DATA: 1 } as const;
/** ICW1: D0 IC4, D1 SNGL, D3 LTIM, D4 = 1 marks ICW1. */
const Icw1 = { IC4: 0x01, SNGL: 0x02, LTIM: 0x08, INIT: 0x10 } as const;
/** ICW4: D0 µPM (8086), D1 AEOI, D4 SFNM. */
const Icw4 = { UPM: 0x01, AEOI: 0x02, SFNM: 0x10 } as const;
/** OCW2 R, SL, EOI (D7-D5): 001 EOI, 011 specific EOI, 101 rotate on EOI, 110 set priority. */
const Ocw2 = { EOI: 0x20, SPECIFIC_EOI: 0x60, ROTATE_EOI: 0xa0, SET_PRIORITY: 0xc0 } as const;
/** OCW3: D0 RIS, D1 RR, D2 P (poll), D3 = 1 marks OCW3, D5 SMM, D6 ESMM. */
const Ocw3 = { RIS: 0x01, RR: 0x02, POLL: 0x04, SELECT: 0x08, SMM: 0x20, ESMM: 0x40 } as const;

/** A single chip initialized like a PC master (edge, vector base 0x20, 8086 mode). */
function single(icw4: number = Icw4.UPM) {
  const pic = new Pic8259();
  pic.write(PicReg.COMMAND, 1, Icw1.INIT | Icw1.SNGL | Icw1.IC4);
  pic.write(PicReg.DATA, 1, 0x20);
  pic.write(PicReg.DATA, 1, icw4);
  return pic;
}

/** The PC pair initialized as Linux and the BIOS do: master 0x20, slave 0x70. */
function pair(icw4: number = Icw4.UPM) {
  const pics = new DualPic();
  const init = (chip: Pic8259, base: number, icw3: number) => {
    chip.write(PicReg.COMMAND, 1, Icw1.INIT | Icw1.IC4);
    chip.write(PicReg.DATA, 1, base);
    chip.write(PicReg.DATA, 1, icw3);
    chip.write(PicReg.DATA, 1, icw4);
  };
  init(pics.master, 0x20, 0x04);
  init(pics.slave, 0x70, 0x02);
  return pics;
}

const readIsr = (pic: Pic8259) => {
  pic.write(PicReg.COMMAND, 1, Ocw3.SELECT | Ocw3.RR | Ocw3.RIS);
  return pic.read(PicReg.COMMAND, 1);
};
const readIrr = (pic: Pic8259) => {
  pic.write(PicReg.COMMAND, 1, Ocw3.SELECT | Ocw3.RR);
  return pic.read(PicReg.COMMAND, 1);
};

test('ICW sequence sets the vector base', (t) => {
  const pic = single();
  t.false(pic.initializing);
  t.is(pic.vectorBase, 0x20);
  pic.setIrq(3, true);
  t.is(pic.acknowledge(), 0x23);
});

test('the low three bits of ICW2 are ignored', (t) => {
  const pic = new Pic8259();
  pic.write(PicReg.COMMAND, 1, Icw1.INIT | Icw1.SNGL);
  pic.write(PicReg.DATA, 1, 0x27);
  t.false(pic.initializing, 'no ICW3 in single mode, no ICW4 without IC4');
  t.is(pic.vectorBase, 0x20);
});

test('cascade mode expects ICW3 before ICW4', (t) => {
  const pic = new Pic8259();
  pic.write(PicReg.COMMAND, 1, Icw1.INIT | Icw1.IC4);
  pic.write(PicReg.DATA, 1, 0x08);
  pic.write(PicReg.DATA, 1, 0x04);
  t.true(pic.initializing);
  pic.write(PicReg.DATA, 1, Icw4.UPM);
  t.false(pic.initializing);
  pic.write(PicReg.DATA, 1, 0xfe);
  t.is(pic.mask, 0xfe, 'after the sequence the data port is OCW1');
});

test('ICW1 clears the mask and in-service registers', (t) => {
  const pic = single();
  pic.write(PicReg.DATA, 1, 0xf0);
  pic.setIrq(0, true);
  pic.acknowledge();
  pic.write(PicReg.COMMAND, 1, Icw1.INIT | Icw1.SNGL);
  pic.write(PicReg.DATA, 1, 0x20);
  t.is(pic.mask, 0);
  t.is(pic.inService, 0);
});

test('an edge request is latched on the rising edge', (t) => {
  const pic = single();
  pic.setIrq(4, true);
  pic.setIrq(4, false);
  t.true(pic.hasPendingInterrupt(), 'a pulse is not lost');
  t.is(pic.acknowledge(), 0x24);
});

test('a line held high requests once', (t) => {
  const pic = single();
  pic.setIrq(4, true);
  t.is(pic.acknowledge(), 0x24);
  pic.write(PicReg.COMMAND, 1, Ocw2.EOI);
  pic.setIrq(4, true);
  t.false(pic.hasPendingInterrupt(), 'no new rising edge');
  pic.setIrq(4, false);
  pic.setIrq(4, true);
  t.true(pic.hasPendingInterrupt());
});

test('masked line keeps its request in IRR', (t) => {
  const pic = single();
  pic.write(PicReg.DATA, 1, 1 << 5);
  pic.setIrq(5, true);
  t.false(pic.hasPendingInterrupt());
  t.is(readIrr(pic), 1 << 5);
  pic.write(PicReg.DATA, 1, 0);
  t.true(pic.hasPendingInterrupt());
  t.is(pic.acknowledge(), 0x25);
});

test('the data port reads back the mask', (t) => {
  const pic = single();
  pic.write(PicReg.DATA, 1, 0xb8);
  t.is(pic.read(PicReg.DATA, 1), 0xb8);
});

test('acknowledge moves the request from IRR to ISR', (t) => {
  const pic = single();
  pic.setIrq(6, true);
  pic.acknowledge();
  t.is(readIrr(pic), 0);
  t.is(readIsr(pic), 1 << 6);
  t.false(pic.hasPendingInterrupt());
});

test('the lowest-numbered request wins', (t) => {
  const pic = single();
  pic.setIrq(6, true);
  pic.setIrq(3, true);
  t.is(pic.acknowledge(), 0x23);
});

test('an in-service level blocks equal and lower priorities', (t) => {
  const pic = single();
  pic.setIrq(3, true);
  pic.acknowledge();
  pic.setIrq(5, true);
  t.false(pic.hasPendingInterrupt());
  pic.setIrq(1, true);
  t.true(pic.hasPendingInterrupt(), 'a higher priority nests');
  t.is(pic.acknowledge(), 0x21);
});

test('EOI clears the highest in-service bit', (t) => {
  const pic = single();
  pic.setIrq(3, true);
  pic.acknowledge();
  pic.setIrq(1, true);
  pic.acknowledge();
  t.is(pic.inService, (1 << 3) | (1 << 1));
  pic.write(PicReg.COMMAND, 1, Ocw2.EOI);
  t.is(pic.inService, 1 << 3);
  t.is(pic.eois, 1);
});

test('EOI lets a blocked lower-priority request through', (t) => {
  const pic = single();
  pic.setIrq(3, true);
  pic.acknowledge();
  pic.setIrq(5, true);
  pic.write(PicReg.COMMAND, 1, Ocw2.EOI);
  t.true(pic.hasPendingInterrupt());
  t.is(pic.acknowledge(), 0x25);
});

test('specific EOI clears the named level', (t) => {
  const pic = single();
  pic.setIrq(1, true);
  pic.acknowledge();
  pic.write(PicReg.COMMAND, 1, Ocw2.EOI); // nothing else; re-arm two levels
  pic.setIrq(3, true);
  pic.acknowledge();
  pic.setIrq(1, false);
  pic.setIrq(1, true);
  pic.acknowledge();
  pic.write(PicReg.COMMAND, 1, Ocw2.SPECIFIC_EOI | 3);
  t.is(pic.inService, 1 << 1);
});

test('auto-EOI leaves nothing in service', (t) => {
  const pic = single(Icw4.UPM | Icw4.AEOI);
  pic.setIrq(2, true);
  t.is(pic.acknowledge(), 0x22);
  t.is(pic.inService, 0);
  pic.setIrq(7, true);
  t.true(pic.hasPendingInterrupt(), 'nothing blocks a lower priority');
});

test('OCW3 selects ISR or IRR for command-port reads', (t) => {
  const pic = single();
  pic.setIrq(2, true);
  pic.acknowledge();
  pic.setIrq(6, true);
  t.is(readIsr(pic), 1 << 2);
  t.is(pic.read(PicReg.COMMAND, 1), 1 << 2, 'the selection sticks');
  t.is(readIrr(pic), 1 << 6);
});

test('the poll command returns the highest request and acknowledges it', (t) => {
  const pic = single();
  pic.setIrq(5, true);
  pic.write(PicReg.COMMAND, 1, Ocw3.SELECT | Ocw3.POLL);
  t.is(pic.read(PicReg.COMMAND, 1), 0x80 | 5);
  t.is(pic.inService, 1 << 5);
  pic.write(PicReg.COMMAND, 1, Ocw3.SELECT | Ocw3.POLL);
  t.is(pic.read(PicReg.DATA, 1), 0, 'no request: bit 7 clear');
  t.is(pic.read(PicReg.DATA, 1), 0, 'one read per poll command: back to IMR');
});

test('rotate on EOI makes the served level the lowest priority', (t) => {
  const pic = single();
  pic.setIrq(1, true);
  pic.acknowledge();
  pic.write(PicReg.COMMAND, 1, Ocw2.ROTATE_EOI);
  pic.setIrq(0, true);
  pic.setIrq(2, true);
  t.is(pic.acknowledge(), 0x22, 'IR2 now has the highest priority');
});

test('set priority makes the named level the lowest', (t) => {
  const pic = single();
  pic.write(PicReg.COMMAND, 1, Ocw2.SET_PRIORITY | 4);
  pic.setIrq(3, true);
  pic.setIrq(6, true);
  t.is(pic.acknowledge(), 0x26);
});

test('special mask mode lets a lower level in while a masked level is in service', (t) => {
  const pic = single();
  pic.setIrq(2, true);
  pic.acknowledge();
  pic.write(PicReg.DATA, 1, 1 << 2);
  pic.write(PicReg.COMMAND, 1, Ocw3.SELECT | Ocw3.ESMM | Ocw3.SMM);
  pic.setIrq(5, true);
  t.true(pic.hasPendingInterrupt());
  pic.write(PicReg.COMMAND, 1, Ocw3.SELECT | Ocw3.ESMM);
  t.false(pic.hasPendingInterrupt(), 'special mask mode reset');
});

test('a level-triggered request that vanished before INTA gives spurious IRQ7', (t) => {
  const pics = pair();
  pics.master.elcr = 1 << 5;
  pics.setIrq(5, true);
  t.true(pics.hasPendingInterrupt());
  pics.setIrq(5, false);
  t.is(pics.acknowledge(), 0x27);
  t.is(pics.master.inService, 0, 'a spurious IRQ7 puts nothing in service');
  t.is(pics.master.spurious, 1);
});

test('a request masked before INTA gives spurious IRQ7', (t) => {
  const pic = single();
  pic.setIrq(3, true);
  pic.write(PicReg.DATA, 1, 1 << 3);
  t.is(pic.acknowledge(), 0x27);
  t.is(pic.inService, 0);
});

test('a level-triggered line still high is requested again after EOI', (t) => {
  const pics = pair();
  pics.master.elcr = 1 << 4;
  pics.setIrq(4, true);
  t.is(pics.acknowledge(), 0x24);
  t.false(pics.hasPendingInterrupt(), 'in service blocks it');
  pics.master.write(PicReg.COMMAND, 1, Ocw2.EOI);
  t.true(pics.hasPendingInterrupt());
});

test('ICW1.LTIM makes every input level-triggered', (t) => {
  const pic = new Pic8259();
  pic.write(PicReg.COMMAND, 1, Icw1.INIT | Icw1.SNGL | Icw1.LTIM);
  pic.write(PicReg.DATA, 1, 0x08);
  pic.setIrq(0, true);
  pic.setIrq(0, false);
  t.false(pic.hasPendingInterrupt());
});

test('slave interrupt cascades through IR2', (t) => {
  const pics = pair();
  pics.setIrq(10, true);
  t.true(pics.hasPendingInterrupt());
  t.is(pics.acknowledge(), 0x72);
  t.is(pics.slave.inService, 1 << 2);
  t.is(pics.master.inService, 1 << 2);
});

test('a slave interrupt waits for EOI on both chips before the next one', (t) => {
  const pics = pair();
  pics.setIrq(12, true);
  pics.acknowledge();
  pics.setIrq(11, true);
  t.false(pics.hasPendingInterrupt(), 'master IR2 is in service');
  pics.slave.write(PicReg.COMMAND, 1, Ocw2.EOI);
  pics.master.write(PicReg.COMMAND, 1, Ocw2.EOI);
  t.true(pics.hasPendingInterrupt());
  t.is(pics.acknowledge(), 0x73);
});

test('special fully nested mode lets a higher slave level nest', (t) => {
  const pics = pair(Icw4.UPM | Icw4.SFNM);
  pics.setIrq(12, true);
  pics.acknowledge();
  pics.setIrq(9, true);
  t.true(pics.hasPendingInterrupt());
  t.is(pics.acknowledge(), 0x71);
});

test('spurious IRQ15 when the slave request vanished', (t) => {
  const pics = pair();
  pics.slave.elcr = 1 << 3; // IRQ11 level-triggered
  pics.setIrq(11, true); // the master latches the edge of the slave's output on IR2
  pics.setIrq(11, false); // the level request vanishes from the slave before INTA
  t.true(pics.hasPendingInterrupt());
  t.is(pics.acknowledge(), 0x77);
  t.is(pics.slave.inService, 0);
  t.is(pics.master.inService, 1 << 2, 'the master still acknowledged IR2');
  t.is(pics.slave.spurious, 1);
});

test('IRQ2 requests arrive as IRQ9', (t) => {
  const pics = pair();
  pics.irqLine(2).raise();
  t.is(pics.acknowledge(), 0x71);
});

test('ELCR keeps IRQ0-2 and IRQ8 and 13 edge-triggered', (t) => {
  const pics = new DualPic();
  pics.elcr.write(0, 1, 0xff);
  pics.elcr.write(1, 1, 0xff);
  t.is(pics.elcr.read(0, 1), 0xf8);
  t.is(pics.elcr.read(1, 1), 0xde);
});

test('onInterruptChange reports INTR rising and falling', (t) => {
  const pics = pair();
  const seen: boolean[] = [];
  pics.onInterruptChange = (level) => seen.push(level);
  pics.setIrq(1, true);
  t.deepEqual(seen, [true]);
  pics.setIrq(14, true);
  t.deepEqual(seen, [true], 'already up');
  pics.acknowledge();
  t.deepEqual(seen, [true, false], 'IRQ14 waits behind IRQ1 in service');
  pics.master.write(PicReg.COMMAND, 1, Ocw2.EOI);
  t.deepEqual(seen, [true, false, true]);
});

test('register accesses wider than a byte act on the low byte', (t) => {
  const pic = single();
  pic.write(PicReg.DATA, 2, 0x1234);
  t.is(pic.read(PicReg.DATA, 2), 0x34);
});

// ---- behaviour the first mutation run found unchecked (8259A datasheet, order no. 231468) ----

test('rotate in automatic EOI mode: each served level becomes the lowest; the clear command stops it', (t) => {
  const pic = single(Icw4.UPM | Icw4.AEOI);
  pic.write(PicReg.COMMAND, 1, 0x80); // OCW2 R SL EOI = 100: rotate in AEOI mode (set)
  pic.setIrq(1, true);
  t.is(pic.acknowledge(), 0x21);
  pic.setIrq(0, true);
  pic.setIrq(3, true);
  t.is(pic.acknowledge(), 0x23, 'IR1 served: IR2 is highest now, then IR3 … IR0');
  t.is(pic.acknowledge(), 0x20);
  pic.write(PicReg.COMMAND, 1, 0x00); // 000: rotate in AEOI mode (clear)
  pic.setIrq(6, true);
  pic.setIrq(7, true);
  pic.setIrq(5, false);
  pic.setIrq(5, true);
  t.is(pic.acknowledge(), 0x25, 'IR0 served last made IR1 highest; no further rotation');
  t.is(pic.acknowledge(), 0x26);
});

test('rotate on specific EOI clears the named level and makes it the lowest', (t) => {
  const pic = single();
  pic.setIrq(4, true);
  pic.acknowledge();
  pic.write(PicReg.COMMAND, 1, 0xe0 | 4); // 111: rotate on specific EOI, level 4
  t.is(pic.inService, 0);
  t.is(pic.eois, 1);
  pic.setIrq(0, true);
  pic.setIrq(5, true);
  t.is(pic.acknowledge(), 0x25, 'IR5 has the highest priority after IR4 became the lowest');
});

test('an EOI with nothing in service changes nothing and is not counted', (t) => {
  const pic = single();
  for (const cmd of [Ocw2.EOI, Ocw2.ROTATE_EOI, Ocw2.SPECIFIC_EOI | 3, 0xe0 | 3]) pic.write(PicReg.COMMAND, 1, cmd);
  t.is(pic.eois, 0);
  pic.setIrq(0, true);
  pic.setIrq(3, true);
  // Rotate-on-EOI with an empty ISR does not rotate; a rotate on specific EOI does (level 3 lowest).
  t.is(pic.acknowledge(), 0x20);
});

test('OCW2 with R SL EOI = 010 is a no-operation', (t) => {
  const pic = single();
  pic.setIrq(3, true);
  pic.acknowledge();
  pic.write(PicReg.COMMAND, 1, 0x40 | 3);
  t.is(pic.inService, 1 << 3);
  pic.setIrq(0, true);
  pic.setIrq(4, true);
  t.is(pic.acknowledge(), 0x20, 'no rotation either');
});

test('ICW1 resets rotation, special mask mode, the IRR/ISR selection, auto-EOI and special fully nested mode', (t) => {
  const pic = single(Icw4.UPM | Icw4.AEOI | Icw4.SFNM);
  pic.write(PicReg.COMMAND, 1, Ocw2.SET_PRIORITY | 2);
  pic.write(PicReg.COMMAND, 1, Ocw3.SELECT | Ocw3.ESMM | Ocw3.SMM);
  pic.write(PicReg.COMMAND, 1, Ocw3.SELECT | Ocw3.RR | Ocw3.RIS);
  pic.write(PicReg.COMMAND, 1, 0x80); // rotate in AEOI
  // Re-initialize without ICW4: every ICW4 function is zero.
  pic.write(PicReg.COMMAND, 1, Icw1.INIT | Icw1.SNGL);
  pic.write(PicReg.DATA, 1, 0x20);
  pic.setIrq(7, true);
  pic.setIrq(1, true);
  t.is(pic.read(PicReg.COMMAND, 1), (1 << 7) | (1 << 1), 'reads IRR again');
  t.is(pic.acknowledge(), 0x21, 'IR0 highest again');
  t.is(pic.inService, 1 << 1, 'no auto-EOI');
  pic.write(PicReg.DATA, 1, 1 << 1); // mask the level in service: without special mask mode it still blocks
  t.false(pic.hasPendingInterrupt());
});

test('ICW1 with LTIM requests a line that is high at once; without LTIM a high line needs a new edge', (t) => {
  const pic = single();
  pic.setIrq(4, true);
  pic.acknowledge();
  pic.write(PicReg.COMMAND, 1, Icw1.INIT | Icw1.SNGL | Icw1.LTIM);
  pic.write(PicReg.DATA, 1, 0x20);
  t.is(pic.requests, 1 << 4, 'level-triggered: the high input is a request');
  pic.write(PicReg.COMMAND, 1, Icw1.INIT | Icw1.SNGL);
  pic.write(PicReg.DATA, 1, 0x20);
  t.is(pic.requests, 0, 'edge-triggered: the input must fall and rise again');
});

test('making a high input level-triggered through the ELCR requests it; making it edge-triggered again keeps IRR', (t) => {
  const pics = pair();
  pics.setIrq(5, true);
  pics.acknowledge();
  pics.master.write(PicReg.COMMAND, 1, Ocw2.EOI);
  t.false(pics.hasPendingInterrupt(), 'edge: served once');
  pics.elcr.write(0, 1, 1 << 5);
  t.true(pics.hasPendingInterrupt(), 'level and still high: requested');
  t.is(pics.acknowledge(), 0x25);
  pics.setIrq(5, false);
  t.is(pics.master.requests, 0);
});

test('the poll word can be read from either port; the mask is readable again afterwards', (t) => {
  const pic = single();
  pic.write(PicReg.DATA, 1, 0x08);
  pic.setIrq(6, true);
  pic.write(PicReg.COMMAND, 1, Ocw3.SELECT | Ocw3.POLL);
  t.is(pic.read(PicReg.DATA, 1), 0x80 | 6);
  t.is(pic.acknowledged, 1);
  t.is(pic.read(PicReg.DATA, 1), 0x08);
});

test('offsets beyond the two ports read 0xff and ignore writes', (t) => {
  const pic = single();
  pic.write(2, 1, 0xff);
  t.is(pic.mask, 0);
  t.is(pic.read(2, 1), 0xff);
  t.is(new DualPic().elcr.read(2, 1), 0xff);
});

test('special fully nested mode applies to the cascade input only', (t) => {
  // A single chip with SFNM (no cascade): an in-service level still blocks itself.
  for (const line of [0, 1, 2]) {
    const pic = single(Icw4.UPM | Icw4.SFNM);
    pic.setIrq(line, true);
    pic.acknowledge();
    pic.setIrq(line, false);
    pic.setIrq(line, true);
    t.false(pic.hasPendingInterrupt(), `IR${line}`);
  }
});

test('counters: acknowledged, spurious and eois count what the CPU and the guest did', (t) => {
  const pics = pair();
  pics.setIrq(3, true);
  pics.acknowledge();
  t.is(pics.master.acknowledged, 1);
  t.is(pics.acknowledge(), 0x27);
  t.is(pics.master.spurious, 1);
  pics.master.write(PicReg.COMMAND, 1, Ocw2.SPECIFIC_EOI | 3);
  pics.master.write(PicReg.COMMAND, 1, Ocw2.SPECIFIC_EOI | 3);
  t.is(pics.master.eois, 1, 'the second specific EOI cleared nothing');
});

test('a device line from irqLine is the same object each time and lowers what it raised (level-triggered)', (t) => {
  const pics = pair();
  pics.elcr.write(1, 1, 1 << 3); // IRQ11 level
  const line = pics.irqLine(11);
  t.is(pics.irqLine(11), line);
  line.raise();
  t.true(pics.hasPendingInterrupt());
  line.lower();
  t.false(pics.slave.hasPendingInterrupt(), 'the slave withdrew the level request');
  t.is(pics.slave.requests, 0);
});

test('before any ICW: vector base 0, edge-triggered, no auto-EOI, IRR on the command port, no poll, no special mask', (t) => {
  const pic = new Pic8259();
  const seen: boolean[] = [];
  pic.onInterruptChange = (level) => seen.push(level);
  pic.setIrq(0, true);
  t.deepEqual(seen, [true], 'INT rises with the first request');
  t.is(pic.acknowledge(), 0);
  t.is(pic.inService, 1);
  pic.setIrq(5, true);
  t.is(pic.read(PicReg.COMMAND, 1), 1 << 5, 'IRR, not ISR nor a poll word');
  pic.setIrq(6, true);
  pic.setIrq(6, false);
  t.is(pic.requests, (1 << 5) | (1 << 6), 'a pulse is latched: edge-triggered');
  pic.write(PicReg.DATA, 1, 0x01); // mask the level in service
  t.false(pic.hasPendingInterrupt(), 'without special mask mode IR0 in service still blocks');
});

test('IR0 is served like any level: acknowledge, poll, and INT (IRQ0 and IRQ8 on the PC pair)', (t) => {
  const pic = single();
  pic.setIrq(0, true);
  t.true(pic.hasPendingInterrupt());
  t.is(pic.acknowledge(), 0x20);
  const polled = single();
  polled.setIrq(0, true);
  polled.write(PicReg.COMMAND, 1, Ocw3.SELECT | Ocw3.POLL);
  t.is(polled.read(PicReg.COMMAND, 1), 0x80);
  const pics = pair();
  pics.irqLine(0).raise();
  t.is(pics.acknowledge(), 0x20, 'IRQ0');
  pics.master.write(PicReg.COMMAND, 1, Ocw2.EOI);
  pics.irqLine(8).raise();
  t.is(pics.acknowledge(), 0x70, 'IRQ8: the slave\'s IR0');
});

test('non-specific EOI clears the highest-priority level in service under rotated priorities', (t) => {
  const pic = single();
  pic.write(PicReg.COMMAND, 1, Ocw2.SET_PRIORITY | 4); // IR5 highest … IR4 lowest
  pic.setIrq(2, true);
  t.is(pic.acknowledge(), 0x22);
  pic.setIrq(6, true);
  t.is(pic.acknowledge(), 0x26, 'IR6 outranks IR2 now: it nests');
  pic.write(PicReg.COMMAND, 1, Ocw2.EOI);
  t.is(pic.inService, 1 << 2, 'IR6 was the highest in service');
});

test('a specific EOI does not rotate priorities', (t) => {
  const pic = single();
  pic.setIrq(3, true);
  pic.acknowledge();
  pic.write(PicReg.COMMAND, 1, Ocw2.SPECIFIC_EOI | 3);
  pic.setIrq(0, true);
  pic.setIrq(4, true);
  t.is(pic.acknowledge(), 0x20, 'IR0 is still the highest');
});

test('OCW3 changes the register selection only with RR and special mask mode only with ESMM', (t) => {
  const pic = single();
  pic.setIrq(2, true);
  pic.acknowledge();
  t.is(readIsr(pic), 1 << 2);
  pic.write(PicReg.COMMAND, 1, Ocw3.SELECT | Ocw3.ESMM | Ocw3.SMM); // no RR: the selection stays
  t.is(pic.read(PicReg.COMMAND, 1), 1 << 2, 'still ISR');
  pic.write(PicReg.DATA, 1, 1 << 2);
  pic.setIrq(5, true);
  t.true(pic.hasPendingInterrupt(), 'special mask mode on');
  pic.write(PicReg.COMMAND, 1, Ocw3.SELECT | Ocw3.RR); // no ESMM: special mask mode stays
  t.true(pic.hasPendingInterrupt());
  t.is(pic.read(PicReg.COMMAND, 1), 1 << 5, 'IRR now');
});

test('writing the ELCR keeps the pending edge requests of edge-triggered lines', (t) => {
  const pics = pair();
  pics.master.write(PicReg.DATA, 1, 0xff); // hold everything in IRR
  pics.setIrq(3, true);
  pics.setIrq(3, false);
  pics.elcr.write(0, 1, 1 << 5);
  t.is(pics.master.requests, 1 << 3);
  t.notThrows(() => pics.elcr.write(2, 1, 0xff), 'an undecoded ELCR offset is ignored');
});
