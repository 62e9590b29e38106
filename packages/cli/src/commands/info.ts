/**
 * `hyvisor info`: what this host offers.
 * @module
 */
import { BACKENDS, STRATEGIES, HyvisorError, catalog, type BackendInfo, type FacetEntry } from '@hyvisor/core';
import { containerFor } from '../catalog.js';
import type { Parsed } from '../spec.js';

/** Parts of Hyvisor that are designed but not built yet, so `info` is honest about them. */
const NOT_BUILT = ['Linux guests', 'more than one vCPU'];

export async function infoCommand({ values }: Parsed): Promise<number> {
  const c = await containerFor();
  const backends = c.resolve(BACKENDS).list().map((b) => {
    try {
      const backend = c.resolve(BACKENDS).create(b.name);
      const info = backend.info;
      backend.dispose();
      return { name: b.name, available: true as const, info };
    } catch (err) {
      if (!(err instanceof HyvisorError)) throw err;
      return { name: b.name, available: false as const, reason: err.message };
    }
  });
  const strategies = c.resolve(STRATEGIES).list();
  const { boards, devices, facets } = catalog(c);
  if (values.json) {
    const out = {
      node: process.version,
      backends: backends.map((b) => b.available ? { name: b.name, available: true, ...infoJson(b.info) } : b),
      strategies,
      facets: facets.map(facetJson),
      boards,
      devices,
      notBuiltYet: NOT_BUILT,
    };
    process.stdout.write(JSON.stringify(out, null, 2) + '\n');
    return 0;
  }
  const lines = [`Hyvisor on Node ${process.version}`, '', 'backends:'];
  for (const b of backends) {
    if (!b.available) { lines.push(`  ${b.name}: not available: ${b.reason}`); continue; }
    lines.push(`  ${b.name}: ${b.info.flavour}: ${b.info.description}`);
    lines.push(`    capabilities: ${[...b.info.capabilities].join(', ')}`);
    for (const [k, v] of Object.entries(facts(b.info))) lines.push(`    ${k}: ${v}`);
  }
  lines.push('', 'strategies:');
  for (const s of strategies) lines.push(`  ${s.name}: ${s.description}`);
  lines.push('', 'facets (strategy: { base: NAME, KIND: FACET }):');
  for (const f of facets) {
    lines.push(`  ${f.facet} ${f.name}: ${f.description}`);
    const extra = [
      f.requires.length > 0 ? `requires ${f.requires.join(', ')}` : '',
      f.provides?.length ? `provides ${f.provides.map((t) => t.description).join(', ')}` : '',
      f.needs?.length ? `needs ${f.needs.map((t) => t.description).join(', ')}` : '',
      f.excludes?.length ? `excludes ${f.excludes.map((t) => t.description).join(', ')}` : '',
    ].filter((x) => x !== '');
    if (extra.length > 0) lines.push(`    ${extra.join('; ')}`);
  }
  lines.push('', 'boards (config board:, default testbed):');
  for (const b of boards) lines.push(`  ${b.name}: ${b.devices.map((d) => d.name === d.device ? d.name : `${d.name} (${d.device})`).join(', ')}`);
  lines.push('', 'devices (config devices:):');
  for (const d of devices) {
    const ports = d.ports.map((r) => `0x${r.base.toString(16)}${r.count > 1 ? `-0x${(r.base + r.count - 1).toString(16)}` : ''}`).join(', ');
    lines.push(`  ${d.name}: ${d.description} [ports ${ports}${d.irq !== undefined ? `, IRQ ${d.irq}` : ''}]`);
    if (d.options.length > 0) lines.push(`    options: ${d.options.map((o) => o.name).join(', ')}`);
  }
  lines.push('', `not built yet: ${NOT_BUILT.join('; ')}`, '');
  process.stdout.write(lines.join('\n'));
  return 0;
}

/** A facet's static info with its services by id (read from the registry: no facet is built). */
function facetJson(f: FacetEntry) {
  const ids = (list: FacetEntry['provides']) => (list ?? []).map((t) => t.id);
  return { kind: f.facet, name: f.name, description: f.description, requires: f.requires, provides: ids(f.provides), needs: ids(f.needs), excludes: ids(f.excludes) };
}

function infoJson(info: BackendInfo) {
  return { flavour: info.flavour, description: info.description, capabilities: [...info.capabilities], details: facts(info) };
}

/** The backend's typed facts (those it knows) followed by its display-only details. */
function facts(info: BackendInfo): Record<string, string | number | boolean> {
  const typed: Record<string, string | number | boolean> = {};
  if (info.host !== undefined) typed['host'] = info.host;
  if (info.tscKhz !== undefined) typed['tscKhz'] = info.tscKhz;
  if (info.deterministic !== undefined) typed['deterministic'] = info.deterministic;
  if (info.maxVcpus !== undefined) typed['maxVcpus'] = info.maxVcpus;
  return { ...typed, ...info.details };
}
