/**
 * The loopback Host rule on every HTTP path (issue 15 §3): a DNS-rebinding page reaches a loopback
 * server under its own name, so `Host: evil.example` is refused for /metrics, /api/description,
 * the dashboard and the WebSocket alike; the server's own spellings pass.
 */
import test from 'ava';
import * as http from 'node:http';
import { TelemetryHub } from '@hyvisor/core';
import { TelemetryServer } from './server.js';
import { fakeTarget, TestClient } from './test-helpers.js';

function get(port: number, path: string, host: string | undefined): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (host !== undefined) headers.host = host;
    const req = http.request({ host: '127.0.0.1', port, path, headers, setHost: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => { body += c.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function start(options: Parameters<typeof TelemetryServer.start>[1] = {}) {
  const server = await TelemetryServer.start(fakeTarget(new TelemetryHub()), { port: 0, intervalMs: 20, env: {}, ...options });
  return server;
}

for (const path of ['/metrics', '/api/description', '/', '/nothing-here']) {
  test(`a loopback server refuses ${path} for Host evil.example and answers its own names`, async (t) => {
    const server = await start();
    t.teardown(() => server.close());
    const p = server.port;
    const evil = await get(p, path, `evil.example:${p}`);
    t.is(evil.status, 403);
    t.regex(evil.body, /answers only requests addressed to it/);
    t.is((await get(p, path, 'evil.example')).status, 403);
    // No Host at all: Node itself answers an HTTP/1.1 request without one with 400.
    t.true([400, 403].includes((await get(p, path, undefined)).status), 'no Host at all');
    for (const own of [`127.0.0.1:${p}`, `localhost:${p}`, `LOCALHOST:${p}`, `[::1]:${p}`]) {
      t.not((await get(p, path, own)).status, 403, own);
    }
    t.is((await get(p, path, `127.0.0.1:${p + 1}`)).status, 403, 'another port is another server');
  });
}

test('the host of a configured origin is accepted (a reverse proxy that keeps the Host)', async (t) => {
  const server = await start({ allowedOrigins: ['https://dash.example.com'] });
  t.teardown(() => server.close());
  t.is((await get(server.port, '/metrics', 'dash.example.com')).status, 200);
  t.is((await get(server.port, '/metrics', 'evil.example')).status, 403);
});

test('the WebSocket upgrade follows the same Host rule', async (t) => {
  const server = await start();
  t.teardown(() => server.close());
  await t.throwsAsync(TestClient.open(server.wsUrl, { Host: 'evil.example' }), { message: 'HTTP 403' });
  const c = await TestClient.open(server.wsUrl);
  t.is((await c.next((m) => m.type === 'hello')).type, 'hello');
});
