/**
 * Errors carry, as fields, what their one-line message says: the failing operation and the values
 * involved, so code can react without parsing the message.
 */
import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BackendError, CompositionError, ConfigError, GuestImageError, HyvisorError, WiringError } from './errors.js';
import { validateConfig } from './config/validate.js';
import { loadConfigFile } from './config/load.js';
import { InterruptQueue } from './backend/interrupt-queue.js';
import { PioBus } from './bus/pio-bus.js';
import { MmioBus } from './bus/mmio-bus.js';
import { HypercallTable } from './bus/hypercall-table.js';
import { assertLive } from './backend/resources.js';

const noDevice = { read: () => 0, write: () => {} };

test('validateConfig: ConfigError names the field and the file, the message stays one line', (t) => {
  const err = t.throws(() => validateConfig({ name: 'x', memory: 'lots', guest: { kernel: 'k.elf' } }, { file: 'vm.yaml' }), { instanceOf: ConfigError })!;
  t.is(err.field, 'memory');
  t.is(err.file, 'vm.yaml');
  t.is(err.code, 'CONFIG');
  t.false(err.message.includes('\n'));
  t.true(err.message.startsWith('vm.yaml: memory: '));
});

test('loadConfigFile: a missing file is a ConfigError with file and no field', (t) => {
  const file = path.join(os.tmpdir(), `hyvisor-no-such-${process.pid}.yaml`);
  const err = t.throws(() => loadConfigFile(file), { instanceOf: ConfigError })!;
  t.is(err.file, file);
  t.is(err.field, undefined);
  const bad = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'hyvisor-err-')), 'bad.json');
  fs.writeFileSync(bad, '{ nope');
  const parse = t.throws(() => loadConfigFile(bad), { instanceOf: ConfigError })!;
  t.is(parse.file, bad);
});

test('ConfigError: a string second argument is the field (the older form), value is kept when given', (t) => {
  t.is(new ConfigError('m', 'serial.output').field, 'serial.output');
  const e = new ConfigError('m', { field: 'memory', value: 'lots' });
  t.is(e.value, 'lots');
  t.is(new ConfigError('m', { field: 'memory' }).value, undefined);
});

test('BackendError: operation and values of a refused interrupt vector', (t) => {
  const err = t.throws(() => new InterruptQueue().push(300), { instanceOf: BackendError })!;
  t.is(err.operation, 'queueInterrupt');
  t.deepEqual(err.values, { vector: 300 });
  t.is(err.errno, undefined);
});

test('BackendError: assertLive names the operation on a disposed resource', (t) => {
  const err = t.throws(() => assertLive({ isDisposed: true }, 'createVcpu', 'VM vm0'), { instanceOf: BackendError })!;
  t.is(err.operation, 'createVcpu');
  t.is(err.message, 'createVcpu: VM vm0 is disposed');
});

test('BackendError: errno and operation from the details object', (t) => {
  const err = new BackendError('KVM_RUN failed: Invalid argument (EINVAL)', { operation: 'KVM_RUN', errno: 22 });
  t.is(err.operation, 'KVM_RUN');
  t.is(err.errno, 22);
  t.true(err instanceof HyvisorError);
});

test('WiringError: a port clash names the operation, the range and the owner', (t) => {
  const bus = new PioBus();
  bus.register('com1', 0x3f8, 8, noDevice);
  const err = t.throws(() => bus.register('com1-again', 0x3fc, 2, noDevice), { instanceOf: WiringError })!;
  t.is(err.operation, 'PioBus.register');
  t.deepEqual(err.values, { name: 'com1-again', base: 0x3fc, length: 2, owner: 'com1' });
  const mmio = new MmioBus();
  mmio.register('lapic', 0xfee00000, 0x1000, noDevice);
  t.is(t.throws(() => mmio.register('x', 0xfee00800, 16, noDevice), { instanceOf: WiringError })!.values?.['owner'], 'lapic');
  const calls = new HypercallTable();
  calls.register(3, 'a', () => 0);
  t.deepEqual(t.throws(() => calls.register(3, 'b', () => 0), { instanceOf: WiringError })!.values, { name: 'b', nr: 3, owner: 'a' });
});

test('GuestImageError and CompositionError: image and subject', (t) => {
  t.is(new GuestImageError('k: bad', { image: 'k', field: 'e_machine' }).field, 'e_machine');
  const c = new CompositionError('m', [], [], 'strategy pv');
  t.is(c.subject, 'strategy pv');
  t.deepEqual(c.missing, []);
});
