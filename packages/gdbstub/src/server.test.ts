import test from 'ava';
import * as net from 'node:net';
import { ConfigError } from '@hyvisor/core';
import { EmuBackend } from '@hyvisor/backend-emu';
import { Machine, attachBoard, minimalStrategy, tinyElf } from '@hyvisor/vmm';
import { GdbServer, isLoopback } from './server.js';
import { encodePacket } from './packet.js';

function machine(): { machine: Machine; dispose(): void } {
  const backend = new EmuBackend();
  const m = new Machine({ backend, strategy: minimalStrategy(), memory: 4 * 1024 * 1024, timeLimitMs: 30_000 });
  attachBoard(m, 'minimal', { output: 'none', input: 'none' });
  m.loadKernel(tinyElf([0xfa, 0xf4]));
  return { machine: m, dispose: () => { m.dispose(); backend.dispose(); } };
}

test('loopback spellings', (t) => {
  for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1']) t.true(isLoopback(h), h);
  for (const h of ['0.0.0.0', '10.0.0.1', '::', 'example.com']) t.false(isLoopback(h), h);
});

test('another address without a token, or with a short one, is refused before anything listens', async (t) => {
  const vm = machine();
  try {
    await t.throwsAsync(GdbServer.start(vm.machine, { host: '0.0.0.0', port: 0, env: {} }), { instanceOf: ConfigError, message: /needs a token: set HYVISOR_GDB_TOKEN/ });
    await t.throwsAsync(GdbServer.start(vm.machine, { host: '0.0.0.0', port: 0, token: 'short', env: {} }), { instanceOf: ConfigError, message: /at least 8 characters/ });
  } finally { vm.dispose(); }
});

test('over TCP: one debugger at a time; a second connection is closed; the guest runs to its end after the debugger detaches', async (t) => {
  const vm = machine();
  const server = await GdbServer.start(vm.machine, { port: 0 });
  try {
    const done = vm.machine.run();
    const first = net.connect(server.port, '127.0.0.1');
    let got = '';
    first.on('data', (d) => { got += d.toString('latin1'); });
    await new Promise((r) => first.once('connect', r));
    first.write(encodePacket('?'));
    const second = net.connect(server.port, '127.0.0.1');
    await new Promise((r) => second.once('close', r));
    t.pass('the second connection was closed');
    for (let i = 0; i < 2000 && !got.includes('#'); i++) await new Promise((r) => setTimeout(r, 5));
    t.regex(got, /^\+\$T05thread:1;#[0-9a-f]{2}/);
    first.write(encodePacket('D'));
    const r = await done;
    t.is(r.reason, 'poweroff');
    first.destroy();
  } finally {
    await server.close();
    vm.dispose();
  }
});
