import test from 'ava';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BlockStoreError, FileBlockStore, MemoryBlockStore } from './block-store.js';

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'hyvisor-disk-'));
}

test('FileBlockStore refuses a symlink', (t) => {
  const dir = tempDir();
  const target = path.join(dir, 'real.img');
  fs.writeFileSync(target, new Uint8Array(1024));
  const link = path.join(dir, 'link.img');
  fs.symlinkSync(target, link);
  const e = t.throws(() => FileBlockStore.open(link), { instanceOf: BlockStoreError });
  t.regex(e!.message, /link\.img.*symbolic link/);
});

test('FileBlockStore refuses a directory', (t) => {
  const dir = tempDir();
  const e = t.throws(() => FileBlockStore.open(dir, { readOnly: true }), { instanceOf: BlockStoreError });
  t.true(e!.message.includes(dir));
});

test('FileBlockStore refuses a FIFO without hanging', (t) => {
  const dir = tempDir();
  const fifo = path.join(dir, 'fifo');
  try {
    execFileSync('mkfifo', [fifo]);
  } catch {
    t.pass('mkfifo unavailable');
    return;
  }
  const e = t.throws(() => FileBlockStore.open(fifo, { readOnly: true }), { instanceOf: BlockStoreError });
  t.regex(e!.message, /not a regular file/);
});

test('FileBlockStore names a missing file', (t) => {
  const missing = path.join(tempDir(), 'missing.img');
  const e = t.throws(() => FileBlockStore.open(missing), { instanceOf: BlockStoreError });
  t.regex(e!.message, /missing\.img.*does not exist/);
});

test('FileBlockStore creates a file of the given size', (t) => {
  const file = path.join(tempDir(), 'new.img');
  const store = FileBlockStore.open(file, { createSizeBytes: 8 * 512 });
  t.is(store.sectorCount, 8);
  t.is(fs.statSync(file).size, 4096);
  t.is(fs.statSync(file).mode & 0o777, 0o600);
  store.dispose();
});

test('FileBlockStore refuses a size to create that is not whole sectors', (t) => {
  const file = path.join(tempDir(), 'odd.img');
  t.throws(() => FileBlockStore.open(file, { createSizeBytes: 1000 }), { instanceOf: BlockStoreError });
  t.false(fs.existsSync(file));
});

test('FileBlockStore rounds a partial last sector down', (t) => {
  const file = path.join(tempDir(), 'partial.img');
  fs.writeFileSync(file, new Uint8Array(1536 + 100));
  const store = FileBlockStore.open(file);
  t.is(store.sectorCount, 3);
  t.is(store.ignoredTailBytes, 100);
  store.dispose();
});

test('FileBlockStore refuses a file smaller than a sector', (t) => {
  const file = path.join(tempDir(), 'tiny.img');
  fs.writeFileSync(file, new Uint8Array(100));
  t.throws(() => FileBlockStore.open(file), { instanceOf: BlockStoreError, message: /smaller than one 512-byte sector/ });
});

test('FileBlockStore reads and writes sectors at their offsets', (t) => {
  const file = path.join(tempDir(), 'rw.img');
  const store = FileBlockStore.open(file, { createSizeBytes: 4 * 512 });
  const data = new Uint8Array(1024).map((_, i) => i & 0xff);
  store.write(1, 2, data);
  store.flush();
  const back = new Uint8Array(1024);
  store.read(1, 2, back);
  t.deepEqual(back, data);
  t.deepEqual(fs.readFileSync(file).subarray(512, 1536), Buffer.from(data));
  store.dispose();
});

test('FileBlockStore refuses access outside the disk', (t) => {
  const file = path.join(tempDir(), 'range.img');
  const store = FileBlockStore.open(file, { createSizeBytes: 2 * 512 });
  t.throws(() => store.read(1, 2, new Uint8Array(1024)), { instanceOf: RangeError });
  t.throws(() => store.write(-1, 1, new Uint8Array(512)), { instanceOf: RangeError });
  store.dispose();
});

test('a read-only FileBlockStore refuses writes', (t) => {
  const file = path.join(tempDir(), 'ro.img');
  fs.writeFileSync(file, new Uint8Array(1024));
  const store = FileBlockStore.open(file, { readOnly: true });
  t.throws(() => store.write(0, 1, new Uint8Array(512)), { instanceOf: BlockStoreError, message: /read-only/ });
  store.dispose();
});

test('MemoryBlockStore rejects out-of-range access and a short buffer', (t) => {
  const store = new MemoryBlockStore(4);
  t.throws(() => store.read(3, 2, new Uint8Array(1024)), { instanceOf: RangeError });
  t.throws(() => store.read(0, 2, new Uint8Array(512)), { instanceOf: RangeError });
});

test('MemoryBlockStore over given bytes ignores a partial sector', (t) => {
  t.is(new MemoryBlockStore(new Uint8Array(1100)).sectorCount, 2);
});
