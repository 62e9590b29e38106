/**
 * The UART flood (issue 15 §2) in both sinks, on both backends: the VMM stays alive with bounded
 * memory, bytes past a bound are counted, a polling writer loses nothing however slow the reader,
 * a closed stdout ends the run with one line, and a device that throws stops the run cleanly.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { hostileElf, runHostile } from './index.js';
import { RSS_BOUND, onBothBackends } from './testing.js';

const MiB = 1024 * 1024;
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** A pipe whose reader never reads: write() returns false past 16 KiB and 'drain' never comes. */
function stalledReader(): Writable {
  return new Writable({ highWaterMark: 16 * 1024, write: () => { /* never calls back */ } });
}

/** A reader that takes one chunk per millisecond and keeps every byte. */
function slowReader(into: Buffer[]): Writable {
  return new Writable({ highWaterMark: 1024, write: (chunk: Buffer, _enc, done) => { into.push(chunk); setTimeout(done, 1); } });
}

onBothBackends('a `rep outsb` flood into the buffer sink keeps the limit, counts the rest and the VMM alive', async (t, backend) => {
  // 32 KiB: on kvm_pvm ring-0 `rep outsb` exits once per byte (~16 KB/s); the emulator hands a page per exit.
  const r = await runHostile({ guest: 'uart-flood', backend, arg: 32, serial: 'buffer', bufferLimit: '16KiB' });
  t.is(r.result.reason, 'exit-code', r.result.message);
  t.is(r.consoleBytes, 16 * 1024);
  t.is(r.sinkDropped, 16 * 1024, 'every byte past the limit is counted');
  t.is(r.txDropped, 0, 'the buffer is never full: the transmitter never holds');
  t.true(r.peakRss < RSS_BOUND, `peak RSS ${(r.peakRss / MiB).toFixed(0)} MiB`);
});

onBothBackends('a flood into a stdout nobody reads holds the transmitter busy: memory stays bounded, lost bytes are counted', async (t, backend) => {
  const reader = stalledReader();
  const r = await runHostile({ guest: 'uart-flood', backend, arg: 32, serial: 'stdout', stdout: reader });
  t.is(r.result.reason, 'exit-code', r.result.message);
  t.true(r.txDropped > 0, 'the guest ignored THRE: what it wrote into a full transmitter is counted');
  // Queued in the stream: its high-water mark, the chunk that crossed it, and the final flush.
  t.true(reader.writableLength <= 16 * 1024 + 2 * 4096, `${reader.writableLength} bytes queued`);
  t.true(reader.writableLength + r.txDropped <= 32 * 1024);
  t.true(r.peakRss < RSS_BOUND, `peak RSS ${(r.peakRss / MiB).toFixed(0)} MiB`);
});

onBothBackends('a writer that polls THRE loses no byte through a slow reader', async (t, backend) => {
  const got: Buffer[] = [];
  const reader = slowReader(got);
  const r = await runHostile({ guest: 'uart-poll', backend, arg: 64, serial: 'stdout', stdout: reader, timeLimit: '60s' });
  await new Promise<void>((resolve) => reader.end(resolve)); // the last chunks are still queued in the stream
  t.is(r.result.reason, 'exit-code', r.result.message);
  t.is(r.result.exitCode, 0);
  t.is(r.txDropped, 0);
  const text = Buffer.concat(got).toString('latin1');
  t.is(text.length, 64 * 1024);
  for (const i of [0, 1, 62, 63, 64, 1000, 65535]) {
    t.is(text[i], i % 64 === 63 ? '\n' : String.fromCharCode(97 + (i % 26)), `byte ${i}`);
  }
});

test.serial('a device that throws stops the run with a message naming it and the exit; nothing escapes', async (t) => {
  const r = await runHostile({
    guest: 'uart-flood', arg: 1024, timeLimit: '20s',
    prepare: (c) => { c.devices.uart.write = () => { throw new RangeError('Invalid typed array length: 8589934592'); }; },
  });
  t.is(r.result.reason, 'error');
  t.is(r.result.exitCode, 1);
  t.regex(r.result.message, /^VMM bug, run stopped: device 'com1' failed on a 1-byte port write at 0x3f8 \(×\d+\): Invalid typed array length: 8589934592 \(io exit/);
});

test.serial('the CLI: a stdout whose reader exits (EPIPE) ends the run with one line and exit code 1', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hyvisor-hostile-'));
  const config = path.join(dir, 'flood.yaml');
  fs.writeFileSync(config, `backend: emu\nmemory: 64MiB\nguest: { kernel: ${hostileElf('uart-flood')} }\nserial: { output: stdout }\ntimeLimit: 60s\n`);
  const child = spawn(process.execPath, [path.join(root, 'packages/cli/dist/main.js'), 'run', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
  child.stdout.once('data', () => child.stdout.destroy()); // the reader goes away after its first chunk
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  t.is(code, 1, stderr);
  const lines = stderr.trim().split('\n').filter((l) => !/^hyvisor: emu: \d+ instructions/.test(l));
  t.deepEqual(lines, ['hyvisor: serial console output closed (EPIPE): run stopped'], stderr);
  t.notRegex(stderr, /\n\s+at /, 'no stack trace');
});
