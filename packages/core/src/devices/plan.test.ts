import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError, WiringError } from '../errors.js';
import { validateConfig } from '../config/validate.js';
import type { DeviceDefinition } from './device.js';
import { planDevices } from './plan.js';
import { BoardRegistry, DeviceRegistry } from './registry.js';

const nop = { read: () => 0, write: () => {} };
function def(name: string, base: number, count: number, extra: Partial<DeviceDefinition> = {}): DeviceDefinition {
  return { name, description: `${name} device`, ports: [{ base, count }], create: () => ({ pio: nop }), ...extra };
}

function registries() {
  const devices = new DeviceRegistry();
  devices.register(def('uart16550', 0x3f8, 8, { defaultInstanceName: 'com1', irq: 4, options: { output: { type: 'enum', values: ['stdout', 'buffer', 'none'], description: 'sink' } } }));
  devices.register(def('debug-exit', 0xf4, 4));
  devices.register(def('bench-counter', 0x510, 2, { defaultInstanceName: 'bench' }));
  devices.register(def('delay', 0x530, 1, {
    options: {
      delay: { type: 'duration', description: 'how long', default: 1, min: 0, max: 100 },
      backing: { type: 'path', description: 'a file' },
      count: { type: 'integer', description: 'n', min: 1, max: 8 },
      verbose: { type: 'boolean', description: 'chatty' },
    },
  }));
  const boards = new BoardRegistry();
  boards.register({ name: 'minimal', description: 'uart and exit', devices: [{ device: 'uart16550' }, { device: 'debug-exit' }] });
  boards.register({ name: 'testbed', description: 'plus bench', devices: [{ device: 'uart16550' }, { device: 'debug-exit' }, { device: 'bench-counter' }] });
  return { devices, boards };
}

const base = { guest: { kernel: '/g.elf' } };
function plan(raw: Record<string, unknown>, file?: string) {
  const { devices, boards } = registries();
  return planDevices(validateConfig({ ...base, ...raw }, file !== undefined ? { file, baseDir: '/cfg' } : { baseDir: '/cfg' }), devices, boards);
}
function msg(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

test('a config without board gets the minimal board: the test devices are opt-in', (t) => {
  const p = plan({});
  t.is(p.board, 'minimal');
  t.deepEqual(p.devices.map((d) => d.name), ['com1', 'debug-exit']);
  t.deepEqual(plan({ board: 'testbed' }).devices.map((d) => d.name), ['com1', 'debug-exit', 'bench']);
});

test('the minimal board has COM1 and the exit port only; devices are added after it', (t) => {
  const p = plan({ board: 'minimal', devices: ['bench-counter', { device: 'delay', port: 0x600, delay: '50us' }] });
  t.deepEqual(p.devices.map((d) => [d.name, d.ports[0]!.base, d.origin]), [
    ['com1', 0x3f8, 'board minimal'], ['debug-exit', 0xf4, 'board minimal'], ['bench', 0x510, 'devices[0]'], ['delay', 0x600, 'devices[1]'],
  ]);
  t.is(p.devices[3]!.options.delay, 0.05);
});

test('an entry with the instance name of a board device replaces it in place', (t) => {
  const p = plan({ board: 'minimal', devices: [{ device: 'uart16550', port: '0x2f8', irq: 3, output: 'buffer' }] });
  t.deepEqual(p.devices.map((d) => [d.name, d.ports[0]!.base, d.irq]), [['com1', 0x2f8, 3], ['debug-exit', 0xf4, undefined]]);
  t.deepEqual(p.devices[0]!.options, { output: 'buffer' });
});

test('options are converted and defaulted: durations in ms, paths absolute, integers from hex', (t) => {
  const p = plan({ board: 'minimal', devices: [{ device: 'delay', backing: 'disk.img', count: '0x4', verbose: true }] });
  t.deepEqual(p.devices[2]!.options, { delay: 1, backing: path.resolve('/cfg', 'disk.img'), count: 4, verbose: true });
});

test('unknown board and device names list the known ones and suggest the near one', (t) => {
  t.is(msg(() => plan({ board: 'testbd' })), "board: unknown board 'testbd'; did you mean testbed? (known: minimal, testbed)");
  t.is(msg(() => plan({ devices: ['bench-countr'] }, 'vm.yaml')),
    "vm.yaml: devices[0].device: unknown device 'bench-countr'; did you mean bench-counter? (known: bench-counter, debug-exit, delay, uart16550)");
});

test('an unknown option names the entry, suggests a near one and lists the options', (t) => {
  t.is(msg(() => plan({ devices: [{ device: 'delay', dealy: '1ms' }] }, 'vm.yaml')),
    'vm.yaml: devices[0].dealy: unknown option of delay; did you mean delay? (its options: delay, backing, count, verbose; every device: name, port)');
  t.regex(msg(() => plan({ devices: [{ device: 'delay', prt: 0x700 }] })), /devices\[0\]\.prt: unknown option of delay; did you mean port\?/);
});

test('bad option values say what is expected', (t) => {
  t.is(msg(() => plan({ devices: [{ device: 'delay', delay: 'soon' }] })), 'devices[0].delay: expected a duration like "50us" or "10ms", got "soon"');
  t.is(msg(() => plan({ devices: [{ device: 'delay', delay: '1s' }] })), 'devices[0].delay: expected a value between 0 ms and 100 ms, got "1s"');
  t.is(msg(() => plan({ devices: [{ device: 'delay', count: 9 }] })), 'devices[0].count: expected a value between 1 and 8, got 9');
  t.is(msg(() => plan({ devices: [{ device: 'uart16550', name: 'com2', output: 'printer' }] })), 'devices[0].output: expected one of stdout, buffer, none, got "printer"');
  t.is(msg(() => plan({ devices: [{ device: 'delay', verbose: 'yes' }] })), 'devices[0].verbose: expected true or false, got "yes"');
});

test('irq on a device without an interrupt line is refused', (t) => {
  t.is(msg(() => plan({ devices: [{ device: 'delay', irq: 5 }] })), 'devices[0].irq: delay has no interrupt line; leave irq out');
});

test('two devices on the same ports are a clash naming both and the fix', (t) => {
  t.is(msg(() => plan({ board: 'testbed', devices: [{ device: 'delay', name: 'd2', port: 0x511 }] }, 'vm.yaml')),
    "vm.yaml: devices[0]: delay 'd2' at ports [0x511, 0x512) clashes with 'bench' (bench-counter, board testbed) at [0x510, 0x512); move one with port:, or give this entry name: bench to replace it");
  t.regex(msg(() => plan({ board: 'minimal', devices: [{ device: 'delay', name: 'a' }, { device: 'delay', name: 'b' }] })), /^devices\[1\]: delay 'b' at ports \[0x530, 0x531\) clashes with 'a' \(delay, devices\[0\]\)/);
});

test('two config entries with one instance name are refused', (t) => {
  t.is(msg(() => plan({ devices: [{ device: 'delay' }, { device: 'delay', port: 0x700 }] })),
    "devices[1]: instance name 'delay' is already used by devices[0]; give one of them another name: (e.g. name: delay-2)");
});

test('the devices list itself is checked when the config is validated', (t) => {
  t.is(msg(() => validateConfig({ ...base, devices: 'bench' })), 'devices: expected a list of devices like [bench-counter, { device: uart16550, name: com2, port: 0x2f8, irq: 3 }], got "bench"');
  t.is(msg(() => validateConfig({ ...base, devices: [{ devcie: 'uart16550' }] })), 'devices[0].device: missing; expected device: NAME (e.g. bench-counter) or module: PATH (is devices[0].devcie a typo?)');
  t.is(msg(() => validateConfig({ ...base, devices: [{ device: 'x', port: 0x10000 }] })), 'devices[0].port: expected a port number 0..0xffff like 0x2f8, got 65536');
  t.is(msg(() => validateConfig({ ...base, devices: [{ device: 'x', irq: 99 }] })), 'devices[0].irq: expected an interrupt number 0..23, got 99');
  t.is(msg(() => validateConfig({ ...base, board: 'My Board' })), 'board: expected a board name like "minimal", "testbed" or "pc", got "My Board"');
  t.is(msg(() => validateConfig({ ...base, devices: [{ device: 'x', module: './m.js' }] })), 'devices[0]: give device (a registered device) or module (a third-party device), not both');
});

test('a device module is loaded and its exported definition used; bad modules get one line', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hyvisor-devmod-'));
  fs.writeFileSync(path.join(dir, 'dev.mjs'), [
    "export const scratch = { name: 'scratch', description: 'scratch registers', ports: [{ base: 0x540, count: 4 }], create: () => ({ pio: { read: () => 0, write() {} } }) };",
    "export const junk = { name: 'Junk' };",
  ].join('\n'));
  const { devices, boards } = registries();
  const p = planDevices(validateConfig({ ...base, board: 'minimal', devices: [{ module: './dev.mjs', export: 'scratch' }] }, { file: 'vm.yaml', baseDir: dir }), devices, boards);
  t.deepEqual(p.devices.map((d) => [d.name, d.definition.description]), [['com1', 'uart16550 device'], ['debug-exit', 'debug-exit device'], ['scratch', 'scratch registers']]);
  const bad = (exp: string) => msg(() => planDevices(validateConfig({ ...base, devices: [{ module: './dev.mjs', export: exp }] }, { file: 'vm.yaml', baseDir: dir }), devices, boards));
  t.regex(bad('junk'), /^vm\.yaml: devices\[0\]\.export: 'junk' of .*dev\.mjs is not a device definition: the device has no valid name/);
  t.regex(bad('nope'), /^vm\.yaml: devices\[0\]\.export: .*dev\.mjs has no export 'nope' \(it exports: junk, scratch\)/);
  t.regex(msg(() => validateConfig({ ...base, devices: [{ module: './missing.mjs' }] }, { file: 'vm.yaml', baseDir: dir })), /^vm\.yaml: devices\[0\]\.module: module not found: "\.\/missing\.mjs"/);
});

test('registries refuse duplicates and malformed definitions; provide keeps the first', (t) => {
  const { devices, boards } = registries();
  t.throws(() => devices.register(def('debug-exit', 0xf4, 4)), { instanceOf: WiringError, message: 'device debug-exit is registered twice' });
  t.throws(() => devices.register(def('bad', 0xfffe, 4)), { instanceOf: WiringError, message: /bad port range/ });
  devices.provide(def('debug-exit', 0x99, 1));
  t.is(devices.get('debug-exit').ports[0]!.base, 0xf4);
  t.throws(() => boards.register({ name: 'minimal', description: '', devices: [] }), { instanceOf: WiringError });
  t.deepEqual(boards.list(devices).find((b) => b.name === 'testbed')!.devices, [
    { device: 'uart16550', name: 'com1' }, { device: 'debug-exit', name: 'debug-exit' }, { device: 'bench-counter', name: 'bench' },
  ]);
  t.deepEqual(devices.list().find((d) => d.name === 'delay')!.options.map((o) => o.name), ['delay', 'backing', 'count', 'verbose']);
});
