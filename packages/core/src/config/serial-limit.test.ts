import test from 'ava';
import { ConfigError } from '../errors.js';
import { validateConfig } from './validate.js';

const minimal = { guest: { kernel: '/guests/hello.elf' } };

test('serial.bufferLimit takes a size and is absent unless given', (t) => {
  t.deepEqual(validateConfig({ ...minimal, serial: { output: 'buffer', bufferLimit: '1MiB' } }).serial, { output: 'buffer', input: 'none', bufferLimit: 1024 * 1024 });
  t.is(validateConfig({ ...minimal, serial: { output: 'buffer' } }).serial.bufferLimit, undefined);
});

test('a bad serial.bufferLimit names the field and the expected form', (t) => {
  for (const bad of ['lots', 0, '4GiB']) {
    const err = t.throws(() => validateConfig({ ...minimal, serial: { output: 'buffer', bufferLimit: bad } }), { instanceOf: ConfigError });
    t.regex(err!.message, /^serial\.bufferLimit: expected a size like "16MiB"/);
  }
});
