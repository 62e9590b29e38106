import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError } from '../errors.js';
import { loadConfigFile, parseConfigText } from './load.js';
import { formatSize, parseDuration, parseSize } from './sizes.js';
import { validateConfig } from './validate.js';

const minimal = { guest: { kernel: '/guests/hello.elf' } };

function configError(t: import('ava').ExecutionContext, fn: () => unknown): ConfigError {
  return t.throws(fn, { instanceOf: ConfigError }) as ConfigError;
}

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'hyvisor-config-'));
}

test('a minimal config gets the documented defaults', (t) => {
  const c = validateConfig(minimal);
  t.deepEqual(c, {
    name: 'vm', backend: 'kvm', strategy: 'minimal', board: 'minimal', devices: [], memory: 64 * 1024 * 1024, vcpus: 1,
    guest: { boot: 'elf', kernel: '/guests/hello.elf', cmdline: '' },
    serial: { output: 'stdout', input: 'none' },
    timeLimitMs: 0, sliceMs: 10,
  });
});

test('a memory value that is not a size names the field and an example', (t) => {
  const err = configError(t, () => validateConfig({ ...minimal, memory: 'lots' }, { file: 'hello.yaml' }));
  t.is(err.message, 'hello.yaml: memory: expected a size like "256MiB", got "lots"');
  t.is(err.field, 'memory');
});

test('memory outside the limits says what the limits are', (t) => {
  const err = configError(t, () => validateConfig({ ...minimal, memory: '1MiB' }));
  t.is(err.message, 'memory: expected between 2MiB and 64GiB, got 1MiB');
});

test('memory that is not a multiple of 4 KiB is refused', (t) => {
  t.regex(configError(t, () => validateConfig({ ...minimal, memory: 4 * 1024 * 1024 + 1 })).message, /multiple of 4KiB/);
});

test('an unknown field suggests the one meant', (t) => {
  const err = configError(t, () => validateConfig({ ...minimal, memroy: '64MiB' }));
  t.true(err.message.startsWith('memroy: unknown field; did you mean memory?'), err.message);
});

test('an unknown nested field is named with its path', (t) => {
  const err = configError(t, () => validateConfig({ guest: { kernal: 'x' } }));
  t.true(err.message.startsWith('guest.kernal: unknown field; did you mean guest.kernel?'), err.message);
});

test('an unknown field with no near match lists the known ones', (t) => {
  const err = configError(t, () => validateConfig({ ...minimal, colour: 'blue' }));
  t.is(err.message, 'colour: unknown field (known: name, backend, strategy, board, devices, memory, vcpus, guest, serial, storage, timeLimit, slice, telemetry)');
});

test('a missing guest says what it needs', (t) => {
  t.is(configError(t, () => validateConfig({})).message, 'guest: missing; expected a mapping with kernel (path to the guest ELF) or linux (path to a Linux kernel), and cmdline');
  t.is(configError(t, () => validateConfig({ guest: {} })).message, 'guest.kernel: missing; expected the path of the guest ELF (or guest.linux: the path of a Linux kernel)');
});

test('a config that is not a mapping is refused', (t) => {
  t.regex(configError(t, () => validateConfig(null)).message, /^\(top level\): expected a mapping .* got null$/);
  t.regex(configError(t, () => validateConfig([1])).message, /got a list$/);
});

test('vcpus must be a whole number within the limit', (t) => {
  t.is(configError(t, () => validateConfig({ ...minimal, vcpus: 1.5 })).message, 'vcpus: expected a whole number ≥ 1, got 1.5');
  t.is(configError(t, () => validateConfig({ ...minimal, vcpus: '1' })).message, 'vcpus: expected a whole number ≥ 1, got "1"');
  t.regex(configError(t, () => validateConfig({ ...minimal, vcpus: 2 })).message, /^vcpus: at most 1 vCPU/);
});

test('a string field given another type says so', (t) => {
  t.is(configError(t, () => validateConfig({ ...minimal, name: 5 })).message, 'name: expected a string, got 5');
  t.is(configError(t, () => validateConfig({ guest: { kernel: ['a'] } })).message, 'guest.kernel: expected a string, got a list');
});

test('the command line must be printable ASCII of bounded length', (t) => {
  t.regex(configError(t, () => validateConfig({ guest: { kernel: 'k', cmdline: 'a\nb' } })).message, /^guest\.cmdline: expected printable ASCII/);
  t.regex(configError(t, () => validateConfig({ guest: { kernel: 'k', cmdline: 'x'.repeat(2048) } })).message, /at most 2047 characters, got 2048/);
});

test('serial output and input accept only their documented values', (t) => {
  t.is(configError(t, () => validateConfig({ ...minimal, serial: { output: 'file' } })).message, 'serial.output: expected stdout, none or buffer, got "file"');
  t.is(configError(t, () => validateConfig({ ...minimal, serial: { input: 'tty' } })).message, 'serial.input: expected stdin or none, got "tty"');
  t.deepEqual(validateConfig({ ...minimal, serial: { output: 'buffer', input: 'stdin' } }).serial, { output: 'buffer', input: 'stdin' });
});

test('durations are parsed for timeLimit and slice, and bad ones name the field', (t) => {
  const c = validateConfig({ ...minimal, timeLimit: '2m', slice: '5ms' });
  t.is(c.timeLimitMs, 120_000);
  t.is(c.sliceMs, 5);
  t.is(configError(t, () => validateConfig({ ...minimal, timeLimit: 'soon' })).message, 'timeLimit: expected a duration like "30s" or "500ms", got "soon"');
  t.regex(configError(t, () => validateConfig({ ...minimal, slice: '2s' })).message, /^slice: expected a duration between 1ms and 1s/);
});

test('a relative kernel path is resolved against the config file directory', (t) => {
  const c = validateConfig({ guest: { kernel: '../guests/hello.elf' } }, { file: '/etc/hyvisor/vms/hello.yaml' });
  t.is(c.guest.kernel, '/etc/hyvisor/guests/hello.elf');
});

test('an explicit base directory wins over the file directory', (t) => {
  const c = validateConfig({ guest: { kernel: 'k.elf' } }, { file: '/a/b.yaml', baseDir: '/srv' });
  t.is(c.guest.kernel, '/srv/k.elf');
});

test('YAML and JSON files load to the same config', (t) => {
  const dir = tempDir();
  const yamlFile = path.join(dir, 'vm.yaml');
  const jsonFile = path.join(dir, 'vm.json');
  fs.writeFileSync(yamlFile, 'name: hello\nmemory: 128MiB\nguest:\n  kernel: hello.elf\n  cmdline: quiet\n');
  fs.writeFileSync(jsonFile, JSON.stringify({ name: 'hello', memory: '128MiB', guest: { kernel: 'hello.elf', cmdline: 'quiet' } }));
  const fromYaml = loadConfigFile(yamlFile);
  t.deepEqual(loadConfigFile(jsonFile), fromYaml);
  t.is(fromYaml.memory, 128 * 1024 * 1024);
  t.is(fromYaml.guest.kernel, path.join(dir, 'hello.elf'));
});

test('a validation error from a file names the file', (t) => {
  const dir = tempDir();
  const file = path.join(dir, 'vm.yaml');
  fs.writeFileSync(file, 'memory: lots\nguest: { kernel: k }\n');
  t.is(configError(t, () => loadConfigFile(file)).message, `${file}: memory: expected a size like "256MiB", got "lots"`);
});

test('invalid YAML gives the line number', (t) => {
  const err = configError(t, () => parseConfigText('name: a\nguest:\n  kernel: [unclosed\n', 'vm.yaml'));
  t.regex(err.message, /^vm\.yaml: not valid YAML at line \d+, column \d+: /);
});

test('a duplicate YAML key is an error, not a silent override', (t) => {
  t.regex(configError(t, () => parseConfigText('name: a\nname: b\n', 'vm.yaml')).message, /^vm\.yaml: not valid YAML at line 2/);
});

test('invalid JSON names the file', (t) => {
  t.regex(configError(t, () => parseConfigText('{"name": ', 'vm.json')).message, /^vm\.json: not valid JSON: /);
});

test('a missing file says so', (t) => {
  const file = path.join(tempDir(), 'nope.yaml');
  t.is(configError(t, () => loadConfigFile(file)).message, `${file}: no such file`);
});

test('a directory given as the config file says so', (t) => {
  const dir = tempDir();
  t.is(configError(t, () => loadConfigFile(dir)).message, `${dir}: is a directory, expected a YAML or JSON file`);
});

test('parseSize reads units case-insensitively and refuses junk', (t) => {
  t.is(parseSize('256MiB'), 256 * 1024 ** 2);
  t.is(parseSize('1g'), 1024 ** 3);
  t.is(parseSize(' 4096 '), 4096);
  t.is(parseSize('1.5KiB'), 1536);
  t.is(parseSize(512), 512);
  for (const bad of ['lots', '', '-1', '1TiB', '0.3', 1.5, -4, NaN, null, {}, '1e3']) t.is(parseSize(bad), undefined, String(bad));
});

test('parseDuration reads ms, s, m, min and h', (t) => {
  t.is(parseDuration('500ms'), 500);
  t.is(parseDuration('10s'), 10_000);
  t.is(parseDuration('1.5s'), 1500);
  t.is(parseDuration('2min'), 120_000);
  t.is(parseDuration('1h'), 3_600_000);
  t.is(parseDuration(250), 250);
  for (const bad of ['10', 'soon', '5 days', -1, Infinity, true]) t.is(parseDuration(bad), undefined, String(bad));
});

test('formatSize uses the largest whole binary unit', (t) => {
  t.is(formatSize(64 * 1024 ** 2), '64MiB');
  t.is(formatSize(3 * 1024 ** 3), '3GiB');
  t.is(formatSize(1536), '1536B');
  t.is(formatSize(2048), '2KiB');
  t.is(formatSize(1000), '1000B');
});

test('guest.linux boots a Linux kernel with an initrd; paths resolve against the config file', (t) => {
  const c = validateConfig({ guest: { linux: 'vmlinuz', initrd: '../initramfs.cpio.gz', cmdline: 'console=ttyS0' } }, { file: '/vms/linux/vm.yaml' });
  t.deepEqual(c.guest, { boot: 'linux', kernel: '/vms/linux/vmlinuz', initrd: '/vms/initramfs.cpio.gz', cmdline: 'console=ttyS0' });
  t.deepEqual(validateConfig({ guest: { linux: '/k' } }).guest, { boot: 'linux', kernel: '/k', cmdline: '' }, 'the initrd is optional');
});

test('guest.linux and guest.kernel exclude each other; an initrd or a workload names the kernel it needs', (t) => {
  t.is(configError(t, () => validateConfig({ guest: { kernel: 'a.elf', linux: 'vmlinuz' } }, { file: 'vm.yaml' })).message,
    'vm.yaml: guest: give kernel (a Hyvisor guest ELF) or linux (a Linux bzImage or vmlinux), not both');
  t.is(configError(t, () => validateConfig({ guest: { kernel: 'a.elf', initrd: 'i.cpio' } })).message,
    'guest.initrd: only goes with guest.linux (a Linux kernel); a guest ELF takes no initrd');
  t.is(configError(t, () => validateConfig({ guest: { linux: 'vmlinuz', workload: 'cpu' } })).message,
    'guest.workload: only goes with guest.kernel (the testbed guest), not with guest.linux');
  t.is(configError(t, () => validateConfig({ guest: { linux: '' } })).message,
    'guest.linux: expected the path of a Linux kernel (bzImage or vmlinux), got an empty string');
  t.is(configError(t, () => validateConfig({ guest: { linux: 'k', initrd: 7 } })).message, 'guest.initrd: expected a string, got 7');
  t.is(configError(t, () => validateConfig({ guest: { linx: 'k' } })).message.split(';')[0], 'guest.linx: unknown field');
});
