/**
 * The plot of `bench paper`, written by hand as SVG (no plotting library): one panel per
 * workload, one bar per strategy. Bars are the median time per operation with the min–max over
 * the rounds as a whisker, labelled with exits per operation; the hybrid bar carries its ratios to
 * pv and hvm. The `time` panel plots how far the guest clock fell behind host time instead.
 * @module
 */
import type { PaperRow } from './paper.js';

/** Colours per strategy (ColorBrewer Dark2 / Paired: distinguishable in colour-blind palettes). */
export const STRATEGY_COLOURS: Readonly<Record<string, string>> = {
  pv: '#d95f02',
  hvm: '#1f78b4',
  hybrid: '#1b9e77',
  'hvm-userspace': '#8fbbd9',
};

const PANEL_TITLES: Readonly<Record<string, string>> = {
  cpu: 'cpu: 4 KiB fill + CRC in ring 3 — time per op',
  syscall: 'syscall: null system call — time per call',
  memory: 'memory: map, touch, unmap a page — time per op',
  irq: 'irq: raise, take, ack an interrupt — time per interrupt',
  io: 'io: sector written + read back — time per sector',
  time: 'time: guest clock behind host time after 3 × 50 ms VMM stalls',
};

/** Escapes text for SVG content and attributes. */
export function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A "nice" axis: a step of 1, 2 or 5 × 10^k and a maximum that is a multiple of it, covering `max` in about `ticks` steps. */
export function niceAxis(max: number, ticks = 4): { step: number; max: number } {
  if (!Number.isFinite(max) || max <= 0) return { step: 1, max: 1 };
  const raw = max / ticks;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw)!;
  return { step, max: Math.ceil(max / step - 1e-9) * step };
}

/** The unit a panel uses for values up to `maxNs`. */
function unitFor(maxNs: number): { div: number; name: string } {
  return maxNs >= 1e6 ? { div: 1e6, name: 'ms' } : maxNs >= 1e3 ? { div: 1e3, name: 'µs' } : { div: 1, name: 'ns' };
}

function num(v: number): string {
  return String(Number(v.toPrecision(6)));
}

/** A duration in ns with three significant digits and a unit: `14.3 µs`, `1.13 ms`. */
export function formatNs(ns: number | null | undefined): string {
  if (ns === null || ns === undefined || !Number.isFinite(ns)) return '—';
  // Pick the unit after rounding to three digits, so 999.96 µs reads 1.00 ms, not 1000 µs.
  const r = Number(ns.toPrecision(3));
  const [v, unit] = r >= 1e6 ? [ns / 1e6, 'ms'] : r >= 1e3 ? [ns / 1e3, 'µs'] : [ns, 'ns'];
  return `${sig3(Number(v.toPrecision(3)))} ${unit}`;
}

/** Three significant digits, no exponent. */
export function sig3(v: number): string {
  if (!Number.isFinite(v)) return '—';
  if (v === 0) return '0';
  const a = Math.abs(v);
  const digits = a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : 3;
  return v.toFixed(digits);
}

/** {@link sig3} with an explicit sign (a Unicode minus). */
export function signed(v: number): string {
  return v > 0 ? `+${sig3(v)}` : v < 0 ? `−${sig3(-v)}` : '0';
}

/** Run facts shown in the plot's header. */
export interface PlotMeta {
  readonly host: string;
  readonly hostDetail: string;
  readonly date: string;
  readonly rounds: number;
}

interface Bar {
  readonly strategy: string;
  /** In the panel's unit; undefined: failed. */
  readonly value?: number;
  readonly lo?: number;
  readonly hi?: number;
  readonly label: string;
  readonly note?: string;
}

const W = 1040;
const COLS = 2;
const PANEL_W = 500;
const GAP_X = 20;
const MARGIN_X = 10;
const HEADER_H = 92;
const BAR_H = 20;
const BAR_GAP = 10;
const PANEL_TOP = 30; // title band
const AXIS_H = 26;
const LABEL_W = 100; // strategy names left of the bars
const VALUE_W = 168; // value labels right of the longest bar

/** Renders the plot of `rows` (as `buildRows` makes them) as a standalone SVG document. */
export function renderPaperSvg(rows: readonly PaperRow[], meta: PlotMeta): string {
  const workloads = [...new Set(rows.map((r) => r.workload))];
  const strategies = [...new Set(rows.map((r) => r.strategy))];
  const panelH = PANEL_TOP + strategies.length * (BAR_H + BAR_GAP) - BAR_GAP + 8 + AXIS_H;
  const nRows = Math.ceil(workloads.length / COLS);
  const H = HEADER_H + nRows * (panelH + 24) + 40;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  out.push(`<title>Hybrid virtualization on ${xmlEscape(meta.host)}: pv, hvm, hybrid, hvm-userspace per testbed workload</title>`);
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(`<text x="${MARGIN_X}" y="24" font-size="17" font-weight="bold">Hybrid virtualization (Lin et al. 2012) on the testbed guest — host ${xmlEscape(meta.host)}</text>`);
  out.push(`<text x="${MARGIN_X}" y="44" fill="#444">${xmlEscape(meta.hostDetail)}</text>`);
  out.push(`<text x="${MARGIN_X}" y="62" fill="#444">${xmlEscape(`${meta.date.slice(0, 10)} · ${meta.rounds} alternating rounds · bars: median, whiskers: min–max over rounds · labels: exits per operation · shorter is better`)}</text>`);
  // Legend
  let lx = MARGIN_X;
  for (const s of strategies) {
    out.push(`<rect x="${lx}" y="72" width="14" height="12" fill="${STRATEGY_COLOURS[s] ?? '#999'}"/>`);
    out.push(`<text x="${lx + 19}" y="82">${xmlEscape(s)}</text>`);
    lx += 32 + s.length * 7;
  }

  workloads.forEach((workload, i) => {
    const x0 = MARGIN_X + (i % COLS) * (PANEL_W + GAP_X);
    const y0 = HEADER_H + Math.floor(i / COLS) * (panelH + 24);
    const panelRows = strategies.map((s) => rows.find((r) => r.workload === workload && r.strategy === s));
    out.push(...panel(workload, panelRows, strategies, x0, y0, panelH));
  });
  out.push(`<text x="${MARGIN_X}" y="${H - 14}" fill="#666" font-size="11">${xmlEscape('Generated by `hyvisor bench paper` (bench/src/paper.ts); the same numbers as the table in docs/results.md.')}</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}

function panel(workload: string, rows: readonly (PaperRow | undefined)[], strategies: readonly string[], x0: number, y0: number, h: number): string[] {
  const out: string[] = [];
  const isTime = workload === 'time';
  let bars: Bar[];
  let unit: string;
  if (isTime) {
    // Drift magnitude in ms (the guest clock is behind when negative).
    unit = 'ms';
    bars = strategies.map((s, k) => {
      const r = rows[k];
      const d = typeof r?.driftUs === 'number' ? r.driftUs : undefined;
      if (d === undefined) return { strategy: s, label: r ? 'no figure' : 'not run' };
      const lost = typeof r?.lostTicks === 'number' ? `, ${r.lostTicks} ticks lost` : '';
      return { strategy: s, value: Math.max(0, -d / 1000), label: `${signed(d / 1000)} ms${lost}`, ...(d > 0 ? { note: 'guest clock ahead' } : {}) };
    });
  } else {
    const max = Math.max(0, ...rows.map((r) => r?.nsPerOpMax ?? r?.nsPerOp ?? 0).filter((v): v is number => typeof v === 'number' && Number.isFinite(v)));
    const u = unitFor(max);
    unit = u.name;
    bars = strategies.map((s, k) => {
      const r = rows[k];
      if (!r || r.nsPerOp === null) return { strategy: s, label: r ? `failed (${r.check})` : 'not run' };
      const ratios: string[] = [];
      if (typeof r.hybridOverPv === 'number') ratios.push(`hybrid/pv ${sig3(r.hybridOverPv)}`);
      if (typeof r.hybridOverHvm === 'number') ratios.push(`hybrid/hvm ${sig3(r.hybridOverHvm)}`);
      return {
        strategy: s, value: r.nsPerOp / u.div,
        ...(r.nsPerOpMin !== null ? { lo: r.nsPerOpMin / u.div } : {}),
        ...(r.nsPerOpMax !== null ? { hi: r.nsPerOpMax / u.div } : {}),
        label: `${formatNs(r.nsPerOp)} · ${r.exitsPerOp === null ? '?' : sig3(r.exitsPerOp)} exits`,
        ...(ratios.length ? { note: ratios.join(', ') } : {}),
        ...(r.check !== 'ok' ? { note: `check: ${r.check}` } : {}),
      };
    });
  }
  const axis = niceAxis(Math.max(0, ...bars.map((b) => b.hi ?? b.value ?? 0)));
  const plotX = x0 + LABEL_W;
  const plotW = PANEL_W - LABEL_W - VALUE_W;
  const sx = (v: number) => plotX + (Math.min(v, axis.max) / axis.max) * plotW;
  const barsTop = y0 + PANEL_TOP;
  const barsBottom = barsTop + strategies.length * (BAR_H + BAR_GAP) - BAR_GAP;

  out.push(`<g>`);
  out.push(`<rect x="${x0}" y="${y0}" width="${PANEL_W}" height="${h}" fill="#fafafa" stroke="#ddd"/>`);
  out.push(`<text x="${x0 + 8}" y="${y0 + 19}"><tspan font-weight="bold">${xmlEscape(PANEL_TITLES[workload] ?? workload)}</tspan><tspan fill="#555"> (${xmlEscape(unit)})</tspan></text>`);
  // Grid and axis
  for (let v = 0; v <= axis.max + axis.step / 2; v += axis.step) {
    const x = sx(v).toFixed(1);
    out.push(`<line x1="${x}" y1="${barsTop - 4}" x2="${x}" y2="${barsBottom + 4}" stroke="${v === 0 ? '#888' : '#e3e3e3'}"/>`);
    out.push(`<text x="${x}" y="${barsBottom + 18}" text-anchor="middle" fill="#555" font-size="11">${num(v)}</text>`);
  }
  bars.forEach((b, k) => {
    const y = barsTop + k * (BAR_H + BAR_GAP);
    const cy = y + BAR_H / 2;
    out.push(`<text x="${plotX - 8}" y="${cy + 4}" text-anchor="end">${xmlEscape(b.strategy)}</text>`);
    if (b.value === undefined) {
      out.push(`<text x="${plotX + 6}" y="${cy + 4}" fill="#c00">${xmlEscape(b.label)}</text>`);
      return;
    }
    const w = Math.max(0.5, sx(b.value) - plotX);
    out.push(`<rect x="${plotX}" y="${y}" width="${w.toFixed(1)}" height="${BAR_H}" fill="${STRATEGY_COLOURS[b.strategy] ?? '#999'}"><title>${xmlEscape(`${b.strategy}: ${b.label}${b.note ? ` (${b.note})` : ''}`)}</title></rect>`);
    let end = sx(b.value);
    if (b.lo !== undefined && b.hi !== undefined && b.hi > b.lo) {
      const [a, c] = [sx(b.lo), sx(b.hi)];
      out.push(`<line x1="${a.toFixed(1)}" y1="${cy}" x2="${c.toFixed(1)}" y2="${cy}" stroke="#222"/>`);
      out.push(`<line x1="${a.toFixed(1)}" y1="${cy - 5}" x2="${a.toFixed(1)}" y2="${cy + 5}" stroke="#222"/>`);
      out.push(`<line x1="${c.toFixed(1)}" y1="${cy - 5}" x2="${c.toFixed(1)}" y2="${cy + 5}" stroke="#222"/>`);
      end = Math.max(end, c);
    }
    out.push(`<text x="${(end + 5).toFixed(1)}" y="${cy + (b.note ? 0 : 4)}" font-size="11">${xmlEscape(b.label)}</text>`);
    if (b.note) out.push(`<text x="${(end + 5).toFixed(1)}" y="${cy + 11}" font-size="10" fill="#555">${xmlEscape(b.note)}</text>`);
  });
  out.push(`</g>`);
  return out;
}
