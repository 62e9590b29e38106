import test from 'ava';
import { RecordingIrqLine as RecordingIrq } from '@hyvisor/core/testing';
import { BufferSerialOutput } from './serial-io.js';
import { Uart16550 } from './uart16550.js';

// Register offsets and bits as the National Semiconductor PC16550D datasheet gives them (Table II,
// "Summary of Registers", and the IIR table "Interrupt Control Functions"). They are written here
// as literals on purpose, not imported from the model: a wrong constant in the model must make
// these tests fail, not move the expectation along with it.
const UartReg = { DATA: 0, IER: 1, IIR_FCR: 2, LCR: 3, MCR: 4, LSR: 5, MSR: 6, SCR: 7 } as const;
/** IER bits 0..3: ERBFI, ETBEI, ELSI, EDSSI. */
const Ier = { ERBFI: 0x01, ETBEI: 0x02, ELSI: 0x04, EDSSI: 0x08 } as const;
/**
 * IIR bits 0..3 by priority: 0001 none; 0110 receiver line status (1st); 0100 received data
 * available (2nd); 1100 character timeout (2nd); 0010 THR empty (3rd); 0000 modem status (4th);
 * bits 6..7 are both set when FCR0 = 1.
 */
const Iir = {
  NONE: 0x01,
  LINE_STATUS: 0x06,
  RX_DATA: 0x04,
  RX_TIMEOUT: 0x0c,
  THR_EMPTY: 0x02,
  MODEM_STATUS: 0x00,
  FIFO_ENABLED: 0xc0,
} as const;
/** FCR: bit 0 FIFO enable, bit 1 RCVR FIFO reset, bit 2 XMIT FIFO reset, bits 6..7 trigger. */
const Fcr = { ENABLE: 0x01, CLEAR_RX: 0x02, CLEAR_TX: 0x04 } as const;
/** LCR bit 7: divisor latch access. */
const Lcr = { DLAB: 0x80 } as const;
/** MCR bits 0..4: DTR, RTS, OUT1, OUT2, LOOP. */
const Mcr = { DTR: 0x01, RTS: 0x02, OUT1: 0x04, OUT2: 0x08, LOOP: 0x10 } as const;
/** LSR bits 0..6: DR, OE, PE, FE, BI, THRE, TEMT. */
const Lsr = { DR: 0x01, OE: 0x02, PE: 0x04, FE: 0x08, BI: 0x10, THRE: 0x20, TEMT: 0x40 } as const;
/** MSR bits: deltas DCTS, DDSR, TERI, DDCD in 0..3, lines CTS, DSR, RI, DCD in 4..7. */
const Msr = {
  DCTS: 0x01,
  DDSR: 0x02,
  TERI: 0x04,
  DDCD: 0x08,
  CTS: 0x10,
  DSR: 0x20,
  RI: 0x40,
  DCD: 0x80,
} as const;

/** Records every edge of the interrupt line. */
function setup() {
  const irq = new RecordingIrq();
  const out = new BufferSerialOutput();
  const uart = new Uart16550(irq, out);
  const r = (off: number) => uart.read(off, 1);
  const w = (off: number, v: number) => uart.write(off, 1, v);
  return { irq, out, uart, r, w };
}

const bytes = (s: string) => new TextEncoder().encode(s);

test('a byte written to THR goes to the output', (t) => {
  const { out, w } = setup();
  for (const b of bytes('hi\n')) w(UartReg.DATA, b);
  t.is(out.text(), 'hi\n');
});

test('DLAB switches offsets 0 and 1 to the divisor latch and back', (t) => {
  const { out, r, w } = setup();
  w(UartReg.IER, Ier.ERBFI);
  w(UartReg.LCR, Lcr.DLAB | 0x03);
  w(UartReg.DATA, 0x01);
  w(UartReg.IER, 0x02);
  t.is(r(UartReg.DATA), 0x01);
  t.is(r(UartReg.IER), 0x02);
  t.is(out.length, 0, 'a divisor write is not transmitted');
  w(UartReg.LCR, 0x03);
  t.is(r(UartReg.IER), Ier.ERBFI, 'IER kept its value under the latch');
  t.is(r(UartReg.LCR), 0x03);
});

test('the divisor latch starts at 12 (9600 baud)', (t) => {
  const { r, w } = setup();
  w(UartReg.LCR, Lcr.DLAB);
  t.is(r(UartReg.DATA), 12);
  t.is(r(UartReg.IER), 0);
});

test('LCR and SCR read back what was written', (t) => {
  const { r, w } = setup();
  w(UartReg.LCR, 0x1b);
  w(UartReg.SCR, 0xa5);
  t.is(r(UartReg.LCR), 0x1b);
  t.is(r(UartReg.SCR), 0xa5);
});

test('IER keeps only its four defined bits', (t) => {
  const { r, w } = setup();
  w(UartReg.IER, 0xff);
  t.is(r(UartReg.IER), 0x0f);
});

test('MCR keeps only its five defined bits', (t) => {
  const { r, w } = setup();
  w(UartReg.MCR, 0xff);
  t.is(r(UartReg.MCR), 0x1f);
});

test('an idle UART reports THRE and TEMT and nothing else in LSR', (t) => {
  const { r } = setup();
  t.is(r(UartReg.LSR), Lsr.THRE | Lsr.TEMT);
});

test('LSR.DR is set while received data waits and clear once it is read', (t) => {
  const { uart, r } = setup();
  uart.enqueueInput(bytes('x'));
  t.truthy(r(UartReg.LSR) & Lsr.DR);
  t.is(r(UartReg.DATA), 'x'.charCodeAt(0));
  t.falsy(r(UartReg.LSR) & Lsr.DR);
});

test('the RX FIFO hands bytes out in arrival order', (t) => {
  const { uart, r, w } = setup();
  w(UartReg.IIR_FCR, Fcr.ENABLE);
  t.is(uart.enqueueInput(bytes('abc')), 3);
  t.is(String.fromCharCode(r(0), r(0), r(0)), 'abc');
});

test('the RX FIFO holds 16 bytes in FIFO mode', (t) => {
  const { uart, w } = setup();
  w(UartReg.IIR_FCR, Fcr.ENABLE);
  t.is(uart.enqueueInput(new Uint8Array(20)), 16);
  t.is(uart.rxPending, 16);
});

test('without FIFOs the receiver holds one byte, as a 16450', (t) => {
  const { uart } = setup();
  t.is(uart.enqueueInput(bytes('ab')), 1);
});

test('a loopback byte arriving at a full FIFO sets OE and is lost, keeping the FIFO intact', (t) => {
  const { r, w } = setup();
  w(UartReg.IIR_FCR, Fcr.ENABLE);
  w(UartReg.MCR, Mcr.LOOP);
  for (let i = 0; i < 17; i++) w(UartReg.DATA, 0x40 + i);
  t.truthy(r(UartReg.LSR) & Lsr.OE);
  const got: number[] = [];
  while (r(UartReg.LSR) & Lsr.DR) got.push(r(UartReg.DATA));
  t.deepEqual(got, Array.from({ length: 16 }, (_, i) => 0x40 + i));
});

test('in 16450 mode an overrun replaces the held byte', (t) => {
  const { r, w } = setup();
  w(UartReg.MCR, Mcr.LOOP);
  w(UartReg.DATA, 0x11);
  w(UartReg.DATA, 0x22);
  t.truthy(r(UartReg.LSR) & Lsr.OE);
  t.is(r(UartReg.DATA), 0x22);
});

test('reading LSR clears the overrun bit', (t) => {
  const { r, w } = setup();
  w(UartReg.MCR, Mcr.LOOP);
  w(UartReg.DATA, 1);
  w(UartReg.DATA, 2);
  t.truthy(r(UartReg.LSR) & Lsr.OE);
  t.falsy(r(UartReg.LSR) & Lsr.OE);
});

test('reading an empty RBR repeats the last byte and does not disturb LSR', (t) => {
  const { uart, r } = setup();
  uart.enqueueInput(bytes('q'));
  r(UartReg.DATA);
  t.is(r(UartReg.DATA), 'q'.charCodeAt(0));
  t.is(r(UartReg.LSR), Lsr.THRE | Lsr.TEMT);
});

test('IIR reads "no interrupt pending" when nothing is enabled', (t) => {
  const { uart, r } = setup();
  uart.enqueueInput(bytes('a'));
  t.is(r(UartReg.IIR_FCR), Iir.NONE);
});

test('IIR bits 6 and 7 follow FCR bit 0', (t) => {
  const { r, w } = setup();
  w(UartReg.IIR_FCR, Fcr.ENABLE);
  t.is(r(UartReg.IIR_FCR), Iir.FIFO_ENABLED | Iir.NONE);
  w(UartReg.IIR_FCR, 0);
  t.is(r(UartReg.IIR_FCR), Iir.NONE);
});

test('enabling ETBEI raises a THRE interrupt', (t) => {
  const { r, w } = setup();
  w(UartReg.IER, Ier.ETBEI);
  t.is(r(UartReg.IIR_FCR), Iir.THR_EMPTY);
});

test('reading IIR acknowledges a THRE interrupt it reports', (t) => {
  const { r, w } = setup();
  w(UartReg.IER, Ier.ETBEI);
  r(UartReg.IIR_FCR);
  t.is(r(UartReg.IIR_FCR), Iir.NONE);
});

test('a THR write raises the THRE interrupt again', (t) => {
  const { r, w } = setup();
  w(UartReg.IER, Ier.ETBEI);
  r(UartReg.IIR_FCR);
  w(UartReg.DATA, 0x41);
  t.is(r(UartReg.IIR_FCR), Iir.THR_EMPTY);
});

test('re-enabling ETBEI after disabling it raises THRE again', (t) => {
  const { r, w } = setup();
  w(UartReg.IER, Ier.ETBEI);
  r(UartReg.IIR_FCR);
  w(UartReg.IER, 0);
  w(UartReg.IER, Ier.ETBEI);
  t.is(r(UartReg.IIR_FCR), Iir.THR_EMPTY);
});

test('rewriting IER with ETBEI already set does not raise THRE again', (t) => {
  const { r, w } = setup();
  w(UartReg.IER, Ier.ETBEI);
  r(UartReg.IIR_FCR);
  w(UartReg.IER, Ier.ETBEI | Ier.ERBFI);
  t.is(r(UartReg.IIR_FCR), Iir.NONE);
});

test('reading IIR does not acknowledge THRE while received data outranks it', (t) => {
  const { uart, r, w } = setup();
  w(UartReg.IER, Ier.ETBEI | Ier.ERBFI);
  uart.enqueueInput(bytes('a'));
  t.is(r(UartReg.IIR_FCR), Iir.RX_DATA);
  r(UartReg.DATA);
  t.is(r(UartReg.IIR_FCR), Iir.THR_EMPTY, 'THRE is still pending once the data is read');
});

test('receiver line status outranks received data', (t) => {
  const { r, w } = setup();
  w(UartReg.MCR, Mcr.LOOP);
  w(UartReg.IER, Ier.ELSI | Ier.ERBFI);
  w(UartReg.DATA, 1);
  w(UartReg.DATA, 2);
  t.is(r(UartReg.IIR_FCR), Iir.LINE_STATUS);
  r(UartReg.LSR);
  t.is(r(UartReg.IIR_FCR), Iir.RX_DATA);
});

test('THRE outranks modem status', (t) => {
  const { r, w } = setup();
  w(UartReg.IER, Ier.ETBEI | Ier.EDSSI);
  w(UartReg.MCR, Mcr.LOOP); // the modem lines change: a delta is pending
  t.is(r(UartReg.IIR_FCR), Iir.THR_EMPTY);
  t.is(r(UartReg.IIR_FCR), Iir.MODEM_STATUS);
  r(UartReg.MSR);
  t.is(r(UartReg.IIR_FCR), Iir.NONE);
});

test('in FIFO mode data below the trigger level reports a character timeout', (t) => {
  const { uart, r, w } = setup();
  w(UartReg.IIR_FCR, Fcr.ENABLE | 0x40); // trigger level 4
  w(UartReg.IER, Ier.ERBFI);
  uart.enqueueInput(bytes('abc'));
  t.is(r(UartReg.IIR_FCR), Iir.FIFO_ENABLED | Iir.RX_TIMEOUT);
  uart.enqueueInput(bytes('d'));
  t.is(r(UartReg.IIR_FCR), Iir.FIFO_ENABLED | Iir.RX_DATA);
});

test('the IRQ line stays low until MCR.OUT2 opens the gate', (t) => {
  const { irq, w } = setup();
  w(UartReg.IER, Ier.ETBEI);
  t.false(irq.level);
  w(UartReg.MCR, Mcr.OUT2);
  t.true(irq.level);
});

test('the IRQ line rises with received data and falls when it is read', (t) => {
  const { irq, uart, r, w } = setup();
  w(UartReg.MCR, Mcr.OUT2);
  w(UartReg.IER, Ier.ERBFI);
  t.deepEqual(irq.edges, []);
  uart.enqueueInput(bytes('k'));
  t.deepEqual(irq.edges, ['raise']);
  r(UartReg.DATA);
  t.deepEqual(irq.edges, ['raise', 'lower']);
});

test('a THRE interrupt handler cycle gives one edge per byte', (t) => {
  const { irq, r, w } = setup();
  w(UartReg.MCR, Mcr.OUT2);
  w(UartReg.IER, Ier.ETBEI);
  for (let i = 0; i < 3; i++) {
    t.is(r(UartReg.IIR_FCR), Iir.THR_EMPTY); // the handler identifies the source...
    w(UartReg.DATA, 0x30 + i); // ...and sends the next byte
  }
  t.deepEqual(irq.edges, ['raise', 'lower', 'raise', 'lower', 'raise', 'lower', 'raise']);
});

test('the IRQ line falls when the source is disabled', (t) => {
  const { irq, w } = setup();
  w(UartReg.MCR, Mcr.OUT2);
  w(UartReg.IER, Ier.ETBEI);
  w(UartReg.IER, 0);
  t.false(irq.level);
});

test('the IRQ line is not gated when OUT2 gating is turned off', (t) => {
  const irq = new RecordingIrq();
  const uart = new Uart16550(irq, new BufferSerialOutput(), { out2GatesIrq: false });
  uart.write(UartReg.IER, 1, Ier.ETBEI);
  t.true(irq.level);
});

test('loopback sends THR bytes to RBR instead of the output', (t) => {
  const { out, r, w } = setup();
  w(UartReg.MCR, Mcr.LOOP);
  w(UartReg.DATA, 0x5a);
  t.is(out.length, 0);
  t.is(r(UartReg.DATA), 0x5a);
});

test('loopback wires DTR, RTS, OUT1 and OUT2 to DSR, CTS, RI and DCD', (t) => {
  const { r, w } = setup();
  w(UartReg.MCR, Mcr.LOOP | Mcr.RTS | Mcr.OUT2);
  t.is(r(UartReg.MSR) & 0xf0, Msr.CTS | Msr.DCD); // Linux's 8250 probe checks exactly this
  w(UartReg.MCR, Mcr.LOOP | Mcr.DTR | Mcr.OUT1);
  t.is(r(UartReg.MSR) & 0xf0, Msr.DSR | Msr.RI);
});

test('outside loopback MSR shows a connected terminal: CTS, DSR and DCD', (t) => {
  const { r } = setup();
  t.is(r(UartReg.MSR), Msr.CTS | Msr.DSR | Msr.DCD);
});

test('a modem line change sets its delta bit until MSR is read', (t) => {
  const { r, w } = setup();
  w(UartReg.MCR, Mcr.LOOP | Mcr.DTR | Mcr.RTS | Mcr.OUT2); // DSR, CTS, DCD stay up
  t.is(r(UartReg.MSR), Msr.DSR | Msr.CTS | Msr.DCD);
  w(UartReg.MCR, Mcr.LOOP | Mcr.DTR | Mcr.OUT2); // CTS drops
  t.is(r(UartReg.MSR), Msr.DSR | Msr.DCD | Msr.DCTS);
  t.is(r(UartReg.MSR), Msr.DSR | Msr.DCD);
});

test('each modem line change sets its own delta bit: DCTS, DDSR, DDCD', (t) => {
  const { r, w } = setup();
  w(UartReg.MCR, 0x10 | 0x01 | 0x02 | 0x08); // LOOP, DTR→DSR, RTS→CTS, OUT2→DCD all up
  r(UartReg.MSR);
  w(UartReg.MCR, 0x10 | 0x02 | 0x08); // DTR drops: DSR (bit 5) falls
  t.is(r(UartReg.MSR), 0x10 | 0x80 | 0x02, 'CTS, DCD and the DSR delta (DDSR, bit 1)');
  w(UartReg.MCR, 0x10 | 0x02); // OUT2 drops: DCD (bit 7) falls
  t.is(r(UartReg.MSR), 0x10 | 0x08, 'CTS and the DCD delta (DDCD, bit 3)');
  w(UartReg.MCR, 0x10); // RTS drops: CTS (bit 4) falls
  t.is(r(UartReg.MSR), 0x01, 'the CTS delta (DCTS, bit 0) alone');
  t.is(r(UartReg.MSR), 0x00, 'reading MSR cleared the deltas');
});

test('a DSR change raises the modem status interrupt (IIR 0000)', (t) => {
  const { r, w } = setup();
  w(UartReg.MCR, 0x10 | 0x01); // LOOP, DSR up
  r(UartReg.MSR);
  w(UartReg.IER, 0x08); // EDSSI
  t.is(r(UartReg.IIR_FCR), 0x01);
  w(UartReg.MCR, 0x10); // DSR falls
  t.is(r(UartReg.IIR_FCR), 0x00);
  t.is(r(UartReg.MSR), 0x02);
  t.is(r(UartReg.IIR_FCR), 0x01);
});

test('an overrun with ELSI enabled reads IIR 0110, and 1100 0110 with FIFOs on', (t) => {
  const { r, w } = setup();
  w(UartReg.MCR, 0x10);
  w(UartReg.IER, 0x04); // ELSI only
  w(UartReg.DATA, 1);
  w(UartReg.DATA, 2); // overrun of the 16450 holding register
  t.is(r(UartReg.IIR_FCR), 0x06);
  t.is(r(UartReg.LSR), 0x01 | 0x02 | 0x20 | 0x40, 'DR, OE, THRE, TEMT');
  t.is(r(UartReg.IIR_FCR), 0x01);
  w(UartReg.IIR_FCR, 0x01);
  for (let i = 0; i < 17; i++) w(UartReg.DATA, i);
  t.is(r(UartReg.IIR_FCR), 0xc6);
});

test('RI falling sets TERI but RI rising does not', (t) => {
  const { r, w } = setup();
  w(UartReg.MCR, Mcr.LOOP);
  r(UartReg.MSR);
  w(UartReg.MCR, Mcr.LOOP | Mcr.OUT1);
  t.is(r(UartReg.MSR), Msr.RI);
  w(UartReg.MCR, Mcr.LOOP);
  t.is(r(UartReg.MSR), Msr.TERI);
});

test('loopback mode gates the IRQ line off, as the OUT2 pin is forced inactive', (t) => {
  const { irq, w } = setup();
  w(UartReg.MCR, Mcr.OUT2 | Mcr.LOOP);
  w(UartReg.IER, Ier.ETBEI);
  t.false(irq.level);
  w(UartReg.MCR, Mcr.OUT2);
  t.true(irq.level);
});

test('FCR bit 1 clears the receive FIFO', (t) => {
  const { uart, r, w } = setup();
  w(UartReg.IIR_FCR, Fcr.ENABLE);
  uart.enqueueInput(bytes('abc'));
  w(UartReg.IIR_FCR, Fcr.ENABLE | Fcr.CLEAR_RX);
  t.falsy(r(UartReg.LSR) & Lsr.DR);
  t.is(uart.rxPending, 0);
});

test('FCR clear bits are ignored while bit 0 is written as 0', (t) => {
  const { uart, w } = setup();
  uart.enqueueInput(bytes('a'));
  w(UartReg.IIR_FCR, Fcr.CLEAR_RX);
  t.is(uart.rxPending, 1);
});

test('changing the FIFO enable bit clears the receive FIFO', (t) => {
  const { uart, w } = setup();
  w(UartReg.IIR_FCR, Fcr.ENABLE);
  uart.enqueueInput(bytes('abc'));
  w(UartReg.IIR_FCR, 0);
  t.is(uart.rxPending, 0);
});

test('enqueueInput takes only what fits and onRxSpace fires once the guest reads', (t) => {
  const { uart, r, w } = setup();
  w(UartReg.IIR_FCR, Fcr.ENABLE);
  let calls = 0;
  uart.onRxSpace = () => calls++;
  t.is(uart.enqueueInput(new Uint8Array(20).fill(7)), 16);
  t.is(calls, 0);
  r(UartReg.DATA);
  t.is(calls, 1);
  r(UartReg.DATA);
  t.is(calls, 1, 'no further calls until input is refused again');
});

test('onRxSpace does not fire when nothing was refused', (t) => {
  const { uart, r } = setup();
  let calls = 0;
  uart.onRxSpace = () => calls++;
  uart.enqueueInput(bytes('a'));
  r(UartReg.DATA);
  t.is(calls, 0);
});

test('loopback mode refuses outside input and asks for it again when loopback ends', (t) => {
  const { uart, r, w } = setup();
  let calls = 0;
  uart.onRxSpace = () => calls++;
  w(UartReg.MCR, Mcr.LOOP);
  t.is(uart.enqueueInput(bytes('a')), 0);
  w(UartReg.MCR, 0);
  t.is(calls, 1);
  t.is(uart.enqueueInput(bytes('a')), 1);
  t.is(r(UartReg.DATA), 'a'.charCodeAt(0));
});

test('a 2-byte access acts on the low byte of the addressed register', (t) => {
  const { out, uart } = setup();
  uart.write(UartReg.DATA, 2, 0x1241);
  uart.write(UartReg.SCR, 4, 0xdeadbe77);
  t.deepEqual([...out.bytes()], [0x41]);
  t.is(uart.read(UartReg.SCR, 2), 0x77);
});

test('flush reaches the output', (t) => {
  const irq = new RecordingIrq();
  let flushed = 0;
  const uart = new Uart16550(irq, { write() {}, flush: () => flushed++ });
  uart.flush();
  t.is(flushed, 1);
});

// ---- further datasheet behaviour (each pins a detail a mutation of the model survived) --------

test('an offset past the eight registers reads 0xff (floating bus) and writes to it do nothing', (t) => {
  const { r, uart } = setup();
  t.is(r(8), 0xff);
  uart.write(8, 1, 0x00);
  t.is(r(UartReg.LSR), 0x60);
});

test('LSR and MSR ignore writes', (t) => {
  const { r, w } = setup();
  w(UartReg.LSR, 0x00);
  w(UartReg.MSR, 0x00);
  t.is(r(UartReg.LSR), 0x20 | 0x40, 'THRE and TEMT');
  t.is(r(UartReg.MSR), 0x10 | 0x20 | 0x80, 'CTS, DSR and DCD');
});

test('FCR bits 6-7 select RX trigger levels of 1, 4, 8 and 14 bytes', (t) => {
  for (const [fcr, level] of [[0x01, 1], [0x41, 4], [0x81, 8], [0xc1, 14]] as const) {
    const { uart, r, w } = setup();
    w(UartReg.IIR_FCR, fcr);
    w(UartReg.IER, 0x01);
    if (level > 1) {
      uart.enqueueInput(new Uint8Array(level - 1));
      t.is(r(UartReg.IIR_FCR), 0xc0 | 0x0c, `${level - 1} bytes below trigger ${level}: character timeout`);
    }
    uart.enqueueInput(new Uint8Array(1));
    t.is(r(UartReg.IIR_FCR), 0xc0 | 0x04, `${level} bytes: received data available`);
  }
});

test('FCR trigger bits are taken only while bit 0 is written as 1', (t) => {
  const { uart, r, w } = setup();
  w(UartReg.IIR_FCR, 0xc1); // FIFOs on, trigger 14
  w(UartReg.IIR_FCR, 0x41); // still on, trigger 4
  w(UartReg.IER, 0x01);
  uart.enqueueInput(new Uint8Array(4));
  t.is(r(UartReg.IIR_FCR), 0xc4, 'trigger 4 reached');
});

test('the RX FIFO keeps arrival order across its wrap-around', (t) => {
  const { uart, r, w } = setup();
  w(UartReg.IIR_FCR, 0x01);
  t.is(uart.enqueueInput(Uint8Array.from({ length: 16 }, (_, i) => i)), 16);
  for (let i = 0; i < 10; i++) t.is(r(UartReg.DATA), i);
  t.is(uart.enqueueInput(Uint8Array.from({ length: 10 }, (_, i) => 16 + i)), 10);
  const got: number[] = [];
  while (r(UartReg.LSR) & 0x01) got.push(r(UartReg.DATA));
  t.deepEqual(got, Array.from({ length: 16 }, (_, i) => 10 + i));
});

test('a THR write raises no interrupt while ETBEI is clear', (t) => {
  const { irq, r, w } = setup();
  w(UartReg.MCR, 0x08);
  w(UartReg.DATA, 0x41);
  t.false(irq.level);
  t.is(r(UartReg.IIR_FCR), 0x01);
});

test('enabling the FIFOs after input was refused in 16450 mode asks for the input again', (t) => {
  const { uart, w } = setup();
  let calls = 0;
  uart.onRxSpace = () => calls++;
  t.is(uart.enqueueInput(bytes('ab')), 1, '16450 mode: one byte');
  w(UartReg.IIR_FCR, 0x01); // FIFO mode: 16 bytes of room (and the FIFO cleared)
  t.is(calls, 1);
  t.is(uart.rxPending, 0);
});

test('onRxSpace does not fire while the receiver is still full', (t) => {
  const { uart, w } = setup();
  w(UartReg.IIR_FCR, 0x01);
  let calls = 0;
  uart.onRxSpace = () => calls++;
  uart.enqueueInput(new Uint8Array(17));
  w(UartReg.IIR_FCR, 0x01); // rewriting FCR with the FIFO full: no room yet
  t.is(calls, 0);
});

test('DLM is read and written under DLAB without touching IER', (t) => {
  const { r, w } = setup();
  w(UartReg.IER, 0x05);
  w(UartReg.LCR, 0x80);
  w(UartReg.IER, 0x9a); // DLM: all eight bits
  t.is(r(UartReg.IER), 0x9a);
  t.is(r(UartReg.DATA), 12, 'DLL unchanged');
  w(UartReg.LCR, 0x00);
  t.is(r(UartReg.IER), 0x05);
});

test('an overrun raises the IRQ line only with ELSI and falls when LSR is read', (t) => {
  const { irq, r, w } = setup();
  w(UartReg.MCR, 0x08 | 0x10); // OUT2, LOOP: the line is gated off in loopback
  w(UartReg.IER, 0x04);
  w(UartReg.DATA, 1);
  w(UartReg.DATA, 2);
  t.false(irq.level, 'loopback forces OUT2 inactive');
  w(UartReg.MCR, 0x08); // leave loopback: the pending overrun now drives the line
  t.true(irq.level);
  r(UartReg.LSR);
  t.false(irq.level);
});

test('irqAsserted follows the interrupt output', (t) => {
  const { uart, w } = setup();
  t.false(uart.irqAsserted);
  w(UartReg.MCR, 0x08);
  w(UartReg.IER, 0x02);
  t.true(uart.irqAsserted);
});

test('flush and onRxSpace are optional: an output without flush and no listener are fine', (t) => {
  const uart = new Uart16550(new RecordingIrq(), { write() {} });
  t.notThrows(() => uart.flush());
  uart.enqueueInput(bytes('ab')); // one refused
  t.notThrows(() => uart.read(UartReg.DATA, 1), 'room again, nobody listening');
});

test('an FCR write without bit 1 keeps the received bytes', (t) => {
  const { uart, w } = setup();
  w(UartReg.IIR_FCR, 0x01);
  uart.enqueueInput(bytes('abc'));
  w(UartReg.IIR_FCR, 0x41); // new trigger level, no RCVR FIFO reset
  t.is(uart.rxPending, 3);
});

test('the THRE interrupt source is clear at reset and forgotten when ETBEI is cleared (saved state)', (t) => {
  const { uart, w } = setup();
  t.false(uart.saveState().thrInterrupt);
  w(UartReg.IER, 0x02);
  t.true(uart.saveState().thrInterrupt);
  w(UartReg.IER, 0x00);
  t.false(uart.saveState().thrInterrupt);
});
