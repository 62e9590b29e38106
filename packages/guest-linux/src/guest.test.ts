import test from 'ava';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { FileType, parseCpio } from './cpio.js';
import { INIT_SCRIPT, initramfsEntries, linuxGuestForTests } from './guest.js';

test('the initramfs holds busybox, /bin/sh, /dev/console and an executable /init', (t) => {
  const init = fs.readFileSync(INIT_SCRIPT);
  const entries = initramfsEntries(new Uint8Array([0x7f, 0x45, 0x4c, 0x46]), init);
  const byPath = new Map(entries.map((e) => [e.path, e]));
  t.deepEqual(byPath.get('init'), { type: 'file', path: 'init', data: init, mode: 0o755 });
  t.deepEqual(byPath.get('dev/console'), { type: 'chardev', path: 'dev/console', major: 5, minor: 1, mode: 0o600 });
  t.deepEqual(byPath.get('bin/sh'), { type: 'symlink', path: 'bin/sh', target: 'busybox' });
  t.is(byPath.get('bin/busybox')?.type, 'file');
  // Parents come before children, as the kernel creates them in archive order.
  const index = (p: string) => entries.findIndex((e) => e.path === p);
  for (const e of entries) {
    const parent = path.posix.dirname(e.path);
    if (parent !== '.') t.true(index(parent) < index(e.path), `${parent} before ${e.path}`);
  }
});

test('the init script prints the marker after mounting proc, sys and devtmpfs', (t) => {
  const init = fs.readFileSync(INIT_SCRIPT, 'utf8');
  t.true(init.startsWith('#!/bin/busybox sh\n'));
  const at = (s: string) => { const i = init.indexOf(s); t.true(i >= 0, s); return i; };
  const marker = at('echo HYVISOR-INIT-OK');
  for (const fs of ['-t proc proc /proc', '-t sysfs sysfs /sys', '-t devtmpfs devtmpfs /dev']) t.true(at(fs) < marker);
  t.true((fs.statSync(INIT_SCRIPT).mode & 0o111) !== 0, 'init is executable in the repository');
});

const fetched = linuxGuestForTests();
if ('missing' in fetched) console.log(`skipping the Debian guest tests: ${fetched.missing}`);
const guestTest = 'missing' in fetched ? test.skip : test;

guestTest('the fetched guest matches its manifest (versions, sizes, digests)', (t) => {
  if (!('guest' in fetched)) return;
  const { guest } = fetched;
  const m = guest.manifest;
  t.regex(m.kernel.package, /^linux-image-\d+\.\d+\.\d+-\d+-cloud-amd64$/);
  t.is(m.kernel.package, `linux-image-${m.kernel.release}`);
  t.is(m.kernel.version, m.metapackage.version);
  t.is(m.busybox.package, 'busybox-static');
  const kernel = fs.readFileSync(guest.kernel);
  t.is(kernel.length, m.kernel.bytes);
  t.is(createHash('sha256').update(kernel).digest('hex'), m.kernel.sha256);
  t.is(createHash('sha256').update(fs.readFileSync(INIT_SCRIPT)).digest('hex'), m.initramfs.initSha256);
  t.true(fs.existsSync(path.join(guest.modules, 'kernel/drivers/block/virtio_blk.ko')), 'the kernel modules are unpacked too');
});

guestTest('busybox\'s own cpio lists the initramfs exactly as our reader does', (t) => {
  if (!('guest' in fetched)) return;
  const { guest } = fetched;
  const archive = gunzipSync(fs.readFileSync(guest.initramfs));
  const ours = parseCpio(archive);
  t.is(ours.length, guest.manifest.initramfs.members);
  // An independent newc reader: Debian's busybox `cpio -t`, fed the archive on stdin.
  const busybox = path.join(guest.dir, 'root', 'bin', 'busybox');
  const listed = execFileSync(busybox, ['cpio', '-t'], { input: archive, encoding: 'utf8', stdio: ['pipe', 'pipe', 'ignore'] });
  t.deepEqual(listed.trim().split('\n'), ours.map((r) => r.name));
  const bb = ours.find((r) => r.name === 'bin/busybox')!;
  t.is(bb.mode, FileType.REGULAR | 0o755);
  t.deepEqual(Buffer.from(bb.data), fs.readFileSync(busybox));
});
