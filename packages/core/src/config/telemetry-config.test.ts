import test from 'ava';
import { ConfigError } from '../errors.js';
import { parseListen, parseOrigin, validateConfig } from './validate.js';

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

test('telemetry allowedOrigins are read and normalized', (t) => {
  const c = validateConfig({ ...minimal, telemetry: { allowedOrigins: ['http://dash.local:8080', 'HTTPS://Grafana.Example.com:443/', 'http://dash.local:8080'] } });
  t.deepEqual(c.telemetry, { host: '127.0.0.1', port: 9464, intervalMs: 100, allowedOrigins: ['http://dash.local:8080', 'https://grafana.example.com'] });
  t.false('allowedOrigins' in validateConfig({ ...minimal, telemetry: { allowedOrigins: [] } }).telemetry!, 'an empty list is no list');
});

test('a bad telemetry allowedOrigins gets a one-line error naming the field', (t) => {
  const bad = (allowedOrigins: unknown, field: RegExp) => {
    const e = t.throws(() => validateConfig({ ...minimal, telemetry: { allowedOrigins } }, { file: 'vm.yaml' }), { instanceOf: ConfigError }) as ConfigError;
    t.regex(e.message, field, JSON.stringify(allowedOrigins));
    t.false(e.message.includes('\n'), 'one line');
  };
  bad('http://dash.local:8080', /^vm\.yaml: telemetry\.allowedOrigins: expected a list of origins like \["http:\/\/localhost:8080"\], got "http/);
  bad({ a: 1 }, /^vm\.yaml: telemetry\.allowedOrigins: expected a list .* got a mapping$/);
  bad(['http://ok:1', 'dash.local:8080'], /^vm\.yaml: telemetry\.allowedOrigins\[1\]: expected an origin scheme:\/\/host\[:port\] .* got "dash\.local:8080"$/);
  bad(['http://a.example/dashboard'], /telemetry\.allowedOrigins\[0\]: .* got "http:\/\/a\.example\/dashboard"$/);
  bad([8080], /telemetry\.allowedOrigins\[0\]: .* got 8080$/);
  bad(['http://x\ny'], /telemetry\.allowedOrigins\[0\]: .* got "http:\/\/x\\ny"$/);
  const e = t.throws(() => validateConfig({ ...minimal, telemetry: { allowedOrigins: ['null'] } }), { instanceOf: ConfigError }) as ConfigError;
  t.is(e.field, 'telemetry.allowedOrigins[0]');
});

test('parseOrigin accepts scheme://host[:port] only', (t) => {
  t.is(parseOrigin('http://127.0.0.1:9464'), 'http://127.0.0.1:9464');
  t.is(parseOrigin('https://[::1]:8443'), 'https://[::1]:8443');
  t.is(parseOrigin('http://Host.example:80'), 'http://host.example');
  for (const no of ['null', '', ' http://a', 'http://a\tb', 'host:80', 'http://a/b', 'http://a/?q', 'http://a/#f', 'http://u:p@a', 'file:///tmp']) t.is(parseOrigin(no), undefined, no);
});

test('parseListen takes PORT, HOST:PORT and [v6]:PORT', (t) => {
  t.deepEqual(parseListen('9464'), { host: '127.0.0.1', port: 9464 });
  t.deepEqual(parseListen('localhost:80'), { host: 'localhost', port: 80 });
  t.deepEqual(parseListen('[::1]:9464'), { host: '::1', port: 9464 });
  t.is(parseListen('70000'), undefined);
  t.is(parseListen('a:b'), undefined);
});
