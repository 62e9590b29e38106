import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium } from 'playwright-core';
import { TelemetryHub } from '@hyvisor/core';
import { TelemetryServer } from './server.js';
import { fakeTarget } from './test-helpers.js';

// The dashboard's tables against a fake VM (no /dev/kvm needed): top ports by exits, MMIO exits
// by device and hypercalls by number render from the `ports` and `hypercalls` topics.
const CHROMIUM = '/usr/bin/chromium';
const missing = fs.existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is missing (apt-get install -y chromium)`;
if (missing) console.log(`skipping the dashboard table test: ${missing}`);
const chromeTest = missing ? test.skip : test.serial;

interface Row { key: string | number; label: string; device?: string; total: number; rate: number }

chromeTest('needs chromium: the dashboard tables show the top ports, MMIO devices and hypercalls, biggest first', async (t) => {
  const hub = new TelemetryHub();
  hub.portName = (p) => (p >= 0x3f8 && p < 0x400 ? 'com1' : p >= 0x1f0 && p < 0x1f8 ? 'ata0' : undefined);
  const ranges = [{ name: 'lapic', base: 0xfee00000, length: 0x1000 }];
  hub.probes.mmioRange = (i) => ranges[i];
  for (let i = 0; i < 30; i++) hub.probes.pio(0x1f0, 2, 1, false);
  for (let i = 0; i < 5; i++) hub.probes.pio(0x3f8, 1, 1, true);
  for (let p = 0x500; p < 0x50a; p++) hub.probes.pio(p, 1, 1, false); // 10 more ports, 1 exit each: only the top 8 rows show
  for (let i = 0; i < 4; i++) hub.probes.mmio(4, true, 0);
  hub.probes.mmio(4, false, -1);
  for (let i = 0; i < 3; i++) hub.probes.hypercall(7);
  hub.probes.hypercall(2);
  const server = await TelemetryServer.start(fakeTarget(hub), { port: 0, intervalMs: 20, env: {} });
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hyvisor-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM, headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  t.teardown(async () => { await context.close(); await server.close(); fs.rmSync(userDataDir, { recursive: true, force: true }); });
  const page = context.pages()[0] ?? await context.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  await page.goto(`${server.url}/`);
  await page.waitForSelector('#table-hypercalls tbody tr[data-key]');
  await page.waitForSelector('#table-mmio tbody tr[data-key]');
  await page.waitForSelector('#table-ports tbody tr[data-key]');

  const tables = await page.evaluate(() => (globalThis as unknown as { hyvisor: { tables: Record<'ports' | 'mmio' | 'hypercalls', Row[]> } }).hyvisor.tables);
  t.is(tables.ports.length, 8);
  t.deepEqual(tables.ports.slice(0, 3).map((r) => [r.label, r.device, r.total]), [['0x01f0', 'ata0', 30], ['0x03f8', 'com1', 5], ['0x0500', 'unowned', 1]]);
  t.deepEqual(tables.mmio.map((r) => [r.label, r.total]), [['lapic', 4], ['unowned', 1]]);
  t.deepEqual(tables.hypercalls.map((r) => [r.label, r.total]), [['7', 3], ['2', 1]]);

  const cells = (sel: string) => page.$$eval(sel, (trs) => trs.map((tr) => Array.from((tr as unknown as { children: ArrayLike<{ textContent: string | null }> }).children).map((td) => td.textContent)));
  const ports = await cells('#table-ports tbody tr');
  t.is(ports.length, 8);
  t.deepEqual(ports[0]!.slice(0, 3), ['0x01f0', 'ata0', '30']);
  t.deepEqual((await cells('#table-mmio tbody tr')).map((r) => r.slice(0, 2)), [['lapic', '4'], ['unowned', '1']]);
  t.deepEqual((await cells('#table-hypercalls tbody tr')).map((r) => r.slice(0, 2)), [['7', '3'], ['2', '1']]);
  t.regex((await page.textContent('#hypercall-summary'))!, /in all/);
  // The bars scale to the biggest row.
  t.is(await page.getAttribute('#table-ports tbody tr:first-child td.bar i', 'style'), 'width: 100%;');

  // New exits show up: a port overtakes the leader.
  for (let i = 0; i < 40; i++) hub.probes.pio(0x3f8, 1, 1, true);
  await page.waitForFunction(() => (globalThis as unknown as { document: { querySelector(s: string): { textContent: string } | null } }).document
    .querySelector('#table-ports tbody tr:first-child td')?.textContent === '0x03f8');
  t.deepEqual(pageErrors, []);
});
