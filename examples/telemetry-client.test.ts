import 'reflect-metadata';
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHyvisorContainer, validateConfig } from '@hyvisor/core';
import { registerKvmBackend } from '@hyvisor/backend-kvm';
import { createMachineFromConfig, registerMinimalStrategy } from '@hyvisor/vmm';
import { TelemetryServer, attachStandInProbes } from '@hyvisor/telemetry';
import { runTelemetryClient } from './telemetry-client.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const elf = path.join(root, 'packages/guest-hello/build/hello.elf');
const missing = !fs.existsSync('/dev/kvm') ? '/dev/kvm is missing' : !fs.existsSync(elf) ? `${elf} is missing` : undefined;
if (missing) console.log(`skipping the telemetry client example test: ${missing}`);

(missing ? test.skip : test)('the telemetry client example prints a live summary of a running guest [kvm]', async (t) => {
  const container = createHyvisorContainer();
  registerKvmBackend(container);
  registerMinimalStrategy(container);
  const config = validateConfig({ name: 'client-demo', backend: 'kvm', strategy: 'minimal', board: 'testbed', guest: { kernel: elf, cmdline: 'exits=200000' }, serial: { output: 'none' } });
  const composed = createMachineFromConfig(container, config);
  composed.machine.own(attachStandInProbes(composed.machine));
  const server = await TelemetryServer.start(composed.machine, { port: 0, intervalMs: 25, env: {} });
  t.teardown(async () => { await server.close(); composed.dispose(); });
  const lines: string[] = [];
  const summary = runTelemetryClient(server.wsUrl, { print: (l) => lines.push(l), durationMs: 30_000 });
  await new Promise((r) => setTimeout(r, 100));
  const result = await composed.machine.run();
  const s = await summary;
  t.is(result.reason, 'halt');
  t.regex(lines[0]!, /^connected to client-demo: backend kvm .* strategy minimal \[cpu=/);
  t.true(s.samples >= 3, `${s.samples} samples`);
  t.true(lines.some((l) => /top bench \d/.test(l)), 'names the busiest device');
  t.is(s.exits.io, result.exits.io);
  t.true(s.maxExitRate > 0);
  t.is(s.finalState, 'stopped');
  t.is(s.dropped, 0);
});
