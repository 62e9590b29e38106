import { kvmSerialTest } from '@hyvisor/backend-kvm/testing';
import { Ports } from '@hyvisor/core';
import { TelemetryServer } from './server.js';
import { parsePrometheus, promValue } from './prometheus.js';
import { TestClient } from './test-helpers.js';
import { guestsMissing, helloMachine } from './kvm-guest.js';

const kvmTest = (title: string, fn: Parameters<typeof kvmSerialTest>[1]): void => kvmSerialTest(title, fn, { needs: guestsMissing });

kvmTest('a live hello guest streams exits per kind and port that match /metrics [kvm]', async (t) => {
  const exits = 200_000;
  const composed = helloMachine(exits);
  const { machine } = composed;
  const server = await TelemetryServer.start(machine, { port: 0, intervalMs: 20, env: {} });
  t.teardown(async () => { await server.close(); composed.dispose(); });
  const c = await TestClient.open(server.wsUrl);
  const hello = await c.next((m) => m.type === 'hello');
  t.is(hello.vm.backend.name, 'kvm');
  t.is(hello.vm.strategy.name, 'minimal');
  c.send({ type: 'subscribe', topics: ['exits', 'ports', 'io', 'vcpu', 'events'] });
  await c.next((m) => m.type === 'subscribed');
  const result = await machine.run();
  t.is(result.reason, 'poweroff', result.message);
  await new Promise((r) => setTimeout(r, 80)); // a few more samples after the end
  const exitSamples = c.messages.filter((m) => m.type === 'sample' && m.topic === 'exits');
  t.true(exitSamples.length >= 3, `${exitSamples.length} exit samples`);
  t.true(exitSamples.some((m) => m.data.byKind.io.rate > 0), 'a non-zero io exit rate while running');
  const lastPorts = c.messages.filter((m) => m.type === 'sample' && m.topic === 'ports').pop().data;
  const bench = lastPorts.ports.find((p: { port: number }) => p.port === Ports.BENCH);
  t.is(bench.device, 'bench');
  t.true(bench.total >= exits, `bench port exits ${bench.total}`);
  t.true(c.messages.some((m) => m.type === 'event' && m.event.state === 'stopped'));
  const lastVcpu = c.messages.filter((m) => m.type === 'sample' && m.topic === 'vcpu').pop().data;
  t.true(lastVcpu.runUs.total > 0);

  const fams = parsePrometheus(await (await fetch(`${server.url}/metrics`)).text());
  const lastExits = exitSamples.pop().data;
  t.is(promValue(fams, 'hyvisor_exits_total', { kind: 'io' }), lastExits.byKind.io.total);
  t.is(promValue(fams, 'hyvisor_exits_total', { kind: 'io' }), result.exits.io);
  t.is(promValue(fams, 'hyvisor_port_exits_total', { device: 'bench' }), bench.total);
  t.true(promValue(fams, 'hyvisor_io_bytes_total', { space: 'pio', direction: 'write' })! >= exits);
  t.is(promValue(fams, 'hyvisor_vm_state', { state: 'stopped' }), 1);
  t.true(promValue(fams, 'hyvisor_vcpu_run_seconds_total')! > 0);
});

kvmTest('pause and resume over the protocol stop and restart the exits [kvm]', async (t) => {
  const token = 'pause-resume-token';
  const composed = helloMachine(3_000_000);
  const { machine } = composed;
  const server = await TelemetryServer.start(machine, { port: 0, intervalMs: 20, token, env: {} });
  t.teardown(async () => { await server.close(); composed.dispose(); });
  const c = await TestClient.open(`${server.wsUrl}?token=${token}`);
  c.send({ type: 'subscribe', topics: ['exits', 'events'] });
  const run = machine.run();
  await c.next((m) => m.type === 'sample' && m.data.byKind.io.rate > 0);
  c.send({ type: 'control', id: 'p', op: 'pause' });
  t.is((await c.next((m) => m.id === 'p')).state, 'paused');
  await new Promise((r) => setTimeout(r, 60));
  const a = machine.telemetry.counters.get('exits.io');
  await new Promise((r) => setTimeout(r, 150));
  t.is(machine.telemetry.counters.get('exits.io'), a, 'no exits while paused');
  c.send({ type: 'control', id: 'r', op: 'resume' });
  t.is((await c.next((m) => m.id === 'r')).state, 'running');
  await new Promise((r) => setTimeout(r, 100));
  t.true(machine.telemetry.counters.get('exits.io') > a);
  c.send({ type: 'control', id: 's', op: 'stop' });
  await c.next((m) => m.id === 's');
  const result = await run;
  t.is(result.reason, 'stopped');
});
