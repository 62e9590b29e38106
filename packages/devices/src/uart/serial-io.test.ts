import test from 'ava';
import { BufferSerialOutput, SerialInputQueue, StdoutSerialOutput, type SerialReceiver } from './serial-io.js';
import { NullIrqLine } from './serial-io.js';
import { Fcr, Uart16550, UartReg } from './uart16550.js';

class ChunkRecorder {
  readonly chunks: string[] = [];
  write(chunk: Uint8Array): boolean {
    this.chunks.push(Buffer.from(chunk).toString('latin1'));
    return true;
  }
}

const bytes = (s: string) => new TextEncoder().encode(s);

test('StdoutSerialOutput writes one chunk per line', (t) => {
  const rec = new ChunkRecorder();
  const out = new StdoutSerialOutput(rec, { autoFlush: false });
  for (const b of bytes('one\ntwo\n')) out.write(b);
  t.deepEqual(rec.chunks, ['one\n', 'two\n']);
});

test('StdoutSerialOutput keeps a partial line until flushed', (t) => {
  const rec = new ChunkRecorder();
  const out = new StdoutSerialOutput(rec, { autoFlush: false });
  for (const b of bytes('login: ')) out.write(b);
  t.deepEqual(rec.chunks, []);
  out.flush();
  t.deepEqual(rec.chunks, ['login: ']);
});

test('StdoutSerialOutput writes a chunk when its buffer fills', (t) => {
  const rec = new ChunkRecorder();
  const out = new StdoutSerialOutput(rec, { bufferSize: 4, autoFlush: false });
  for (const b of bytes('abcdef')) out.write(b);
  t.deepEqual(rec.chunks, ['abcd']);
});

test('StdoutSerialOutput flushes a partial line by itself once the event loop turns', async (t) => {
  const rec = new ChunkRecorder();
  const out = new StdoutSerialOutput(rec);
  for (const b of bytes('$ ')) out.write(b);
  t.deepEqual(rec.chunks, []);
  await new Promise((resolve) => setImmediate(resolve));
  t.deepEqual(rec.chunks, ['$ ']);
});

test('StdoutSerialOutput hands the stream a copy it may keep', (t) => {
  const kept: Uint8Array[] = [];
  const out = new StdoutSerialOutput({ write: (c: Uint8Array) => kept.push(c) }, { autoFlush: false });
  for (const b of bytes('a\nb\n')) out.write(b);
  t.is(Buffer.from(kept[0]!).toString(), 'a\n');
});

test('BufferSerialOutput collects bytes past its initial capacity', (t) => {
  const out = new BufferSerialOutput();
  const text = 'x'.repeat(1000) + 'é';
  for (const b of bytes(text)) out.write(b);
  t.is(out.text(), text);
  out.clear();
  t.is(out.length, 0);
});

test('SerialInputQueue feeds the UART as the guest reads, losing nothing', (t) => {
  const uart = new Uart16550(new NullIrqLine(), new BufferSerialOutput());
  uart.write(UartReg.IIR_FCR, 1, Fcr.ENABLE);
  const q = new SerialInputQueue(uart);
  const typed = Array.from({ length: 100 }, (_, i) => i);
  q.push(Uint8Array.from(typed.slice(0, 40)));
  q.push(Uint8Array.from(typed.slice(40)));
  t.is(q.pending, 100 - 16);
  const got: number[] = [];
  for (let i = 0; i < 100; i++) got.push(uart.read(UartReg.DATA, 1));
  t.deepEqual(got, typed);
  t.is(q.pending, 0);
});

test('SerialInputQueue asks the source to pause above its high-water mark and to resume once drained', (t) => {
  let room = 0;
  const receiver: SerialReceiver = {
    onRxSpace: undefined,
    enqueueInput(b) {
      const n = Math.min(room, b.length);
      room -= n;
      return n;
    },
  };
  const q = new SerialInputQueue(receiver, 4);
  let drained = 0;
  q.onDrain = () => drained++;
  t.true(q.push(bytes('abc')));
  t.false(q.push(bytes('de')));
  room = 10;
  receiver.onRxSpace!();
  t.is(q.pending, 0);
  t.is(drained, 1);
});

test('SerialInputQueue keeps its own copy of pushed bytes', (t) => {
  const uart = new Uart16550(new NullIrqLine(), new BufferSerialOutput());
  const q = new SerialInputQueue(uart);
  const buf = bytes('ab');
  q.push(buf);
  buf[1] = 0x7a; // the caller reuses its buffer (as a stream may)
  uart.read(UartReg.DATA, 1);
  t.is(uart.read(UartReg.DATA, 1), 'b'.charCodeAt(0));
});
