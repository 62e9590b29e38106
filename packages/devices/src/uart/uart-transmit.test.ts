/**
 * The UART's transmit path against a host side that can be busy (issue 15 §2): THR/the transmit
 * FIFO hold bytes while the output is full, LSR.THRE/TEMT read clear meanwhile, no THRE interrupt
 * until the output drains, and nothing is lost without being counted. Also the sinks' bounds:
 * the buffer's limit and stdout's backpressure and EPIPE.
 */
import test from 'ava';
import { EventEmitter } from 'node:events';
import type { IrqLine } from '@hyvisor/core';
import { BufferSerialOutput, StdoutSerialOutput, type SerialOutput } from './serial-io.js';
import { Fcr, Ier, Iir, Lsr, Mcr, Uart16550, UartReg } from './uart16550.js';

/** A host side that takes bytes only while `open` (a pipe whose reader may stall). */
class Valve implements SerialOutput {
  readonly got: number[] = [];
  open = true;
  onWritable: (() => void) | undefined;
  get full(): boolean {
    return !this.open;
  }
  write(byte: number): void {
    this.got.push(byte);
  }
  /** The reader reads again. */
  drain(): void {
    this.open = true;
    this.onWritable?.();
  }
}

class Line implements IrqLine {
  level = false;
  raises = 0;
  raise(): void { this.level = true; this.raises++; }
  lower(): void { this.level = false; }
}

/** A UART with THRE interrupts enabled and OUT2 set, as an interrupt-driven driver leaves it. */
function uartWith(out: SerialOutput, fifo: boolean) {
  const irq = new Line();
  const uart = new Uart16550(irq, out);
  if (fifo) uart.write(UartReg.IIR_FCR, 1, Fcr.ENABLE);
  uart.write(UartReg.MCR, 1, Mcr.OUT2);
  uart.write(UartReg.IER, 1, Ier.ETBEI);
  uart.read(UartReg.IIR_FCR, 1); // acknowledge the THRE interrupt that enabling ETBEI raised
  return { uart, irq };
}

const THRE_TEMT = Lsr.THRE | Lsr.TEMT;

test('while the output is full, THR holds the byte and LSR reads THRE and TEMT clear (16450 mode)', (t) => {
  const out = new Valve();
  const { uart } = uartWith(out, false);
  out.open = false;
  uart.write(UartReg.DATA, 1, 0x41);
  t.deepEqual(out.got, []);
  t.is(uart.read(UartReg.LSR, 1) & THRE_TEMT, 0);
  t.is(uart.txPending, 1);
});

test('a busy transmitter raises no THRE interrupt until the output drains, then raises it once', (t) => {
  const out = new Valve();
  const { uart, irq } = uartWith(out, true);
  out.open = false;
  const before = irq.raises;
  uart.write(UartReg.DATA, 1, 0x41);
  uart.write(UartReg.DATA, 1, 0x42);
  t.false(irq.level);
  t.is(uart.read(UartReg.IIR_FCR, 1) & 0x0f, Iir.NONE);
  out.drain();
  t.deepEqual(out.got, [0x41, 0x42]);
  t.is(uart.read(UartReg.LSR, 1) & THRE_TEMT, THRE_TEMT);
  t.true(irq.level);
  t.is(irq.raises, before + 1);
  t.is(uart.read(UartReg.IIR_FCR, 1) & 0x0f, Iir.THR_EMPTY);
});

test('the transmit FIFO holds 16 bytes for a busy output; a 17th is lost and counted, never silently', (t) => {
  const out = new Valve();
  const { uart } = uartWith(out, true);
  out.open = false;
  for (let i = 0; i < 17; i++) uart.write(UartReg.DATA, 1, i);
  t.is(uart.txPending, 16);
  t.is(uart.txDropped, 1);
  out.drain();
  t.deepEqual(out.got, Array.from({ length: 16 }, (_, i) => i));
});

test('in 16450 mode a second byte written to a full THR is lost and counted', (t) => {
  const out = new Valve();
  const { uart } = uartWith(out, false);
  out.open = false;
  uart.write(UartReg.DATA, 1, 1);
  uart.write(UartReg.DATA, 1, 2);
  t.is(uart.txDropped, 1);
  out.drain();
  t.deepEqual(out.got, [1]);
});

test('a polling guest that waits for THRE loses nothing however slow the output is', (t) => {
  const out = new Valve();
  const { uart } = uartWith(out, true);
  const message = Array.from({ length: 200 }, (_, i) => i & 0xff);
  let sent = 0;
  let spins = 0;
  while (sent < message.length) {
    // Every third poll the host side stalls or recovers, as a pipe whose reader is slow.
    if (++spins % 3 === 0) { if (out.open) out.open = false; else out.drain(); }
    if (uart.read(UartReg.LSR, 1) & Lsr.THRE) {
      for (let k = 0; k < 16 && sent < message.length; k++) uart.write(UartReg.DATA, 1, message[sent++]!);
    }
  }
  out.drain();
  t.deepEqual(out.got, message);
  t.is(uart.txDropped, 0);
});

test('FCR CLEAR_TX empties the transmit FIFO of a busy output and THRE reads set again', (t) => {
  const out = new Valve();
  const { uart } = uartWith(out, true);
  out.open = false;
  uart.write(UartReg.DATA, 1, 7);
  uart.write(UartReg.IIR_FCR, 1, Fcr.ENABLE | Fcr.CLEAR_TX);
  t.is(uart.read(UartReg.LSR, 1) & THRE_TEMT, THRE_TEMT);
  out.drain();
  t.deepEqual(out.got, []);
});

test('BufferSerialOutput keeps at most its limit and counts the rest', (t) => {
  const out = new BufferSerialOutput(10);
  for (let i = 0; i < 25; i++) out.write(0x61 + (i % 26));
  t.is(out.length, 10);
  t.is(out.dropped, 15);
  t.is(out.text(), 'abcdefghij');
  t.is((out as SerialOutput).full, undefined, 'never full: a guest never waits on the buffer');
  t.throws(() => new BufferSerialOutput(0), { instanceOf: RangeError });
});

/** A Writable-like stream whose reader may stop reading: write returns false past `highWater` queued bytes. */
class SlowPipe extends EventEmitter {
  readonly chunks: Uint8Array[] = [];
  queued = 0;
  constructor(private readonly highWater: number) { super(); }
  get writableLength(): number { return this.queued; }
  write(chunk: Uint8Array): boolean {
    this.chunks.push(chunk);
    this.queued += chunk.length;
    return this.queued < this.highWater;
  }
  /** The reader takes everything. */
  read(): void {
    this.queued = 0;
    this.emit('drain');
  }
}

test('StdoutSerialOutput stops writing when the stream says so and reports full once its own buffer is', (t) => {
  const pipe = new SlowPipe(8);
  const out = new StdoutSerialOutput(pipe, { bufferSize: 4, autoFlush: false });
  for (let i = 0; i < 8; i++) out.write(0x30 + i); // two chunks of 4: the second hits the high-water mark
  t.is(pipe.chunks.length, 2);
  t.false(out.full);
  for (let i = 0; i < 4; i++) out.write(0x0a); // newlines do not write while the stream waits
  t.is(pipe.chunks.length, 2);
  t.true(out.full);
  let writable = 0;
  out.onWritable = () => writable++;
  pipe.read();
  t.is(pipe.chunks.length, 3);
  t.false(out.full);
  t.is(writable, 1);
  t.is(out.dropped, 0);
});

test('a UART on stdout whose reader stalls holds its bytes: the VMM keeps at most the stream high-water mark plus the sink buffer', (t) => {
  const pipe = new SlowPipe(64);
  const out = new StdoutSerialOutput(pipe, { bufferSize: 16, autoFlush: false });
  const { uart } = uartWith(out, true);
  let written = 0;
  // A guest flooding with `rep outsb`, ignoring THRE: 10 000 bytes.
  for (let i = 0; i < 10_000; i++) { uart.write(UartReg.DATA, 1, 0x78); written++; }
  t.true(pipe.queued <= 64 + 16, `queued ${pipe.queued}`);
  t.is(uart.read(UartReg.LSR, 1) & Lsr.THRE, 0);
  const kept = pipe.queued + uart.txPending;
  t.is(kept + uart.txDropped + 16 /* the sink's buffer */, written);
  pipe.read();
  t.is(uart.txPending, 0);
  t.is(uart.read(UartReg.LSR, 1) & Lsr.THRE, Lsr.THRE);
});

test('EPIPE on the stream calls onClosed once; later bytes are discarded and counted, and the transmitter is never stuck', (t) => {
  const pipe = new SlowPipe(4);
  const closed: string[] = [];
  const out = new StdoutSerialOutput(pipe, { bufferSize: 4, autoFlush: false, onClosed: (e) => closed.push((e as NodeJS.ErrnoException).code ?? '') });
  const { uart } = uartWith(out, true);
  for (let i = 0; i < 40; i++) uart.write(UartReg.DATA, 1, 0x79);
  t.true(uart.txPending > 0);
  const epipe = Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
  pipe.emit('error', epipe);
  pipe.emit('error', epipe);
  t.deepEqual(closed, ['EPIPE']);
  t.is(uart.txPending, 0, 'the held bytes went to the (now discarding) sink');
  t.is(uart.read(UartReg.LSR, 1) & THRE_TEMT, THRE_TEMT);
  const before = out.dropped;
  uart.write(UartReg.DATA, 1, 0x7a);
  t.is(out.dropped, before + 1);
  out.dispose();
  t.is(pipe.listenerCount('error'), 0);
});

test('StdoutSerialOutput.dispose keeps an error listener while the stream still holds bytes, so a late EPIPE is not thrown', (t) => {
  const pipe = new SlowPipe(1 << 20);
  const out = new StdoutSerialOutput(pipe, { autoFlush: false });
  out.write(0x61);
  out.dispose();
  t.is(pipe.listenerCount('error'), 1);
  t.notThrows(() => pipe.emit('error', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' })));
});

test('bytes held for a busy output are part of the UART state: saved, restored, and sent once the new output takes them', (t) => {
  const busy = new Valve();
  const { uart } = uartWith(busy, true);
  busy.open = false;
  for (const b of [1, 2, 3]) uart.write(UartReg.DATA, 1, b);
  const saved = JSON.parse(JSON.stringify(uart.saveState()));
  t.deepEqual(saved.tx, [1, 2, 3]);
  const out = new Valve();
  const { uart: copy } = uartWith(out, true);
  copy.restoreState(saved);
  t.deepEqual(out.got, [1, 2, 3], 'the new output is not busy: they leave at once');
  t.is(copy.read(UartReg.LSR, 1) & THRE_TEMT, THRE_TEMT);
  const { tx: _tx, ...older } = saved; // a record from before the transmitter could be busy
  copy.restoreState(older);
  t.is(copy.txPending, 0);
  t.throws(() => copy.restoreState({ ...saved, fifoEnabled: false }), { message: /tx: expected a list of at most 1 bytes/ });
});
