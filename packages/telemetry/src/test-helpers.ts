/**
 * Helpers for this package's tests: a fake machine and a WebSocket client that queues messages.
 * @module
 */
import { TelemetryHub } from '@hyvisor/core';
import WebSocket from 'ws';
import type { TelemetryTarget } from './target.js';

/** A machine stand-in that records control calls. */
export interface FakeTarget extends TelemetryTarget {
  state: string;
  readonly calls: string[];
}

export function fakeTarget(hub = new TelemetryHub()): FakeTarget {
  const facet = (name: string) => ({ name, description: `${name} facet` });
  const calls: string[] = [];
  const t: FakeTarget = {
    name: 'fake-vm', telemetry: hub, state: 'running', calls,
    backend: { info: { name: 'fake', flavour: 'test', description: 'a fake backend' } },
    strategy: { name: 'fake-strategy', description: 'for tests', cpu: facet('native'), memory: facet('hardware-paging'), interrupt: facet('emulated-pic-apic'), timer: facet('emulated-pit'), io: facet('emulated-ata') },
    pause() { calls.push('pause'); t.state = 'paused'; hub.emit({ type: 'state', time: Date.now(), state: 'paused' }); },
    resume() { calls.push('resume'); t.state = 'running'; hub.emit({ type: 'state', time: Date.now(), state: 'running' }); },
    stop() { calls.push('stop'); t.state = 'stopped'; },
  };
  return t;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Msg = any;

/** A protocol client for tests: every message is queued; {@link next} waits for a matching one. */
export class TestClient {
  readonly messages: Msg[] = [];
  private waiters: { pred: (m: Msg) => boolean; resolve: (m: Msg) => void }[] = [];
  private closedWith: number | undefined;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const m = JSON.parse(String(data));
      this.messages.push(m);
      this.waiters = this.waiters.filter((w) => (w.pred(m) ? (w.resolve(m), false) : true));
    });
    ws.on('close', (code) => { this.closedWith = code; });
  }

  /** Connects; rejects with the HTTP status if the upgrade is refused. */
  static open(url: string, headers: Record<string, string> = {}): Promise<TestClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers });
      const client = new TestClient(ws);
      ws.once('open', () => resolve(client));
      ws.once('unexpected-response', (_req, res) => { reject(new Error(`HTTP ${res.statusCode}`)); ws.terminate(); });
      ws.once('error', reject);
    });
  }

  get closeCode(): number | undefined {
    return this.closedWith;
  }

  send(msg: unknown): void {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  /** The first queued message (from `from` on) matching `pred`, or the next to arrive. */
  next(pred: (m: Msg) => boolean, timeoutMs = 5000, from = 0): Promise<Msg> {
    const found = this.messages.slice(from).find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching message within ${timeoutMs} ms; got types ${[...new Set(this.messages.map((m) => m.type + (m.topic ? ':' + m.topic : '')))].join(', ')}`)), timeoutMs);
      this.waiters.push({ pred, resolve: (m) => { clearTimeout(timer); resolve(m); } });
    });
  }

  close(): void {
    this.ws.close();
  }
}
