import test from 'ava';
import * as net from 'node:net';
import { ConfigError, TelemetryHub } from '@hyvisor/core';
import { TelemetryServer, TOKEN_ENV, normalizeOrigin, ownOrigins } from './server.js';
import { parsePrometheus, promValue } from './prometheus.js';
import { fakeTarget, TestClient } from './test-helpers.js';

const TOKEN = 'test-token-0123';

async function start(hub = new TelemetryHub(), options: Parameters<typeof TelemetryServer.start>[1] = {}) {
  const target = fakeTarget(hub);
  const server = await TelemetryServer.start(target, { port: 0, intervalMs: 20, env: {}, ...options });
  return { target, server, hub };
}

test('the hello describes the VM, its facets and the protocol version', async (t) => {
  const { server } = await start();
  t.teardown(() => server.close());
  const c = await TestClient.open(server.wsUrl);
  const hello = await c.next((m) => m.type === 'hello');
  t.is(hello.protocol, 1);
  t.is(hello.vm.name, 'fake-vm');
  t.is(hello.vm.backend.name, 'fake');
  t.deepEqual(Object.keys(hello.vm.strategy.facets), ['cpu', 'memory', 'interrupt', 'timer', 'io']);
  t.is(hello.vm.strategy.facets.interrupt.name, 'emulated-pic-apic');
  t.is(hello.intervalMs, 20);
  t.false(hello.control);
  t.true(hello.topics.includes('exits') && hello.topics.includes('events'));
});

test('a subscription brings samples of that topic only, until unsubscribed', async (t) => {
  const { server, hub } = await start();
  t.teardown(() => server.close());
  hub.counters.values[0] = 5;
  const c = await TestClient.open(server.wsUrl);
  c.send({ type: 'subscribe', id: 'a', topics: ['exits'] });
  const ack = await c.next((m) => m.type === 'subscribed');
  t.deepEqual(ack, { type: 'subscribed', id: 'a', topics: ['exits'], everyMs: 0 });
  const s = await c.next((m) => m.type === 'sample' && m.data.intervalMs > 0);
  t.is(s.topic, 'exits');
  t.is(s.data.byKind.io.total, 5);
  t.is(s.dropped, 0);
  t.true(c.messages.every((m) => m.type !== 'sample' || m.topic === 'exits'));
  c.send({ type: 'unsubscribe', id: 'b', topics: ['exits'] });
  await c.next((m) => m.type === 'subscribed' && m.id === 'b');
  await new Promise((r) => setTimeout(r, 60)); // a sample already in flight may still land
  const n = c.messages.length;
  await new Promise((r) => setTimeout(r, 120));
  t.is(c.messages.length, n, 'no samples after unsubscribing');
});

test('discrete events reach subscribers of events', async (t) => {
  const { server, hub } = await start();
  t.teardown(() => server.close());
  const c = await TestClient.open(server.wsUrl);
  c.send({ type: 'subscribe', topics: ['events'] });
  await c.next((m) => m.type === 'subscribed');
  hub.emit({ type: 'error', time: 1, message: 'guest crashed' });
  const e = await c.next((m) => m.type === 'event');
  t.deepEqual(e, { type: 'event', dropped: 0, event: { type: 'error', time: 1, message: 'guest crashed' } });
});

test('bad messages get an error reply and the connection survives', async (t) => {
  const { server } = await start();
  t.teardown(() => server.close());
  const c = await TestClient.open(server.wsUrl);
  c.send('{oops');
  t.is((await c.next((m) => m.type === 'error' && m.code === 'bad-json')).type, 'error');
  c.send({ type: 'subscribe', id: 7, topics: ['nonsense'] });
  const e = await c.next((m) => m.type === 'error' && m.id === 7);
  t.is(e.code, 'unknown-topic');
  c.send({ type: 'warp' });
  t.is((await c.next((m) => m.code === 'unknown-type')).type, 'error');
  c.ws.send(Buffer.from([1, 2, 3]), { binary: true });
  t.regex((await c.next((m) => m.type === 'error' && /binary/.test(m.message))).message, /text frame/);
  c.send({ type: 'ping', id: 'still-there' });
  t.is((await c.next((m) => m.type === 'ok' && m.id === 'still-there')).op, 'ping');
  t.is(c.closeCode, undefined);
});

test('control on loopback needs the token; reading does not', async (t) => {
  const { server, target } = await start(undefined, { token: TOKEN });
  t.teardown(() => server.close());
  const reader = await TestClient.open(server.wsUrl);
  t.false((await reader.next((m) => m.type === 'hello')).control);
  reader.send({ type: 'control', id: 1, op: 'pause' });
  const denied = await reader.next((m) => m.id === 1);
  t.is(denied.code, 'unauthorized');
  t.deepEqual(target.calls, []);
  reader.send({ type: 'control', id: 2, op: 'pause', token: 'wrong-token-xx' });
  t.is((await reader.next((m) => m.id === 2)).code, 'unauthorized');

  const controller = await TestClient.open(`${server.wsUrl}?token=${TOKEN}`);
  t.true((await controller.next((m) => m.type === 'hello')).control);
  controller.send({ type: 'control', id: 3, op: 'pause' });
  t.deepEqual(await controller.next((m) => m.id === 3), { type: 'ok', id: 3, op: 'pause', state: 'paused', intervalMs: 20 });
  reader.send({ type: 'auth', id: 4, token: TOKEN });
  t.is((await reader.next((m) => m.id === 4)).type, 'ok');
  reader.send({ type: 'control', id: 5, op: 'resume' });
  t.is((await reader.next((m) => m.id === 5)).state, 'running');
  const bearer = await TestClient.open(server.wsUrl, { authorization: `Bearer ${TOKEN}` });
  bearer.send({ type: 'control', id: 6, op: 'stop' });
  t.is((await bearer.next((m) => m.id === 6)).type, 'ok');
  t.deepEqual(target.calls, ['pause', 'resume', 'stop']);
  await t.throwsAsync(TestClient.open(`${server.wsUrl}?token=not-the-token`), { message: 'HTTP 401' });
});

test('without any token, control is refused with the way to enable it', async (t) => {
  const { server, target } = await start();
  t.teardown(() => server.close());
  const c = await TestClient.open(server.wsUrl);
  c.send({ type: 'control', id: 1, op: 'pause' });
  t.regex((await c.next((m) => m.id === 1)).message, /HYVISOR_TELEMETRY_TOKEN/);
  t.deepEqual(target.calls, []);
});

test('set-interval changes the sample interval and tells every client', async (t) => {
  const { server } = await start(undefined, { token: TOKEN });
  t.teardown(() => server.close());
  const a = await TestClient.open(`${server.wsUrl}?token=${TOKEN}`);
  const b = await TestClient.open(server.wsUrl);
  b.send({ type: 'subscribe', topics: ['vcpu'] });
  await b.next((m) => m.type === 'sample');
  a.send({ type: 'control', id: 1, op: 'set-interval', intervalMs: 50 });
  t.is((await a.next((m) => m.id === 1)).intervalMs, 50);
  t.is((await b.next((m) => m.type === 'interval')).intervalMs, 50);
  const from = b.messages.length;
  const s = await b.next((m) => m.type === 'sample' && m.data.intervalMs > 0, 5000, from);
  t.true(s.data.intervalMs >= 40);
  t.is(server.intervalMs, 50);
});

test('binding to a non-loopback address without a token refuses to start', async (t) => {
  const target = fakeTarget();
  const err = await t.throwsAsync(TelemetryServer.start(target, { host: '0.0.0.0', port: 0, env: {} }), { instanceOf: ConfigError });
  t.regex(err!.message, /needs a token: set telemetry\.token in the config or HYVISOR_TELEMETRY_TOKEN/);
});

test('a remote binding checks the token at connect, for reading too', async (t) => {
  const target = fakeTarget();
  const server = await TelemetryServer.start(target, { host: '0.0.0.0', port: 0, env: { [TOKEN_ENV]: TOKEN } });
  t.teardown(() => server.close());
  const url = `ws://127.0.0.1:${server.port}/ws`;
  await t.throwsAsync(TestClient.open(url), { message: 'HTTP 401' });
  const c = await TestClient.open(`${url}?token=${TOKEN}`);
  t.true((await c.next((m) => m.type === 'hello')).control);
  const noToken = await fetch(`http://127.0.0.1:${server.port}/metrics`);
  t.is(noToken.status, 401);
  const withToken = await fetch(`http://127.0.0.1:${server.port}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
  t.is(withToken.status, 200);
});

test('a WebSocket upgrade from a foreign web origin is refused with 403; own origins and non-browser clients connect', async (t) => {
  const { server } = await start();
  t.teardown(() => server.close());
  const port = server.port;
  for (const origin of ['http://evil.example', `http://evil.example:${port}`, 'null', `https://127.0.0.1:${port}`, `http://127.0.0.1:${port + 1}`]) {
    await t.throwsAsync(TestClient.open(server.wsUrl, { Origin: origin }), { message: 'HTTP 403' }, origin);
  }
  // A DNS-rebound name reaches the loopback server with a matching Host: still refused.
  await t.throwsAsync(TestClient.open(server.wsUrl, { Origin: `http://rebound.example:${port}`, Host: `rebound.example:${port}` }), { message: 'HTTP 403' });
  const raw = await new Promise<string>((resolve) => {
    const sock = net.connect(port, '127.0.0.1', () => {
      sock.write(`GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nOrigin: http://evil.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    });
    let text = '';
    sock.on('data', (d) => { text += String(d); });
    sock.on('close', () => resolve(text));
  });
  t.regex(raw, /^HTTP\/1\.1 403 Forbidden/);
  t.regex(raw, /allowedOrigins/);
  for (const origin of [server.url, `http://localhost:${port}`, `http://[::1]:${port}`, `HTTP://LOCALHOST:${port}/`]) {
    const c = await TestClient.open(server.wsUrl, { Origin: origin });
    t.is((await c.next((m) => m.type === 'hello')).type, 'hello', origin);
    c.close();
  }
  const plain = await TestClient.open(server.wsUrl);
  t.is((await plain.next((m) => m.type === 'hello')).type, 'hello', 'no Origin: not a browser, unaffected');
  plain.close();
});

test('allowedOrigins admits listed origins; a bad entry refuses to start', async (t) => {
  const { server } = await start(undefined, { allowedOrigins: ['https://Dash.Example.com:443', 'http://grafana.local:3000'] });
  t.teardown(() => server.close());
  for (const origin of ['https://dash.example.com', 'http://grafana.local:3000']) {
    const c = await TestClient.open(server.wsUrl, { Origin: origin });
    t.is((await c.next((m) => m.type === 'hello')).type, 'hello', origin);
    c.close();
  }
  await t.throwsAsync(TestClient.open(server.wsUrl, { Origin: 'http://grafana.local:3001' }), { message: 'HTTP 403' });
  await t.throwsAsync(TelemetryServer.start(fakeTarget(), { port: 0, env: {}, allowedOrigins: ['dash.example.com/path'] }), { instanceOf: ConfigError, message: /allowed origin "dash\.example\.com\/path" is not an origin/ });
});

test('a remote binding also accepts the origin of the Host it is reached at (the token is needed anyway)', async (t) => {
  const server = await TelemetryServer.start(fakeTarget(), { host: '0.0.0.0', port: 0, env: { [TOKEN_ENV]: TOKEN } });
  t.teardown(() => server.close());
  const url = `ws://127.0.0.1:${server.port}/ws?token=${TOKEN}`;
  const c = await TestClient.open(url, { Origin: `http://myhost.lan:${server.port}`, Host: `myhost.lan:${server.port}` });
  t.is((await c.next((m) => m.type === 'hello')).type, 'hello');
  c.close();
  await t.throwsAsync(TestClient.open(url, { Origin: 'http://evil.example' }), { message: 'HTTP 403' });
});

test('own origins: the bound address plus loopback spellings; origins normalize like a browser', (t) => {
  t.deepEqual(ownOrigins('127.0.0.1', 9464), ['http://127.0.0.1:9464', 'http://localhost:9464', 'http://[::1]:9464']);
  t.deepEqual(ownOrigins('::1', 80), ['http://[::1]', 'http://localhost', 'http://127.0.0.1']);
  t.deepEqual(ownOrigins('10.0.0.5', 9464), ['http://10.0.0.5:9464']);
  t.is(normalizeOrigin('HTTPS://Example.COM:443'), 'https://example.com');
  t.is(normalizeOrigin('null'), undefined);
  t.is(normalizeOrigin('http://a.example/x'), undefined);
});

test('/metrics is the Prometheus text format with the server figures', async (t) => {
  const { server, hub } = await start();
  t.teardown(() => server.close());
  hub.counters.values[1] = 3; // exits.mmio
  const res = await fetch(`${server.url}/metrics`);
  t.is(res.status, 200);
  t.regex(res.headers.get('content-type')!, /^text\/plain; version=0\.0\.4/);
  const fams = parsePrometheus(await res.text());
  t.is(promValue(fams, 'hyvisor_exits_total', { kind: 'mmio', vm: 'fake-vm' }), 3);
  t.is(promValue(fams, 'hyvisor_telemetry_clients'), 0);
});

test('many clients at once each get the samples', async (t) => {
  const { server } = await start();
  t.teardown(() => server.close());
  const clients = await Promise.all(Array.from({ length: 24 }, () => TestClient.open(server.wsUrl)));
  for (const c of clients) c.send({ type: 'subscribe', topics: ['exits', 'io'] });
  await Promise.all(clients.map((c) => c.next((m) => m.type === 'sample' && m.topic === 'io' && m.data.intervalMs > 0)));
  t.is(server.clientCount, 24);
  for (const c of clients) c.close();
  t.pass();
});

test('a client that stops reading has messages dropped and counted, with bounded memory', async (t) => {
  const hub = new TelemetryHub();
  // Big samples: many counters with long names, so the socket backs up quickly.
  for (let i = 0; i < 4000; i++) hub.counters.define(`device.with.a.rather.long.counter.name.number.${i}`, 'x');
  const maxBufferedBytes = 256 * 1024;
  const { server } = await start(hub, { maxBufferedBytes, intervalMs: 10 });
  t.teardown(() => server.close());
  const slow = await TestClient.open(server.wsUrl);
  const healthy = await TestClient.open(server.wsUrl);
  healthy.send({ type: 'subscribe', topics: ['exits'] });
  slow.send({ type: 'subscribe', topics: ['counters', 'exits'] });
  await slow.next((m) => m.type === 'sample');
  const socket = (slow.ws as unknown as { _socket: net.Socket })._socket;
  socket.pause(); // stop reading: the kernel buffers fill, then the server's backlog grows
  const started = Date.now();
  let maxBuffered = 0;
  const serverSide = () => (server as unknown as { clients: Set<{ ws: { bufferedAmount: number }; dropped: number }> }).clients;
  while (server.droppedMessages < 50 && Date.now() - started < 20_000) {
    for (const c of serverSide()) maxBuffered = Math.max(maxBuffered, c.ws.bufferedAmount);
    await new Promise((r) => setTimeout(r, 10));
  }
  t.true(server.droppedMessages >= 50, `dropped ${server.droppedMessages}`);
  // Bounded: the backlog never exceeds the bound by more than one message (~ one counters sample).
  t.true(maxBuffered < maxBufferedBytes + 600 * 1024, `backlog reached ${maxBuffered} bytes`);
  // The healthy client never waited for the slow one.
  const fresh = healthy.messages.length;
  await healthy.next((m) => m.type === 'sample', 2000, fresh);
  // Reading again: the client learns how many it missed.
  socket.resume();
  const seen = await slow.next((m) => m.type === 'sample' && m.dropped > 0, 15_000);
  t.true(seen.dropped > 0);
  const metrics = parsePrometheus(await (await fetch(`${server.url}/metrics`)).text());
  t.true(promValue(metrics, 'hyvisor_telemetry_dropped_messages_total')! >= seen.dropped);
});

test('a client stuck for longer than the stall limit is closed', async (t) => {
  const hub = new TelemetryHub();
  for (let i = 0; i < 4000; i++) hub.counters.define(`device.with.a.rather.long.counter.name.number.${i}`, 'x');
  const { server } = await start(hub, { maxBufferedBytes: 64 * 1024, intervalMs: 10, stallCloseMs: 300 });
  t.teardown(() => server.close());
  const slow = await TestClient.open(server.wsUrl);
  slow.send({ type: 'subscribe', topics: ['counters'] });
  await slow.next((m) => m.type === 'sample');
  (slow.ws as unknown as { _socket: net.Socket })._socket.pause();
  const started = Date.now();
  while (server.clientCount > 0 && Date.now() - started < 20_000) await new Promise((r) => setTimeout(r, 20));
  t.is(server.clientCount, 0);
});

test('the dashboard and its script are served with a no-network policy', async (t) => {
  const { server } = await start();
  t.teardown(() => server.close());
  const page = await fetch(`${server.url}/`);
  t.is(page.status, 200);
  t.regex(page.headers.get('content-security-policy')!, /default-src 'none'/);
  const html = await page.text();
  t.regex(html, /<script src="dashboard.js">/);
  t.notRegex(html, /https?:\/\//, 'nothing fetched from the network');
  const js = await (await fetch(`${server.url}/dashboard.js`)).text();
  t.notRegex(js, /https?:\/\//);
  t.is((await fetch(`${server.url}/nope`)).status, 404);
});

test('close() resolves once the clients are gone and the port is free; `await using` closes the same way', async (t) => {
  let port: number;
  let client: TestClient;
  {
    await using server = await TelemetryServer.start(fakeTarget(), { port: 0, env: {} });
    port = server.port;
    client = await TestClient.open(server.wsUrl);
    t.is(server.close(), server.close(), 'a second close() is the same promise');
  }
  // Bound again at once: the listening socket is closed, not closing.
  const again = await TelemetryServer.start(fakeTarget(), { port, env: {} });
  await again.close();
  // The client sees its connection end (no time bound: it just has to happen).
  if (client.closeCode === undefined) await new Promise((r) => client.ws.once('close', r));
  t.not(client.closeCode, undefined);
});
