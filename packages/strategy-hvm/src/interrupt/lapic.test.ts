import test from 'ava';
import { ManualClock as FakeClock } from '@hyvisor/core/testing';
import { Lapic } from './lapic.js';

// Register offsets and bits from the Intel SDM vol. 3A, chapter 11: Table 11-1 (local APIC
// register address map), Figure 11-7 (version register), Figure 11-8 (LVT), Figure 11-9 (ESR),
// Figure 11-12 (ICR), Figure 11-23 (SVR). Literals on purpose, not imported from the model: a
// wrong constant in the model must make these tests fail.
const LapicReg = {
  ID: 0x020,
  VERSION: 0x030,
  TPR: 0x080,
  PPR: 0x0a0,
  EOI: 0x0b0,
  LDR: 0x0d0,
  DFR: 0x0e0,
  SVR: 0x0f0,
  ISR: 0x100,
  TMR: 0x180,
  IRR: 0x200,
  ESR: 0x280,
  ICR_LOW: 0x300,
  ICR_HIGH: 0x310,
  LVT_TIMER: 0x320,
  LVT_LINT0: 0x350,
  LVT_LINT1: 0x360,
  LVT_ERROR: 0x370,
  TIMER_INITIAL_COUNT: 0x380,
  TIMER_CURRENT_COUNT: 0x390,
  TIMER_DIVIDE: 0x3e0,
} as const;
/** LVT bit 16: mask. */
const Lvt = { MASKED: 0x1_0000 } as const;
/** Delivery mode field values (LVT and ICR bits 8-10): 101 INIT, 111 ExtINT. */
const DeliveryMode = { INIT: 5, EXTINT: 7 } as const;
/** LVT timer bits 17-18: 00 one-shot, 01 periodic, 10 TSC-deadline. */
const TimerMode = { PERIODIC: 1, TSC_DEADLINE: 2 } as const;
/** SVR bit 8: APIC software enable. */
const Svr = { ENABLE: 0x100 } as const;
/** ESR bits 5, 6, 7: send illegal vector, receive illegal vector, illegal register address. */
const Esr = { SEND_ILLEGAL_VECTOR: 0x20, RECEIVE_ILLEGAL_VECTOR: 0x40, ILLEGAL_REGISTER: 0x80 } as const;
/** ICR bit 11 destination mode (1 logical), bit 12 delivery status, bit 14 level (1 assert). */
const Icr = { LOGICAL: 0x800, PENDING: 0x1000, LEVEL_ASSERT: 0x4000 } as const;
/** ICR bits 18-19: 01 self, 11 all excluding self. */
const IcrShorthand = { SELF: 1, ALL_EXCLUDING_SELF: 3 } as const;

function setup(options: ConstructorParameters<typeof Lapic>[1] = {}) {
  const clock = new FakeClock(1_000_000);
  const apic = new Lapic(clock, { busHz: 100_000_000, ...options }); // 10 ns per count
  const r = (reg: number) => apic.read(reg, 4);
  const w = (reg: number, v: number) => apic.write(reg, 4, v);
  return { clock, apic, r, w };
}

/** An APIC software-enabled with spurious vector 0xff. */
function enabled(options: ConstructorParameters<typeof Lapic>[1] = {}) {
  const s = setup(options);
  s.w(LapicReg.SVR, Svr.ENABLE | 0xff);
  return s;
}

test('version register reports version 0x14 with six LVT entries', (t) => {
  const { r } = setup();
  // Bits 0-7 version: 1xH for an integrated APIC (0x14 as on the Pentium 4 and Xeon, and as KVM
  // reports); bits 16-23 max LVT entry = entries - 1 = 5; bit 24 (EOI-broadcast suppression) 0.
  t.is(r(LapicReg.VERSION), 0x0005_0014);
});

test('ID holds the APIC ID in bits 24-31', (t) => {
  const { r } = setup({ apicId: 3 });
  t.is(r(LapicReg.ID), 3 << 24);
});

test('reset: SVR 0xff, DFR all ones, LVTs masked except LINT0 in ExtINT', (t) => {
  const { r } = setup();
  t.is(r(LapicReg.SVR), 0xff);
  t.is(r(LapicReg.DFR), 0xffffffff);
  t.is(r(LapicReg.LVT_TIMER), Lvt.MASKED);
  t.is(r(LapicReg.LVT_LINT0), DeliveryMode.EXTINT << 8);
  t.is(r(LapicReg.LVT_LINT1), Lvt.MASKED);
  t.is(r(LapicReg.LVT_ERROR), Lvt.MASKED);
});

test('a software-disabled APIC refuses interrupts', (t) => {
  const { apic } = setup();
  t.false(apic.acceptInterrupt(0x40));
  t.false(apic.hasPendingInterrupt());
  t.is(apic.dropped, 1);
});

test('an accepted interrupt shows in IRR', (t) => {
  const { apic, r } = enabled();
  apic.acceptInterrupt(0x41);
  t.is(r(LapicReg.IRR + 0x20), 1 << 1, 'vector 0x41 is bit 1 of IRR word 2');
  t.true(apic.hasPendingInterrupt());
});

test('acknowledge moves the vector from IRR to ISR', (t) => {
  const { apic, r } = enabled();
  apic.acceptInterrupt(0x41);
  t.is(apic.acknowledge(), 0x41);
  t.is(r(LapicReg.IRR + 0x20), 0);
  t.is(r(LapicReg.ISR + 0x20), 1 << 1);
  t.false(apic.hasPendingInterrupt());
});

test('the highest vector is delivered first', (t) => {
  const { apic } = enabled();
  apic.acceptInterrupt(0x31);
  apic.acceptInterrupt(0x62);
  apic.acceptInterrupt(0x45);
  t.is(apic.acknowledge(), 0x62);
});

test('EOI to the APIC clears ISR', (t) => {
  const { apic, r, w } = enabled();
  apic.acceptInterrupt(0x30);
  apic.acknowledge();
  apic.acceptInterrupt(0x50);
  apic.acknowledge();
  w(LapicReg.EOI, 0);
  t.is(r(LapicReg.ISR + 0x20), 0, 'the highest (0x50) went first');
  t.is(r(LapicReg.ISR + 0x10), 1 << 16);
  w(LapicReg.EOI, 0);
  t.is(r(LapicReg.ISR + 0x10), 0);
  t.is(apic.eois, 2);
});

test('TPR blocks lower-priority vectors', (t) => {
  const { apic, r, w } = enabled();
  w(LapicReg.TPR, 0x50);
  apic.acceptInterrupt(0x55);
  t.false(apic.hasPendingInterrupt(), 'same class as TPR is blocked');
  apic.acceptInterrupt(0x61);
  t.true(apic.hasPendingInterrupt());
  t.is(apic.acknowledge(), 0x61);
  w(LapicReg.EOI, 0);
  w(LapicReg.TPR, 0);
  t.is(apic.acknowledge(), 0x55);
  t.is(r(LapicReg.TPR), 0);
});

test('PPR is the higher of TPR and the in-service class', (t) => {
  const { apic, r, w } = enabled();
  w(LapicReg.TPR, 0x23);
  t.is(r(LapicReg.PPR), 0x23);
  apic.acceptInterrupt(0x71);
  apic.acknowledge();
  t.is(r(LapicReg.PPR), 0x70);
});

test('a vector in the class of the one in service waits for EOI', (t) => {
  const { apic, w } = enabled();
  apic.acceptInterrupt(0x40);
  apic.acknowledge();
  apic.acceptInterrupt(0x4f);
  t.false(apic.hasPendingInterrupt());
  w(LapicReg.EOI, 0);
  t.true(apic.hasPendingInterrupt());
});

test('acknowledge with nothing deliverable returns the spurious vector', (t) => {
  const { apic, w } = enabled();
  w(LapicReg.SVR, Svr.ENABLE | 0xef);
  t.is(apic.acknowledge(), 0xef);
  t.is(apic.spurious, 1);
});

test('vectors 0-15 are refused and set the receive-illegal-vector error', (t) => {
  const { apic, r, w } = enabled();
  t.false(apic.acceptInterrupt(0x0e));
  t.is(r(LapicReg.ESR), 0, 'ESR shows errors only after a write');
  w(LapicReg.ESR, 0);
  t.is(r(LapicReg.ESR), Esr.RECEIVE_ILLEGAL_VECTOR);
  w(LapicReg.ESR, 0);
  t.is(r(LapicReg.ESR), 0);
});

test('an error raises the error LVT vector when unmasked', (t) => {
  const { apic, w } = enabled();
  w(LapicReg.LVT_ERROR, 0xfe);
  apic.acceptInterrupt(3);
  t.is(apic.acknowledge(), 0xfe);
});

test('a fixed self-IPI through ICR sets IRR', (t) => {
  const { apic, r, w } = enabled();
  w(LapicReg.ICR_LOW, (IcrShorthand.SELF << 18) | 0x99);
  t.is(apic.acknowledge(), 0x99);
  t.is(apic.selfIpis, 1);
  t.is(r(LapicReg.ICR_LOW) & Icr.PENDING, 0, 'delivery status idle');
});

test('a fixed IPI to our own physical ID is delivered', (t) => {
  const { apic, w } = enabled({ apicId: 2 });
  w(LapicReg.ICR_HIGH, 2 << 24);
  w(LapicReg.ICR_LOW, 0x44);
  t.is(apic.acknowledge(), 0x44);
  t.is(apic.otherIpis, 0);
});

test('IPIs to other APICs are recorded, not delivered', (t) => {
  const { apic, w } = enabled();
  const seen: [number, number][] = [];
  apic.onIpi = (low, high) => seen.push([low, high]);
  w(LapicReg.ICR_HIGH, 1 << 24);
  w(LapicReg.ICR_LOW, (DeliveryMode.INIT << 8) | Icr.LEVEL_ASSERT);
  w(LapicReg.ICR_LOW, (IcrShorthand.ALL_EXCLUDING_SELF << 18) | 0x50);
  t.false(apic.hasPendingInterrupt());
  t.is(apic.otherIpis, 2);
  t.deepEqual(seen[0], [(DeliveryMode.INIT << 8) | Icr.LEVEL_ASSERT, 1 << 24]);
});

test('an IPI with an illegal vector sets the send-illegal-vector error', (t) => {
  const { r, w } = enabled();
  w(LapicReg.ICR_LOW, (IcrShorthand.SELF << 18) | 0x05);
  w(LapicReg.ESR, 0);
  t.is(r(LapicReg.ESR), Esr.SEND_ILLEGAL_VECTOR);
});

test('a logical IPI matching the flat-model LDR is delivered', (t) => {
  const { apic, w } = enabled();
  w(LapicReg.LDR, 0x04 << 24);
  w(LapicReg.ICR_HIGH, 0x0c << 24);
  w(LapicReg.ICR_LOW, Icr.LOGICAL | 0x66);
  t.is(apic.acknowledge(), 0x66);
});

test('software disable masks every LVT and keeps them masked', (t) => {
  const { r, w } = enabled();
  w(LapicReg.LVT_TIMER, 0x30);
  w(LapicReg.SVR, 0xff);
  t.is(r(LapicReg.LVT_TIMER), Lvt.MASKED | 0x30);
  w(LapicReg.LVT_TIMER, 0x31);
  t.is(r(LapicReg.LVT_TIMER), Lvt.MASKED | 0x31);
});

test('DFR keeps its low 28 bits set', (t) => {
  const { r, w } = setup();
  w(LapicReg.DFR, 0);
  t.is(r(LapicReg.DFR), 0x0fffffff);
});

test('narrow reads return bytes of the register; narrow writes are ignored', (t) => {
  const { apic, r } = setup({ apicId: 0xab });
  t.is(apic.read(LapicReg.ID + 3, 1), 0xab);
  t.is(apic.read(LapicReg.ID + 4, 4), 0, 'the rest of the 16-byte slot');
  apic.write(LapicReg.TPR, 1, 0x20);
  t.is(r(LapicReg.TPR), 0);
  t.is(apic.ignoredWrites, 1);
});

test('a reserved register sets the illegal-register error', (t) => {
  const { r, w } = enabled();
  r(0x2f0);
  w(LapicReg.ESR, 0);
  t.is(r(LapicReg.ESR), Esr.ILLEGAL_REGISTER);
});

test('a level-triggered vector reports its EOI', (t) => {
  const { apic, r, w } = enabled();
  const eois: number[] = [];
  apic.onLevelEoi = (v) => eois.push(v);
  apic.acceptInterrupt(0x38, true);
  t.is(r(LapicReg.TMR + 0x10), 1 << 24);
  apic.acknowledge();
  w(LapicReg.EOI, 0);
  t.deepEqual(eois, [0x38]);
});

test('onInterruptChange follows the pending state', (t) => {
  const { apic, w } = enabled();
  const seen: boolean[] = [];
  apic.onInterruptChange = (level) => seen.push(level);
  apic.acceptInterrupt(0x40);
  w(LapicReg.TPR, 0xf0);
  w(LapicReg.TPR, 0);
  apic.acknowledge();
  t.deepEqual(seen, [true, false, true, false]);
});

// ---- timer ----

test('divide configuration encodes 1 to 128', (t) => {
  const { apic, w } = setup();
  const cases: [number, number][] = [[0x0, 2], [0x1, 4], [0x2, 8], [0x3, 16], [0x8, 32], [0x9, 64], [0xa, 128], [0xb, 1]];
  for (const [code, divisor] of cases) {
    w(LapicReg.TIMER_DIVIDE, code);
    t.is(apic.timerDivisor, divisor, `code ${code}`);
  }
});

test('APIC one-shot timer fires once at initial count × divide / bus clock', (t) => {
  const { clock, apic, r, w } = enabled();
  w(LapicReg.TIMER_DIVIDE, 0x1); // ÷4: 40 ns per count
  w(LapicReg.LVT_TIMER, 0x40);
  w(LapicReg.TIMER_INITIAL_COUNT, 1000); // 40 µs
  clock.advance(39_999);
  t.false(apic.hasPendingInterrupt());
  clock.advance(1);
  t.true(apic.hasPendingInterrupt());
  t.is(apic.acknowledge(), 0x40);
  clock.advance(1_000_000);
  t.false(apic.hasPendingInterrupt(), 'one shot only');
  t.is(r(LapicReg.TIMER_CURRENT_COUNT), 0);
  t.is(apic.timerTicks, 1);
});

test('APIC periodic timer fires at initial-count × divide / bus clock', (t) => {
  const { clock, apic, w } = enabled();
  w(LapicReg.TIMER_DIVIDE, 0xb); // ÷1: 10 ns per count
  w(LapicReg.LVT_TIMER, (TimerMode.PERIODIC << 17) | 0x41);
  w(LapicReg.TIMER_INITIAL_COUNT, 100_000); // 1 ms
  const fired: number[] = [];
  apic.onInterruptChange = (level) => {
    if (level) {
      fired.push(clock.time);
      apic.acknowledge();
      w(LapicReg.EOI, 0);
    }
  };
  clock.advance(3_500_000);
  t.deepEqual(fired, [2_000_000, 3_000_000, 4_000_000]);
  t.is(apic.timerLostTicks, 0);
});

test('the current count is derived from the clock', (t) => {
  const { clock, r, w } = enabled();
  w(LapicReg.TIMER_DIVIDE, 0xb);
  w(LapicReg.LVT_TIMER, (TimerMode.PERIODIC << 17) | 0x41);
  w(LapicReg.TIMER_INITIAL_COUNT, 1000); // 10 µs
  t.is(r(LapicReg.TIMER_CURRENT_COUNT), 1000);
  clock.advance(2_500);
  t.is(r(LapicReg.TIMER_CURRENT_COUNT), 750);
  clock.advance(10_000);
  t.is(r(LapicReg.TIMER_CURRENT_COUNT), 750, 'periodic: reloaded each period');
});

test('a masked timer counts but does not interrupt', (t) => {
  const { clock, apic, r, w } = enabled();
  w(LapicReg.LVT_TIMER, Lvt.MASKED | 0x40);
  w(LapicReg.TIMER_INITIAL_COUNT, 500);
  clock.advance(2_000);
  t.true(r(LapicReg.TIMER_CURRENT_COUNT) < 500);
  clock.advance(1_000_000);
  t.false(apic.hasPendingInterrupt());
});

test('writing initial count 0 stops the timer', (t) => {
  const { clock, apic, r, w } = enabled();
  w(LapicReg.LVT_TIMER, 0x40);
  w(LapicReg.TIMER_INITIAL_COUNT, 500);
  w(LapicReg.TIMER_INITIAL_COUNT, 0);
  clock.advance(1_000_000);
  t.false(apic.hasPendingInterrupt());
  t.is(r(LapicReg.TIMER_CURRENT_COUNT), 0);
  t.is(clock.size, 0, 'no clock event left behind');
});

test('a late periodic timer delivers one interrupt and counts the lost ticks', (t) => {
  const { clock, apic, w } = enabled({ minPeriodNs: 0 });
  w(LapicReg.TIMER_DIVIDE, 0xb);
  w(LapicReg.LVT_TIMER, (TimerMode.PERIODIC << 17) | 0x41);
  w(LapicReg.TIMER_INITIAL_COUNT, 100_000); // 1 ms
  clock.stallUntil(clock.time + 5_500_000);
  t.is(apic.timerTicks, 1);
  t.is(apic.timerLostTicks, 4);
  t.is(apic.acknowledge(), 0x41);
  w(LapicReg.EOI, 0);
  clock.advance(499_999);
  t.false(apic.hasPendingInterrupt(), 'the next expiry keeps the phase: 6 ms after the start');
  clock.advance(1);
  t.true(apic.hasPendingInterrupt());
});

test('a period below the minimum is rate-limited and the rest counted as lost', (t) => {
  const { clock, apic, w } = enabled({ minPeriodNs: 100_000 });
  w(LapicReg.TIMER_DIVIDE, 0xb);
  w(LapicReg.LVT_TIMER, (TimerMode.PERIODIC << 17) | 0x41);
  w(LapicReg.TIMER_INITIAL_COUNT, 1000); // 10 µs
  clock.advance(1_010_000); // edges at 10 µs, then every 100 µs: 10, 110, …, 1010 µs
  t.is(apic.timerTicks, 11);
  t.is(apic.timerTicks + apic.timerLostTicks, 101, 'every 10 µs period is accounted for');
});

test('TSC-deadline mode disarms the timer', (t) => {
  const { clock, apic, r, w } = enabled();
  w(LapicReg.LVT_TIMER, 0x40);
  w(LapicReg.TIMER_INITIAL_COUNT, 500);
  w(LapicReg.LVT_TIMER, (TimerMode.TSC_DEADLINE << 17) | 0x40);
  w(LapicReg.TIMER_INITIAL_COUNT, 500);
  clock.advance(1_000_000);
  t.false(apic.hasPendingInterrupt());
  t.is(r(LapicReg.TIMER_INITIAL_COUNT), 0);
});

test('changing the divider keeps the count and changes the rate', (t) => {
  const { clock, apic, r, w } = enabled();
  w(LapicReg.TIMER_DIVIDE, 0xb); // 10 ns per count
  w(LapicReg.LVT_TIMER, 0x40);
  w(LapicReg.TIMER_INITIAL_COUNT, 1000);
  clock.advance(5_000);
  w(LapicReg.TIMER_DIVIDE, 0x0); // ÷2: 20 ns per count
  t.is(r(LapicReg.TIMER_CURRENT_COUNT), 500);
  clock.advance(9_999);
  t.false(apic.hasPendingInterrupt());
  clock.advance(1);
  t.true(apic.hasPendingInterrupt());
});

test('the periodic timer keeps its rate at a large host time', (t) => {
  const clock = new FakeClock(3e15);
  const apic = new Lapic(clock, { busHz: 3_000_000_000, minPeriodNs: 0 }); // a third of a ns per count
  apic.write(LapicReg.SVR, 4, Svr.ENABLE | 0xff);
  apic.write(LapicReg.TIMER_DIVIDE, 4, 0xb);
  apic.write(LapicReg.LVT_TIMER, 4, Lvt.MASKED | (TimerMode.PERIODIC << 17) | 0x40);
  apic.write(LapicReg.TIMER_INITIAL_COUNT, 4, 1000); // 333.3 ns
  clock.advance(1_000_000);
  t.is(apic.timerTicks + apic.timerLostTicks, 3000);
});

// ---- behaviour the mutation run found unchecked (Intel SDM vol. 3A ch. 11) ----

test('writable bits of each LVT entry (Figure 11-8): delivery status and remote IRR read 0', (t) => {
  const { r, w } = enabled();
  // timer: vector, mask, timer mode (17-18); thermal, performance: vector, delivery mode, mask;
  // LINT0/1: vector, delivery mode, pin polarity (13), trigger mode (15), mask; error: vector, mask.
  const want: [number, number][] = [[0x320, 0x000700ff], [0x330, 0x000107ff], [0x340, 0x000107ff], [0x350, 0x0001a7ff], [0x360, 0x0001a7ff], [0x370, 0x000100ff]];
  for (const [reg, bits] of want) {
    w(reg, 0xffffffff);
    t.is(r(reg) >>> 0, bits, `LVT 0x${reg.toString(16)}`);
  }
});

test('writable bits of ID, LDR, TPR, SVR, ICR and the divide configuration', (t) => {
  const { r, w } = enabled();
  w(LapicReg.ID, 0xffffffff);
  t.is(r(LapicReg.ID) >>> 0, 0xff000000, 'ID: bits 24-31');
  w(LapicReg.LDR, 0xffffffff);
  t.is(r(LapicReg.LDR) >>> 0, 0xff000000, 'LDR: logical ID in bits 24-31');
  w(LapicReg.TPR, 0xffffffff);
  t.is(r(LapicReg.TPR), 0xff, 'TPR: bits 0-7');
  w(LapicReg.TPR, 0);
  w(LapicReg.SVR, 0xffffffff);
  t.is(r(LapicReg.SVR), 0x3ff, 'SVR: vector, enable, focus (no EOI-broadcast suppression: version bit 24 is 0)');
  w(LapicReg.ICR_HIGH, 0xffffffff);
  t.is(r(LapicReg.ICR_HIGH) >>> 0, 0xff000000, 'ICR high: destination in bits 24-31');
  w(LapicReg.ICR_LOW, 0xffffffff);
  t.is(r(LapicReg.ICR_LOW), 0x000ccfff, 'ICR low: vector, mode, dest mode, level, trigger, shorthand; delivery status 0');
  w(LapicReg.TIMER_DIVIDE, 0xffffffff);
  t.is(r(LapicReg.TIMER_DIVIDE), 0xb, 'divide configuration: bits 0, 1, 3');
});

test('read-only registers ignore writes; APR, EOI and RRD read 0', (t) => {
  const { apic, r, w } = enabled();
  apic.acceptInterrupt(0x80);
  apic.acknowledge();
  apic.acceptInterrupt(0x90);
  for (const reg of [0x030, 0x0a0, 0x390, 0x100 + 0x40, 0x180, 0x200 + 0x40]) w(reg, 0xffffffff);
  t.is(r(0x030), 0x00050014, 'version');
  t.is(r(0x0a0), 0x80, 'PPR');
  t.is(r(0x100 + 0x40), 1 << 0, 'ISR');
  t.is(r(0x200 + 0x40), 1 << 16, 'IRR');
  for (const reg of [0x090, 0x0b0, 0x0c0]) t.is(r(reg), 0, `0x${reg.toString(16)}`);
  w(LapicReg.ESR, 0);
  t.is(r(LapicReg.ESR), 0, 'no illegal-register error for these');
});

test('ESR: an error shows after the next ESR write, and a second write clears it', (t) => {
  const { apic, r, w } = enabled();
  apic.acceptInterrupt(0x01);
  w(LapicReg.ESR, 0);
  apic.acceptInterrupt(0x02); // arrives after the write: not in the value just latched
  t.is(r(LapicReg.ESR), Esr.RECEIVE_ILLEGAL_VECTOR);
  r(0x3f0); // illegal register
  w(LapicReg.ESR, 0);
  t.is(r(LapicReg.ESR), Esr.RECEIVE_ILLEGAL_VECTOR | Esr.ILLEGAL_REGISTER);
  w(LapicReg.ESR, 0);
  t.is(r(LapicReg.ESR), 0);
});

test('the error interrupt: not when masked, never with an illegal vector, edge-triggered', (t) => {
  const masked = enabled();
  masked.w(LapicReg.LVT_ERROR, Lvt.MASKED | 0xfe);
  masked.apic.acceptInterrupt(3);
  t.false(masked.apic.hasPendingInterrupt());
  const illegal = enabled();
  illegal.w(LapicReg.LVT_ERROR, 0x0e);
  illegal.apic.acceptInterrupt(3);
  t.false(illegal.apic.hasPendingInterrupt(), 'an error vector below 16 is not delivered');
  const once = enabled();
  once.w(LapicReg.LVT_ERROR, 0xfe);
  once.apic.acceptInterrupt(3);
  t.is(once.r(LapicReg.IRR + 0x70), 1 << 30, 'vector 0xfe requested');
  t.is(once.r(LapicReg.TMR + 0x70), 0, 'the error interrupt is edge-triggered');
  t.is(once.apic.acknowledge(), 0xfe);
});

test('IPI destinations: physical broadcast, all including self, logical cluster model', (t) => {
  const bc = enabled({ apicId: 5 });
  bc.w(LapicReg.ICR_HIGH, 0xff << 24);
  bc.w(LapicReg.ICR_LOW, 0x51);
  t.is(bc.apic.acknowledge(), 0x51, 'destination 0xff reaches every APIC, this one too');
  t.is(bc.apic.otherIpis, 1, 'and the others');

  const all = enabled();
  const seen: number[] = [];
  all.apic.onIpi = (low) => seen.push(low);
  all.w(LapicReg.ICR_LOW, (2 << 18) | 0x52); // all including self
  t.is(all.apic.acknowledge(), 0x52);
  t.deepEqual(seen, [(2 << 18) | 0x52]);

  const cluster = enabled();
  cluster.w(LapicReg.DFR, 0x0fffffff); // cluster model
  cluster.w(LapicReg.LDR, 0x21 << 24); // cluster 2, member bit 0
  for (const [dest, hit] of [[0x21, true], [0x23, true], [0x22, false], [0x31, false], [0x11, false]] as const) {
    cluster.w(LapicReg.ICR_HIGH, dest << 24);
    cluster.w(LapicReg.ICR_LOW, Icr.LOGICAL | 0x60);
    t.is(cluster.apic.hasPendingInterrupt(), hit, `logical destination 0x${dest.toString(16)}`);
    if (hit) cluster.apic.acknowledge(), cluster.w(LapicReg.EOI, 0);
  }
  const flat = enabled();
  flat.w(LapicReg.LDR, 0x04 << 24);
  flat.w(LapicReg.ICR_HIGH, 0x03 << 24);
  flat.w(LapicReg.ICR_LOW, Icr.LOGICAL | 0x61);
  t.false(flat.apic.hasPendingInterrupt(), 'flat model: no common bit, no delivery');
  t.is(flat.apic.otherIpis, 1);
});

test('a non-fixed IPI to itself is handed on, not accepted', (t) => {
  const { apic, w } = enabled();
  const seen: number[] = [];
  apic.onIpi = (low) => seen.push(low);
  w(LapicReg.ICR_LOW, (1 << 18) | (4 << 8) | 0x02); // NMI to self
  t.false(apic.hasPendingInterrupt());
  t.deepEqual(seen, [(1 << 18) | (4 << 8) | 0x02]);
  t.is(apic.selfIpis, 0);
});

test('a self-IPI with the level-trigger bit sets TMR; an edge one clears it again', (t) => {
  const { apic, r, w } = enabled();
  w(LapicReg.ICR_LOW, (1 << 18) | 0x8000 | 0x45);
  t.is(r(LapicReg.TMR + 0x20), 1 << 5);
  apic.acknowledge();
  w(LapicReg.EOI, 0);
  apic.acceptInterrupt(0x45, false);
  t.is(r(LapicReg.TMR + 0x20), 0);
});

test('a hardware-disabled APIC accepts and presents nothing and lets the 8259 through', (t) => {
  const { apic } = enabled({ lint0ExtIntAtReset: false });
  const ext: boolean[] = [];
  apic.onExtIntChange = (v) => ext.push(v);
  t.false(apic.passesExtInt(), 'LINT0 masked at reset with this option (the SDM reset value)');
  apic.acceptInterrupt(0x40);
  apic.hardwareEnabled = false;
  t.false(apic.hardwareEnabled);
  t.false(apic.hasPendingInterrupt());
  t.false(apic.acceptInterrupt(0x41));
  t.true(apic.passesExtInt());
  apic.hardwareEnabled = true;
  t.deepEqual(ext, [true, false]);
});

test('LINT0 passes the 8259 only unmasked and in ExtINT mode', (t) => {
  const { apic, w } = enabled();
  const ext: boolean[] = [];
  apic.onExtIntChange = (v) => ext.push(v);
  t.true(apic.passesExtInt());
  w(LapicReg.LVT_LINT0, Lvt.MASKED | (7 << 8));
  t.false(apic.passesExtInt());
  w(LapicReg.LVT_LINT0, 7 << 8);
  t.true(apic.passesExtInt());
  w(LapicReg.LVT_LINT0, 0x30); // fixed
  t.false(apic.passesExtInt());
  t.deepEqual(ext, [false, true, false]);
});

test('timer: a one-shot count reads 0 after expiry; a periodic count reloads; TSC-deadline mode ignores the initial count', (t) => {
  const one = enabled();
  one.w(LapicReg.TIMER_DIVIDE, 0xb); // ÷1: 10 ns per count
  one.w(LapicReg.LVT_TIMER, 0x40);
  one.w(LapicReg.TIMER_INITIAL_COUNT, 100);
  one.clock.advance(500);
  t.is(one.r(LapicReg.TIMER_CURRENT_COUNT), 50);
  one.clock.advance(600);
  t.is(one.r(LapicReg.TIMER_CURRENT_COUNT), 0);
  t.is(one.r(LapicReg.TIMER_INITIAL_COUNT), 100, 'the initial count stays');
  const per = enabled();
  per.w(LapicReg.TIMER_DIVIDE, 0xb);
  per.w(LapicReg.LVT_TIMER, (1 << 17) | 0x40);
  per.w(LapicReg.TIMER_INITIAL_COUNT, 100);
  per.clock.advance(1_030);
  t.is(per.r(LapicReg.TIMER_CURRENT_COUNT), 97);
  const dl = enabled();
  dl.w(LapicReg.LVT_TIMER, (2 << 17) | 0x40);
  dl.w(LapicReg.TIMER_INITIAL_COUNT, 100);
  t.is(dl.r(LapicReg.TIMER_INITIAL_COUNT), 0);
  t.is(dl.clock.size, 0);
});

test('vector 16 is the lowest legal vector; vectors 16-31 live in word 0 of IRR, ISR and TMR', (t) => {
  const { apic, r, w } = enabled();
  t.true(apic.acceptInterrupt(0x10));
  t.true(apic.acceptInterrupt(0x1f, true));
  t.is(r(LapicReg.IRR) >>> 0, 0x80010000);
  t.is(r(LapicReg.TMR) >>> 0, 0x80000000);
  t.is(apic.acknowledge(), 0x1f);
  t.is(r(LapicReg.ISR) >>> 0, 0x80000000);
  w(LapicReg.ESR, 0);
  t.is(r(LapicReg.ESR), 0, 'no error');
});

test('a stopped timer stays stopped when the divider changes', (t) => {
  const { clock, w } = enabled();
  w(LapicReg.LVT_TIMER, (1 << 17) | 0x40);
  w(LapicReg.TIMER_INITIAL_COUNT, 1000);
  w(LapicReg.TIMER_INITIAL_COUNT, 0);
  w(LapicReg.TIMER_DIVIDE, 0x3);
  t.is(clock.size, 0);
});

test('a one-shot after a rate-limited periodic interrupt is not delayed by the rate limit', (t) => {
  const { clock, apic, w } = enabled({ minPeriodNs: 200_000 });
  w(LapicReg.TIMER_DIVIDE, 0xb); // ÷1: 10 ns per count
  w(LapicReg.LVT_TIMER, (1 << 17) | 0x40);
  w(LapicReg.TIMER_INITIAL_COUNT, 100_000); // 1 ms period
  clock.advance(1_000_000);
  t.is(apic.acknowledge(), 0x40);
  w(LapicReg.EOI, 0);
  w(LapicReg.LVT_TIMER, 0x41); // one-shot
  w(LapicReg.TIMER_INITIAL_COUNT, 100); // 1 µs
  clock.advance(1_000);
  t.true(apic.hasPendingInterrupt(), 'fired after 1 µs, not 200 µs after the last one');
  t.is(apic.acknowledge(), 0x41);
});
