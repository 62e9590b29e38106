import test from 'ava';
import { CpioError, FileType, parseCpio, writeCpio } from './cpio.js';

const ascii = (b: Uint8Array, from: number, to: number): string => String.fromCharCode(...b.subarray(from, to));
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

test('a one-file archive matches the newc layout byte for byte', (t) => {
  const out = writeCpio([{ type: 'file', path: 'a', data: utf8('hi'), mode: 0o644 }]);
  // Header: magic, then ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor,
  // rdevmajor, rdevminor, namesize (with NUL), check — 8 hex digits each (buffer-format.rst).
  t.is(ascii(out, 0, 110),
    '070701' + '00000001' + '000081A4' + '00000000' + '00000000' + '00000001' + '00000000' +
    '00000002' + '00000000' + '00000000' + '00000000' + '00000000' + '00000002' + '00000000');
  t.is(ascii(out, 110, 112), 'a\0'); // 110 + 2 = 112: already 4-aligned, no name padding
  t.is(ascii(out, 112, 114), 'hi');
  t.deepEqual([...out.subarray(114, 116)], [0, 0]); // data padded to 4
  // Trailer: nlink 1, namesize 11 ("TRAILER!!!" + NUL), 110 + 11 = 121 padded to 124.
  t.is(ascii(out, 116, 226),
    '070701' + '00000000' + '00000000' + '00000000' + '00000000' + '00000001' + '00000000' +
    '00000000' + '00000000' + '00000000' + '00000000' + '00000000' + '0000000B' + '00000000');
  t.is(ascii(out, 226, 237), 'TRAILER!!!\0');
  t.is(out.length, 240);
});

test('every member header and every data block starts on a 4-byte boundary', (t) => {
  const names = ['x', 'yy', 'zzz', 'wwww', 'bin/busybox'];
  const out = writeCpio(names.map((path, i) => ({ type: 'file' as const, path, data: new Uint8Array(i * 3 + 1).fill(i + 1) })));
  let at = 0;
  let count = 0;
  while (at < out.length) {
    t.is(at % 4, 0);
    t.is(ascii(out, at, at + 6), '070701');
    const size = parseInt(ascii(out, at + 54, at + 62), 16);
    const nameSize = parseInt(ascii(out, at + 94, at + 102), 16);
    const dataAt = (at + 110 + nameSize + 3) & ~3;
    if (size > 0) t.is(out[dataAt], count + 1);
    at = (dataAt + size + 3) & ~3;
    count++;
  }
  t.is(count, names.length + 1);
  t.is(at, out.length);
});

test('what is written parses back: names, types, modes, links, devices and data', (t) => {
  const busybox = new Uint8Array(1001).map((_, i) => (i * 7) & 0xff);
  const out = writeCpio([
    { type: 'dir', path: 'bin' },
    { type: 'file', path: 'bin/busybox', data: busybox, mode: 0o755 },
    { type: 'symlink', path: 'bin/sh', target: 'busybox' },
    { type: 'dir', path: 'dev', mode: 0o700 },
    { type: 'chardev', path: 'dev/console', major: 5, minor: 1 },
  ], { mtime: 1_700_000_000 });
  const r = parseCpio(out);
  t.deepEqual(r.map((m) => m.name), ['bin', 'bin/busybox', 'bin/sh', 'dev', 'dev/console']);
  t.deepEqual(r.map((m) => m.mode), [0o40755, 0o100755, 0o120777, 0o40700, 0o20600]);
  t.deepEqual(r.map((m) => m.ino), [1, 2, 3, 4, 5]);
  t.deepEqual(r.map((m) => m.nlink), [2, 1, 1, 2, 1]);
  t.true(r.every((m) => m.mtime === 1_700_000_000 && m.uid === 0 && m.gid === 0));
  t.deepEqual(r[1]!.data, busybox);
  t.is(new TextDecoder().decode(r[2]!.data), 'busybox');
  t.deepEqual([r[4]!.rdevMajor, r[4]!.rdevMinor], [5, 1]);
  t.is(r[4]!.mode & FileType.MASK, FileType.CHAR_DEVICE);
});

test('the same entries give the same bytes (reproducible builds)', (t) => {
  const entries = [{ type: 'file' as const, path: 'init', data: utf8('#!/bin/sh\n'), mode: 0o755 }];
  t.deepEqual(writeCpio(entries), writeCpio(entries));
});

test('an empty archive is the trailer alone', (t) => {
  const out = writeCpio([]);
  t.is(out.length, 124);
  t.deepEqual(parseCpio(out), []);
});

const badPaths = ['', '/init', 'a//b', './init', 'a/../b', 'a\0b', 'TRAILER!!!', 'dir/'];
for (const path of badPaths) {
  test(`refuses the member path ${JSON.stringify(path)}`, (t) => {
    const err = t.throws(() => writeCpio([{ type: 'dir', path }]), { instanceOf: CpioError });
    t.regex(err!.message, /^cpio: bad member path/);
  });
}

test('refuses a path twice, a symlink without target and mode bits beyond 07777', (t) => {
  t.throws(() => writeCpio([{ type: 'dir', path: 'a' }, { type: 'dir', path: 'a' }]), { message: /appears twice/ });
  t.throws(() => writeCpio([{ type: 'symlink', path: 'a', target: '' }]), { message: /needs a target/ });
  t.throws(() => writeCpio([{ type: 'dir', path: 'a', mode: 0o17777 }]), { message: /beyond 07777/ });
  t.throws(() => writeCpio([{ type: 'chardev', path: 'c', major: -1, minor: 0 }]), { message: /bad number/ });
});

test('reading rejects a bad magic, a non-hex field, truncation and a missing trailer', (t) => {
  const good = writeCpio([{ type: 'file', path: 'f', data: utf8('data') }]);
  const badMagic = good.slice(); badMagic[5] = 0x32; // 070702 is the CRC variant, not newc
  t.throws(() => parseCpio(badMagic), { instanceOf: CpioError, message: /bad magic "070702"/ });
  const badHex = good.slice(); badHex[20] = 0x47; // 'G'
  t.throws(() => parseCpio(badHex), { message: /not 8 hex digits/ });
  t.throws(() => parseCpio(good.subarray(0, 114)), { message: /runs past the end/ });
  t.throws(() => parseCpio(good.subarray(0, 116)), { message: /without a TRAILER!!! member/ });
});
