import test from 'ava';
import { ConfigError } from '../errors.js';
import { parseListen, validateConfig } from './validate.js';

const minimal = { guest: { kernel: '/guests/hello.elf' } };

test('no telemetry section means no telemetry', (t) => {
  t.is(validateConfig(minimal).telemetry, undefined);
});

test('telemetry: true listens on loopback at the default port', (t) => {
  t.deepEqual(validateConfig({ ...minimal, telemetry: true }).telemetry, { host: '127.0.0.1', port: 9464, intervalMs: 100 });
});

test('telemetry listen, token and interval are read', (t) => {
  const c = validateConfig({ ...minimal, telemetry: { listen: '0.0.0.0:9000', token: 'secret-123', interval: '250ms' } });
  t.deepEqual(c.telemetry, { host: '0.0.0.0', port: 9000, intervalMs: 250, token: 'secret-123' });
});

test('a bad telemetry listen names the field and the form', (t) => {
  const e = t.throws(() => validateConfig({ ...minimal, telemetry: { listen: 'here' } }), { instanceOf: ConfigError }) as ConfigError;
  t.regex(e.message, /^telemetry\.listen: expected \[HOST:\]PORT/);
});

test('a short telemetry token is refused', (t) => {
  t.throws(() => validateConfig({ ...minimal, telemetry: { token: 'abc' } }), { message: /telemetry\.token: expected at least 8/ });
});

test('an unknown telemetry field suggests the near one', (t) => {
  t.throws(() => validateConfig({ ...minimal, telemetry: { intervall: '1s' } }), { message: /did you mean telemetry\.interval/ });
});

test('parseListen takes PORT, HOST:PORT and [v6]:PORT', (t) => {
  t.deepEqual(parseListen('9464'), { host: '127.0.0.1', port: 9464 });
  t.deepEqual(parseListen('localhost:80'), { host: 'localhost', port: 80 });
  t.deepEqual(parseListen('[::1]:9464'), { host: '::1', port: 9464 });
  t.is(parseListen('70000'), undefined);
  t.is(parseListen('a:b'), undefined);
});
