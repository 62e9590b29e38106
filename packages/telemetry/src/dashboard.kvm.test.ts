import { kvmSerialTest } from '@hyvisor/backend-kvm/testing';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { TelemetryServer } from './server.js';
import { parsePrometheus, promValue } from './prometheus.js';
import { guestsMissing, repoRoot, testbedMachine } from './kvm-guest.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = path.join(repoRoot, 'test-artifacts');
const missing = (): string | undefined => guestsMissing() ?? (fs.existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is missing (apt-get install -y chromium)`);
const dashTest = (title: string, fn: Parameters<typeof kvmSerialTest>[1]): void => kvmSerialTest(title, fn, { needs: missing });

interface Point { t: number; v: number; total?: number; intervalMs: number; count?: number; totalCount?: number; totalMeanUs?: number }
interface Model {
  state: string; control: boolean; dropped: number; errors: string[];
  hello: { vm: { strategy: { facets: Record<string, { name: string }> } } } | null;
  charts: Record<'exits' | 'latency' | 'drift' | 'io', { series: Record<string, Point[]> }>;
  tables: Record<'ports' | 'mmio' | 'hypercalls', { key: string | number; label: string; device?: string; total: number; rate: number }[]>;
}

async function launch(): Promise<BrowserContext> {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hyvisor-chromium-'));
  return chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1400, height: 1100 },
  });
}

dashTest('the dashboard charts a live testbed guest and agrees with /metrics [kvm] (needs chromium)', async (t) => {
  const token = 'dashboard-test-token';
  const disk = path.join(os.tmpdir(), `hyvisor-dash-${process.pid}.img`);
  const composed = testbedMachine('all', 3000, disk);
  const { machine } = composed;
  const server = await TelemetryServer.start(machine, { port: 0, intervalMs: 50, token, env: {} });
  const context = await launch();
  t.teardown(async () => { await context.close(); await server.close(); composed.dispose(); fs.rmSync(disk, { force: true }); });
  const page = context.pages()[0] ?? await context.newPage();
  const external: string[] = [];
  page.on('request', (r) => { if (!r.url().startsWith(server.url) && !r.url().startsWith(server.url.replace('http', 'ws'))) external.push(r.url()); });
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  await page.goto(`${server.url}/?token=${token}`);
  await page.waitForFunction(() => (globalThis as unknown as { hyvisor: Model }).hyvisor.hello !== null);

  const run = machine.run();
  const model = () => page.evaluate(() => (globalThis as unknown as { hyvisor: Model }).hyvisor);
  await page.waitForFunction(() => Object.keys((globalThis as unknown as { hyvisor: Model }).hyvisor.charts.exits.series).length > 0, undefined, { timeout: 20_000 });

  // Control from the page: the buttons work with the token.
  await page.waitForSelector('#pause:not([disabled])');
  await page.click('#pause');
  await page.waitForFunction(() => (globalThis as unknown as { hyvisor: Model }).hyvisor.state === 'paused');
  t.is(machine.state, 'paused');
  await page.click('#resume');
  await page.waitForFunction(() => (globalThis as unknown as { hyvisor: Model }).hyvisor.state === 'running');

  const result = await run;
  t.is(result.exitCode, 0, result.message);
  await page.waitForFunction(() => (globalThis as unknown as { hyvisor: Model }).hyvisor.state === 'stopped');
  await new Promise((r) => setTimeout(r, 300)); // the last samples after the end
  const m = await model();
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, 'telemetry-dashboard.png'), fullPage: true });

  const fams = parsePrometheus(await (await fetch(`${server.url}/metrics`)).text());
  const nonZero = (pts: Point[]) => pts.filter((p) => p.v !== 0).length;

  // The strategy per facet is shown.
  t.is(m.hello!.vm.strategy.facets.interrupt!.name, 'emulated-pic-apic');
  t.is(await page.textContent('tr[data-facet="timer"] td:nth-child(2)'), 'emulated-pit');

  // Exit rates: several non-zero points per busy kind; the last total is the counter's, and the
  // rates integrate to the growth the chart saw.
  const io = m.charts.exits.series.io!;
  t.true(nonZero(io) >= 5, `io exit points ${nonZero(io)}`);
  t.is(io.at(-1)!.total, promValue(fams, 'hyvisor_exits_total', { kind: 'io' }));
  const integral = io.reduce((s, p) => s + p.v * p.intervalMs / 1000, 0);
  const growth = io.at(-1)!.total! - (io[0]!.total! - io[0]!.v * io[0]!.intervalMs / 1000);
  t.true(Math.abs(integral - growth) <= 0.01 * growth + 1, `integral ${integral} vs growth ${growth}`);

  // Interrupt latency: several non-zero means; the timed count and sum are the histogram's.
  const lat = m.charts.latency.series.mean!;
  t.true(nonZero(lat) >= 3, `latency points ${nonZero(lat)}`);
  const last = lat.at(-1)!;
  t.is(last.totalCount, promValue(fams, 'hyvisor_interrupt_latency_seconds', {}, 'hyvisor_interrupt_latency_seconds_count'));
  const sumS = promValue(fams, 'hyvisor_interrupt_latency_seconds', {}, 'hyvisor_interrupt_latency_seconds_sum')!;
  t.true(Math.abs(last.totalCount! * last.totalMeanUs! / 1e6 - sumS) < 1e-6 * Math.max(1, sumS));
  const counted = lat.reduce((s, p) => s + (p.count ?? 0), 0);
  t.true(counted > 0 && counted <= last.totalCount!);

  // Drift: the time workload's stalls put the guest behind; the last point is /metrics' gauge.
  const drift = m.charts.drift.series.drift!;
  t.true(nonZero(drift) >= 3, `drift points ${nonZero(drift)}`);
  t.true(drift.at(-1)!.v < 0);
  t.true(Math.abs(drift.at(-1)!.v / 1e6 - promValue(fams, 'hyvisor_guest_time_drift_seconds')!) < 1e-9);

  // I/O throughput: the disk workload moves bytes; totals agree.
  const bytes = m.charts.io.series.bytes!;
  t.true(nonZero(bytes) >= 5, `io points ${nonZero(bytes)}`);
  const ioTotal = ['pio', 'mmio'].flatMap((space) => ['read', 'write'].map((direction) => promValue(fams, 'hyvisor_io_bytes_total', { space, direction })!))
    .reduce((a, b) => a + b, 0);
  t.is(bytes.at(-1)!.total, ioTotal);

  // Tables: top ports by exits, MMIO exits by device, hypercalls by number; rows agree with /metrics.
  await page.waitForFunction(() => {
    const { tables } = (globalThis as unknown as { hyvisor: Model }).hyvisor;
    const doc = (globalThis as unknown as { document: { querySelector(sel: string): { className: string; dataset: Record<string, string> } | null } }).document;
    const first = (id: string) => doc.querySelector(`#${id} tbody tr`);
    return tables.ports.length > 0 && first('table-ports')?.dataset.key === String(tables.ports[0]!.key)
      && (tables.hypercalls.length === 0 ? first('table-hypercalls')?.className === 'empty' : first('table-hypercalls')?.dataset.key === String(tables.hypercalls[0]!.key));
  }, undefined, { timeout: 5000 });
  const { tables } = await model();
  const portSamples = fams.get('hyvisor_port_exits_total')!.samples;
  t.is(tables.ports.length, Math.min(8, portSamples.length));
  const busiest = [...portSamples].sort((a, b) => b.value - a.value)[0]!;
  t.is(tables.ports[0]!.total, busiest.value);
  t.is(tables.ports[0]!.label, busiest.labels.port);
  t.is(tables.ports[0]!.device, busiest.labels.device);
  t.true(tables.ports.every((r, i) => i === 0 || r.total <= tables.ports[i - 1]!.total), 'sorted by exits');
  t.is(await page.locator('#table-ports tbody tr[data-key]').count(), tables.ports.length);
  t.is(await page.textContent('#table-ports tbody tr:first-child td:nth-child(1)'), busiest.labels.port);
  const mmio = fams.get('hyvisor_mmio_exits_total')!.samples;
  t.deepEqual(Object.fromEntries(tables.mmio.map((r) => [r.label, r.total])), Object.fromEntries(mmio.map((x) => [x.labels.device, x.value])));
  t.is(mmio.reduce((a, x) => a + x.value, 0), promValue(fams, 'hyvisor_exits_total', { kind: 'mmio' })!, 'every MMIO exit is in the per-device breakdown');
  if (mmio.length === 0) t.is(await page.getAttribute('#table-mmio tbody tr', 'class'), 'empty', 'an empty table says so');
  const hcs = fams.get('hyvisor_hypercalls_total')!.samples;
  t.is(tables.hypercalls.length, Math.min(8, hcs.length));
  if (hcs.length > 0) t.is(tables.hypercalls[0]!.total, Math.max(...hcs.map((x) => x.value)));

  t.deepEqual(external, [], 'nothing fetched from the network');
  t.deepEqual(pageErrors, []);
  t.is(m.dropped, 0);
});
