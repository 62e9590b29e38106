import test from 'ava';
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { EscapeFilter, openConsoleTerminal, type EscapeCommand } from './terminal.js';

const bytes = (...b: number[]) => Uint8Array.from(b);

test('keys without Ctrl-A go to the guest untouched, Ctrl-C included', (t) => {
  const f = new EscapeFilter(() => t.fail());
  t.deepEqual(f.filter(bytes(0x6c, 0x73, 0x03, 0x0d)), bytes(0x6c, 0x73, 0x03, 0x0d));
});

test('Ctrl-A x quits and Ctrl-A h asks for help; neither reaches the guest', (t) => {
  const seen: EscapeCommand[] = [];
  const f = new EscapeFilter((c) => seen.push(c));
  t.deepEqual(f.filter(bytes(0x61, 0x01, 0x68, 0x62, 0x01, 0x78)), bytes(0x61, 0x62));
  t.deepEqual(seen, ['help', 'quit']);
});

test('Ctrl-A Ctrl-A sends one Ctrl-A; another key after Ctrl-A is dropped; an escape split across chunks works', (t) => {
  const seen: EscapeCommand[] = [];
  const f = new EscapeFilter((c) => seen.push(c));
  t.deepEqual(f.filter(bytes(0x01, 0x01, 0x01, 0x7a, 0x41)), bytes(0x01, 0x41));
  t.deepEqual(f.filter(bytes(0x01)), bytes());
  t.deepEqual(f.filter(bytes(0x58, 0x42)), bytes(0x42));
  t.deepEqual(seen, ['quit']);
});

/** A fake TTY: a stream that records its raw mode. */
function fakeTty() {
  const modes: boolean[] = [];
  const tty = Object.assign(new PassThrough(), { isTTY: true, setRawMode: (m: boolean) => { modes.push(m); } });
  return { tty, modes };
}

test('the terminal goes raw while the console is open and back on dispose, once', async (t) => {
  const { tty, modes } = fakeTty();
  const proc = new EventEmitter();
  const commands: EscapeCommand[] = [];
  const term = openConsoleTerminal(tty, (c) => commands.push(c), proc as never);
  t.deepEqual(modes, [true]);
  const got: Buffer[] = [];
  term.input.on('data', (b: Buffer) => got.push(b));
  tty.write(Buffer.from([0x68, 0x69, 0x01, 0x78]));
  await new Promise((r) => setImmediate(r));
  t.is(Buffer.concat(got).toString(), 'hi');
  t.deepEqual(commands, ['quit']);
  term.dispose();
  term.dispose();
  t.deepEqual(modes, [true, false]);
  t.is(proc.listenerCount('exit'), 0);
});

test('a process that exits with the console open (an exception, process.exit) leaves the terminal cooked', (t) => {
  const { tty, modes } = fakeTty();
  const proc = new EventEmitter();
  openConsoleTerminal(tty, () => {}, proc as never);
  proc.emit('exit', 1);
  t.deepEqual(modes, [true, false]);
});
