/**
 * A telemetry client: connects to a running `hyvisor run CONFIG --telemetry PORT`, subscribes and
 * prints a live one-line summary per sample (exit rate, busiest device, interrupts and latency,
 * drift, I/O throughput, vCPU state).
 *
 *   node examples/dist/telemetry-client.js ws://127.0.0.1:9464/ws [--token T] [--seconds N]
 *
 * `runTelemetryClient` is the same thing as a function (the tests drive it).
 * @module
 */
import WebSocket from 'ws';
import { pathToFileURL } from 'node:url';

/** What the client saw. */
export interface ClientSummary {
  readonly vm: string;
  readonly strategy: string;
  readonly facets: Record<string, string>;
  readonly samples: number;
  readonly lines: string[];
  /** Last totals: exits by kind, interrupts timed, drift, I/O bytes. */
  readonly exits: Record<string, number>;
  readonly maxExitRate: number;
  readonly latencyTimed: number;
  readonly driftUs: number;
  readonly ioBytes: number;
  readonly dropped: number;
  readonly finalState: string;
}

export interface ClientOptions {
  readonly token?: string;
  /** Stop after this long (default: until the VM stops or the server closes). */
  readonly durationMs?: number;
  /** Where lines go (default: stdout). */
  readonly print?: (line: string) => void;
}

/** Connects to `url`, prints a summary line per sample and resolves when the VM stops. */
export function runTelemetryClient(url: string, options: ClientOptions = {}): Promise<ClientSummary> {
  const print = options.print ?? ((l: string) => process.stdout.write(l + '\n'));
  const target = new URL(url);
  if (options.token) target.searchParams.set('token', options.token);
  const ws = new WebSocket(target);
  const lines: string[] = [];
  const s = {
    vm: '?', strategy: '?', facets: {} as Record<string, string>, samples: 0, exits: {} as Record<string, number>,
    maxExitRate: 0, latencyTimed: 0, driftUs: 0, ioBytes: 0, dropped: 0, finalState: '?',
  };
  // The latest sample of each topic; a line is printed when the exits sample (first of a frame) arrives.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const latest: Record<string, any> = {};
  const say = (line: string) => { lines.push(line); print(line); };
  return new Promise((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const finish = () => {
      if (timer) clearTimeout(timer);
      ws.close();
      resolve({ ...s, lines });
    };
    if (options.durationMs) timer = setTimeout(finish, options.durationMs);
    ws.on('error', reject);
    ws.on('close', () => finish());
    ws.on('message', (data) => {
      const m = JSON.parse(String(data));
      if (typeof m.dropped === 'number') s.dropped = m.dropped;
      if (m.type === 'hello') {
        s.vm = m.vm.name;
        s.strategy = m.vm.strategy.name;
        s.finalState = m.vm.state;
        for (const [f, impl] of Object.entries(m.vm.strategy.facets as Record<string, { name: string }>)) s.facets[f] = impl.name;
        say(`connected to ${m.vm.name}: backend ${m.vm.backend.name} (${m.vm.backend.flavour}), strategy ${s.strategy} [${Object.entries(s.facets).map(([f, n]) => `${f}=${n}`).join(' ')}], every ${m.intervalMs} ms`);
        ws.send(JSON.stringify({ type: 'subscribe', topics: ['ports', 'interrupts', 'timer', 'io', 'vcpu', 'events', 'exits'] }));
      } else if (m.type === 'sample') {
        latest[m.topic] = m.data;
        if (m.topic === 'exits') {
          s.samples++;
          for (const [k, f] of Object.entries(m.data.byKind as Record<string, { total: number }>)) s.exits[k] = f.total;
          s.maxExitRate = Math.max(s.maxExitRate, m.data.total.rate);
          if (m.data.intervalMs > 0) say(summaryLine(latest));
        } else if (m.topic === 'interrupts') s.latencyTimed = m.data.latency.totalCount;
        else if (m.topic === 'timer') s.driftUs = m.data.driftUs;
        else if (m.topic === 'io') s.ioBytes = m.data.pio.readBytes.total + m.data.pio.writeBytes.total + m.data.mmio.readBytes.total + m.data.mmio.writeBytes.total;
      } else if (m.type === 'event' && m.event.type === 'state') {
        s.finalState = m.event.state;
        say(`state: ${m.event.state}`);
        if (m.event.state === 'stopped') setTimeout(finish, 150); // one more sample for the totals
      } else if (m.type === 'event' && m.event.type === 'error') {
        say(`error: ${m.event.message}`);
      } else if (m.type === 'error') {
        say(`server says: ${m.code}: ${m.message}`);
      }
    });
  });
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function summaryLine(l: Record<string, any>): string {
  const e = l.exits;
  const busiest = l.ports ? Object.entries(l.ports.byDevice as Record<string, { rate: number }>).sort((a, b) => b[1].rate - a[1].rate)[0] : undefined;
  const irq = l.interrupts ? `irq ${fmt(l.interrupts.injected.rate)}/s lat ${l.interrupts.latency.meanUs.toFixed(1)}µs` : 'irq -';
  const drift = l.timer ? `drift ${(l.timer.driftUs / 1000).toFixed(1)}ms` : 'drift -';
  const io = l.io ? `io ${fmt(l.io.bytesPerSec)}B/s` : 'io -';
  const cpu = l.vcpu ? `${l.vcpu.state} ${(l.vcpu.utilisation * 100).toFixed(0)}%` : '';
  return `exits ${fmt(e.total.rate)}/s (${fmt(e.total.total)})${busiest ? ` top ${busiest[0]} ${fmt(busiest[1].rate)}/s` : ''} | ${irq} | ${drift} | ${io} | ${cpu}`;
}

function fmt(n: number): string {
  const a = Math.abs(n);
  return a >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : a >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : n.toFixed(0);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const args = process.argv.slice(2);
  const url = args.find((a) => !a.startsWith('--')) ?? 'ws://127.0.0.1:9464/ws';
  const opt = (name: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
  const seconds = opt('--seconds');
  runTelemetryClient(url, { token: opt('--token') ?? process.env.HYVISOR_TELEMETRY_TOKEN, ...(seconds ? { durationMs: Number(seconds) * 1000 } : {}) })
    .then((s) => { process.stdout.write(`${s.samples} samples, ${s.dropped} dropped, final state ${s.finalState}\n`); })
    .catch((err: Error) => { process.stderr.write(`telemetry-client: ${err.message}\n`); process.exit(1); });
}
