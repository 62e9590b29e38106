/**
 * The telemetry server: one HTTP server that serves the dashboard, `/metrics` (Prometheus) and a
 * WebSocket endpoint speaking the versioned JSON protocol of protocol.ts. It only needs a
 * {@link TelemetryTarget} (a machine's hub, description and pause/resume/stop).
 *
 * The vCPU never waits for a client: samples are taken on the event loop between time slices,
 * serialized once per topic and handed to each socket only while that socket's unsent backlog
 * (`ws.bufferedAmount`) is under a bound; otherwise the message is dropped and counted, and the
 * count reaches the client in every later message. A client that stays stuck is closed.
 * @module
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Subscription } from 'rxjs';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import { ConfigError, HostError, SAMPLED_TOPICS, type Disposable, type SampledTopic, type TelemetryFrame } from '@hyvisor/core';
import {
  MAX_CLIENT_MESSAGE, MAX_INTERVAL_MS, MIN_INTERVAL_MS, PROTOCOL_VERSION, ProtocolError, TOPICS, WS_PATH,
  isInterval, parseClientMessage, type ClientMessage, type ErrorCode, type HelloMessage, type ServerMessage, type Topic,
} from './protocol.js';
import { PROMETHEUS_CONTENT_TYPE, renderPrometheus } from './prometheus.js';
import { describeTarget, type TelemetryTarget } from './target.js';

/** Environment variable holding the token when the config has none. */
export const TOKEN_ENV = 'HYVISOR_TELEMETRY_TOKEN';

/** Options of {@link TelemetryServer.start}. */
export interface TelemetryServerOptions {
  /** Address to bind (default 127.0.0.1). Anything but loopback needs a token. */
  readonly host?: string;
  /** Port (default 9464; 0 picks a free one). */
  readonly port?: number;
  /** The token; default: `env.HYVISOR_TELEMETRY_TOKEN`. */
  readonly token?: string;
  /** Sample interval in ms (default 100). */
  readonly intervalMs?: number;
  /** Unsent bytes a client may have queued before its messages are dropped (default 1 MiB). */
  readonly maxBufferedBytes?: number;
  /** A client that has had messages dropped for this long without catching up is closed (default 30 s; 0: never). */
  readonly stallCloseMs?: number;
  /** Most clients at once (default 64). */
  readonly maxClients?: number;
  /** Environment to read the token from (default `process.env`). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /**
   * Web origins (`scheme://host[:port]`, e.g. `https://grafana.example.com`) besides the server's
   * own whose pages may open the WebSocket. A browser sends `Origin` with every WebSocket upgrade;
   * an upgrade whose `Origin` is neither the server's own nor listed here is refused (HTTP 403).
   * Upgrades without `Origin` (non-browser clients) are unaffected.
   */
  readonly allowedOrigins?: readonly string[];
}

/** Close code for a client closed because it stopped reading. */
export const CLOSE_TOO_SLOW = 4008;

const ASSETS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../assets');
const ASSETS: Readonly<Record<string, { file: string; type: string }>> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/dashboard.js': { file: 'dashboard.js', type: 'text/javascript; charset=utf-8' },
};

/** True for addresses only this host can reach. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host) || /^::ffff:127\./.test(host);
}

/** `origin` as the browser would serialize it (`scheme://host[:port]`, lower case, default port dropped); undefined if it is not one. */
export function normalizeOrigin(origin: string): string | undefined {
  let u: URL;
  try {
    u = new URL(origin);
  } catch {
    return undefined;
  }
  if (u.origin === 'null' || (u.pathname !== '/' && u.pathname !== '') || u.search !== '' || u.hash !== '' || u.username !== '' || u.password !== '') return undefined;
  return u.origin;
}

/**
 * The origins of a server bound to `host`:`port`: `http://HOST:PORT`, and for a loopback or
 * wildcard bind the `localhost`, `127.0.0.1` and `[::1]` spellings of it.
 */
export function ownOrigins(host: string, port: number): string[] {
  const bracket = (h: string) => (h.includes(':') ? `[${h}]` : h);
  const hosts = new Set([bracket(host)]);
  if (isLoopback(host) || host === '0.0.0.0' || host === '::') for (const h of ['localhost', '127.0.0.1', '[::1]']) hosts.add(h);
  return [...hosts].map((h) => normalizeOrigin(`http://${h}:${port}`)).filter((o): o is string => o !== undefined);
}

class Client {
  readonly topics = new Set<Topic>();
  everyMs = 0;
  readonly lastSent = new Map<SampledTopic, number>();
  dropped = 0;
  /** When dropping started (0: not dropping). */
  droppingSince = 0;
  constructor(readonly ws: WebSocket, public authorized: boolean) {}
}

/** A running telemetry server. */
export class TelemetryServer implements Disposable {
  private readonly clients = new Set<Client>();
  private readonly wss: WebSocketServer;
  private readonly maxBuffered: number;
  private readonly stallCloseMs: number;
  private readonly maxClients: number;
  private readonly tokenDigest: Buffer | undefined;
  private readonly requireTokenToRead: boolean;
  private readonly extraOrigins: ReadonlySet<string>;
  private ownOriginSet: ReadonlySet<string> | undefined;
  private allowedHosts: ReadonlySet<string> | undefined;
  private sampler: Subscription | undefined;
  private readonly eventSub: Subscription;
  private interval: number;
  private dropTotal = 0;
  private closed = false;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly target: TelemetryTarget,
    private readonly http: http.Server,
    readonly host: string,
    token: string | undefined,
    options: TelemetryServerOptions,
  ) {
    this.interval = options.intervalMs ?? 100;
    this.maxBuffered = options.maxBufferedBytes ?? 1024 * 1024;
    this.stallCloseMs = options.stallCloseMs ?? 30_000;
    this.maxClients = options.maxClients ?? 64;
    this.tokenDigest = token !== undefined ? digest(token) : undefined;
    this.requireTokenToRead = !isLoopback(host);
    this.extraOrigins = new Set((options.allowedOrigins ?? []).map((o) => normalizeOrigin(o)!));
    this.wss = new WebSocketServer({ noServer: true, maxPayload: MAX_CLIENT_MESSAGE, perMessageDeflate: false });
    http.on('request', (req, res) => this.onRequest(req, res));
    http.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket, head));
    this.eventSub = target.telemetry.events.subscribe((event) => {
      const text = JSON.stringify({ type: 'event', dropped: 0, event });
      for (const c of this.clients) if (c.topics.has('events')) this.sendData(c, text.replace('"dropped":0', `"dropped":${c.dropped}`));
    });
  }

  /**
   * Starts serving `target`. Refuses (ConfigError) to bind a non-loopback address without a token
   * and to start with a bad interval; rejects if the address cannot be bound.
   */
  static async start(target: TelemetryTarget, options: TelemetryServerOptions = {}): Promise<TelemetryServer> {
    const host = options.host ?? '127.0.0.1';
    const env = options.env ?? process.env;
    const token = options.token ?? (env[TOKEN_ENV] !== undefined && env[TOKEN_ENV] !== '' ? env[TOKEN_ENV] : undefined);
    if (!isLoopback(host) && token === undefined) {
      throw new ConfigError(
        `telemetry: binding to ${host} lets other hosts watch and control the VM, so it needs a token: set telemetry.token in the config or ${TOKEN_ENV} in the environment (or bind to 127.0.0.1)`,
        'telemetry.token',
      );
    }
    if (token !== undefined && token.length < 8) throw new ConfigError('telemetry: the token must have at least 8 characters', 'telemetry.token');
    for (const o of options.allowedOrigins ?? []) {
      if (normalizeOrigin(o) === undefined) {
        throw new ConfigError(`telemetry: allowed origin ${JSON.stringify(o)} is not an origin; expected scheme://host[:port] like "https://dash.example.com"`, 'telemetry.allowedOrigins');
      }
    }
    const intervalMs = options.intervalMs ?? 100;
    if (!isInterval(intervalMs)) throw new ConfigError(`telemetry: interval must be between ${MIN_INTERVAL_MS} and ${MAX_INTERVAL_MS} ms, got ${intervalMs}`, 'telemetry.interval');
    const server = http.createServer();
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        // The config can be right and the port still taken: a runtime failure, not a config error.
        reject(new HostError(`telemetry: cannot listen on ${host}:${options.port ?? 9464}: ${err.code ?? err.message}`, 'listen', err.code));
      };
      server.once('error', onError);
      server.listen(options.port ?? 9464, host, () => { server.off('error', onError); resolve(); });
    });
    return new TelemetryServer(target, server, host, token, { ...options, intervalMs });
  }

  /** The bound port. */
  get port(): number {
    return (this.http.address() as AddressInfo).port;
  }

  /** `http://host:port` (IPv6 in brackets). */
  get url(): string {
    return `http://${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}`;
  }

  /** The WebSocket endpoint. */
  get wsUrl(): string {
    return `${this.url.replace(/^http/, 'ws')}${WS_PATH}`;
  }

  /** Current sample interval (ms). */
  get intervalMs(): number {
    return this.interval;
  }

  /** Clients connected now. */
  get clientCount(): number {
    return this.clients.size;
  }

  /** Messages dropped for slow clients since start. */
  get droppedMessages(): number {
    return this.dropTotal;
  }

  /** Changes the sample interval for everyone and tells every client. */
  setIntervalMs(ms: number): void {
    if (!isInterval(ms)) throw new RangeError(`telemetry interval must be between ${MIN_INTERVAL_MS} and ${MAX_INTERVAL_MS} ms, got ${ms}`);
    this.interval = ms;
    if (this.sampler) {
      this.sampler.unsubscribe();
      this.sampler = undefined;
      this.updateSampler();
    }
    const text = JSON.stringify({ type: 'interval', intervalMs: ms } satisfies ServerMessage);
    for (const c of this.clients) this.sendReply(c, text);
  }

  /**
   * Closes every client and the listening socket; resolves once every client socket has closed
   * and the server no longer listens (the port is free again). Calling it again returns the same
   * promise.
   */
  close(): Promise<void> {
    return (this.closing ??= this.shutdown());
  }

  /** `await using server = await TelemetryServer.start(…)` closes it as {@link close} does. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Starts {@link close} without waiting for it; prefer `await close()` or `await using`. */
  dispose(): void {
    void this.close();
  }

  private async shutdown(): Promise<void> {
    this.closed = true;
    this.sampler?.unsubscribe();
    this.eventSub.unsubscribe();
    const sockets = [...this.clients].map((c) => c.ws.readyState === WebSocket.CLOSED
      ? Promise.resolve()
      : new Promise<void>((resolve) => c.ws.once('close', () => resolve())));
    for (const c of this.clients) c.ws.terminate();
    this.clients.clear();
    await Promise.all([
      ...sockets,
      new Promise<void>((resolve) => this.wss.close(() => resolve())),
      new Promise<void>((resolve) => {
        this.http.close(() => resolve());
        this.http.closeAllConnections();
      }),
    ]);
  }

  // ---- HTTP ----

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    if (!this.hostAllowed(req.headers.host)) {
      res.writeHead(403, { 'content-type': 'text/plain; charset=utf-8' }).end(this.hostRefusal(req.headers.host));
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end('method not allowed\n');
      return;
    }
    if (this.requireTokenToRead && !this.tokenOk(presentedToken(req, url))) {
      res.writeHead(401, { 'content-type': 'text/plain; charset=utf-8', 'www-authenticate': 'Bearer' })
        .end(`this telemetry server needs its token: add ?token=… or an "Authorization: Bearer …" header\n`);
      return;
    }
    if (url.pathname === '/metrics') {
      const body = renderPrometheus(this.target.telemetry, describeTarget(this.target), { clients: this.clients.size, droppedMessages: this.dropTotal });
      res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE, 'cache-control': 'no-store' }).end(body);
      return;
    }
    if (url.pathname === '/api/description') {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
        .end(JSON.stringify({ protocol: PROTOCOL_VERSION, vm: describeTarget(this.target), intervalMs: this.interval }));
      return;
    }
    const asset = ASSETS[url.pathname];
    if (asset) {
      fs.readFile(path.join(ASSETS_DIR, asset.file), (err, data) => {
        if (err) {
          res.writeHead(500, { 'content-type': 'text/plain' }).end(`dashboard asset missing: ${asset.file}\n`);
          return;
        }
        res.writeHead(200, {
          'content-type': asset.type,
          'cache-control': 'no-store',
          // Nothing may come from the network: scripts and connections to this server only.
          'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:",
          'x-content-type-options': 'nosniff',
        }).end(data);
      });
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: try /, /metrics or the WebSocket at /ws\n');
  }

  // ---- WebSocket ----

  private onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const refuse = (status: string, why: string) => {
      socket.end(`HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(why)}\r\n\r\n${why}`);
    };
    if (!this.hostAllowed(req.headers.host)) return refuse('403 Forbidden', this.hostRefusal(req.headers.host));
    if (url.pathname !== WS_PATH) return refuse('404 Not Found', `the WebSocket endpoint is ${WS_PATH}\n`);
    const origin = req.headers.origin;
    if (origin !== undefined && !this.originAllowed(origin, req.headers.host)) {
      return refuse('403 Forbidden', `a page from ${origin} may not open this telemetry stream: open the dashboard at ${this.url}/ or add the origin to allowedOrigins\n`);
    }
    const presented = presentedToken(req, url);
    const valid = this.tokenOk(presented);
    if (presented !== undefined && !valid) return refuse('401 Unauthorized', 'wrong telemetry token\n');
    if (this.requireTokenToRead && !valid) return refuse('401 Unauthorized', 'this telemetry server needs its token (?token=… or Authorization: Bearer …)\n');
    if (this.clients.size >= this.maxClients) return refuse('503 Service Unavailable', `too many telemetry clients (at most ${this.maxClients})\n`);
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws, valid));
  }

  /**
   * True for the server's own origin (loopback spellings included), a configured one, and, when
   * the server is bound to a non-loopback address (where every connection needs the token
   * anyway), the origin naming the Host the request came to. A loopback server never trusts the
   * Host header: a DNS-rebound name would pass such a check.
   */
  /**
   * The loopback Host rule, for every HTTP path and the WebSocket alike: a server bound to a
   * loopback address answers only requests whose `Host` names it (`localhost`, `127.0.0.1` or
   * `[::1]` with its port) or the host of a configured origin. A DNS-rebinding page reaches the
   * server under its own name (`Host: evil.example`) and is refused, so it can read neither
   * `/metrics` nor `/api/description`. A server on another address needs the token for
   * everything and takes any Host.
   */
  private hostAllowed(hostHeader: string | undefined): boolean {
    if (this.requireTokenToRead) return true;
    if (hostHeader === undefined) return false;
    if (this.allowedHosts === undefined) {
      const hosts = new Set<string>();
      for (const o of [...ownOrigins(this.host, this.port), ...this.extraOrigins]) hosts.add(new URL(o).host);
      this.allowedHosts = hosts;
    }
    const h = hostHeader.toLowerCase();
    // `localhost:80` and `localhost` are the same host to a client: compare as an origin does.
    const asOrigin = normalizeOrigin(`http://${h}`);
    return this.allowedHosts.has(h) || (asOrigin !== undefined && this.allowedHosts.has(new URL(asOrigin).host));
  }

  private hostRefusal(hostHeader: string | undefined): string {
    return `this telemetry server answers only requests addressed to it (Host ${JSON.stringify(hostHeader ?? '')} is not ${this.url.slice(7)}): open ${this.url}/\n`;
  }

  private originAllowed(origin: string, hostHeader: string | undefined): boolean {
    const o = normalizeOrigin(origin);
    if (o === undefined) return false;
    this.ownOriginSet ??= new Set(ownOrigins(this.host, this.port));
    if (this.ownOriginSet.has(o) || this.extraOrigins.has(o)) return true;
    return this.requireTokenToRead && hostHeader !== undefined && o === normalizeOrigin(`http://${hostHeader}`);
  }

  private onConnection(ws: WebSocket, authorized: boolean): void {
    if (this.closed) { ws.terminate(); return; }
    const client = new Client(ws, authorized);
    this.clients.add(client);
    ws.on('message', (data: RawData, isBinary: boolean) => this.onMessage(client, data, isBinary));
    ws.on('close', () => { this.clients.delete(client); this.updateSampler(); });
    ws.on('error', () => { /* a broken client is closed; the server goes on */ });
    const hello: HelloMessage = {
      type: 'hello', protocol: PROTOCOL_VERSION, server: 'hyvisor', vm: describeTarget(this.target), topics: TOPICS,
      intervalMs: this.interval, minIntervalMs: MIN_INTERVAL_MS, maxIntervalMs: MAX_INTERVAL_MS,
      control: authorized, tokenRequired: this.tokenDigest !== undefined, maxBufferedBytes: this.maxBuffered,
    };
    this.sendReply(client, JSON.stringify(hello));
  }

  private onMessage(client: Client, data: RawData, isBinary: boolean): void {
    let msg: ClientMessage;
    try {
      if (isBinary) throw new ProtocolError('bad-message', 'expected a text frame with JSON, got a binary frame');
      msg = parseClientMessage(rawText(data));
    } catch (err) {
      if (err instanceof ProtocolError) this.replyError(client, err.code, err.message, err.id);
      else this.replyError(client, 'bad-message', String(err));
      return;
    }
    const id = msg.id !== undefined ? { id: msg.id } : {};
    switch (msg.type) {
      case 'subscribe': {
        const topics = msg.topics.includes('*') ? TOPICS : (msg.topics as Topic[]);
        for (const t of topics) client.topics.add(t);
        if (msg.everyMs !== undefined) client.everyMs = msg.everyMs;
        this.updateSampler();
        this.sendReply(client, JSON.stringify({ type: 'subscribed', ...id, topics: [...client.topics], everyMs: client.everyMs } satisfies ServerMessage));
        return;
      }
      case 'unsubscribe': {
        const topics = msg.topics.includes('*') ? TOPICS : (msg.topics as Topic[]);
        for (const t of topics) client.topics.delete(t);
        this.updateSampler();
        this.sendReply(client, JSON.stringify({ type: 'subscribed', ...id, topics: [...client.topics], everyMs: client.everyMs } satisfies ServerMessage));
        return;
      }
      case 'ping':
        this.sendReply(client, JSON.stringify({ type: 'ok', ...id, op: 'ping' } satisfies ServerMessage));
        return;
      case 'auth':
        if (!this.tokenOk(msg.token)) {
          this.replyError(client, 'unauthorized', this.tokenDigest ? 'wrong telemetry token' : 'this server has no token, so control is off: start it with one (telemetry.token or HYVISOR_TELEMETRY_TOKEN)', msg.id);
          return;
        }
        client.authorized = true;
        this.sendReply(client, JSON.stringify({ type: 'ok', ...id, op: 'auth' } satisfies ServerMessage));
        return;
      case 'control': {
        const allowed = client.authorized || (msg.token !== undefined && this.tokenOk(msg.token));
        if (!allowed) {
          this.replyError(client, 'unauthorized', this.tokenDigest
            ? 'control needs the token: connect with ?token=…, send {"type":"auth","token":…} or put "token" in the control message'
            : 'control needs a token and this server has none: start it with telemetry.token or HYVISOR_TELEMETRY_TOKEN', msg.id);
          return;
        }
        try {
          switch (msg.op) {
            case 'pause': this.target.pause(); break;
            case 'resume': this.target.resume(); break;
            case 'stop': this.target.stop('stopped by a telemetry client'); break;
            case 'set-interval': this.setIntervalMs(msg.intervalMs!); break;
          }
        } catch (err) {
          this.replyError(client, 'unavailable', `${msg.op}: ${(err as Error).message}`, msg.id);
          return;
        }
        this.sendReply(client, JSON.stringify({ type: 'ok', ...id, op: msg.op, state: this.target.state, intervalMs: this.interval } satisfies ServerMessage));
        return;
      }
    }
  }

  private replyError(client: Client, code: ErrorCode, message: string, id?: string | number): void {
    this.sendReply(client, JSON.stringify({ type: 'error', ...(id !== undefined ? { id } : {}), code, message } satisfies ServerMessage));
  }

  // ---- sampling and the drop policy ----

  /** Samples while some client wants a sampled topic; not otherwise. */
  private updateSampler(): void {
    let wanted = false;
    for (const c of this.clients) for (const t of c.topics) if (t !== 'events') wanted = true;
    if (wanted && !this.sampler && !this.closed) {
      this.sampler = this.target.telemetry.streams(this.interval).frames.subscribe((f) => this.onFrame(f));
    } else if (!wanted && this.sampler) {
      this.sampler.unsubscribe();
      this.sampler = undefined;
    }
  }

  private onFrame(frame: TelemetryFrame): void {
    const texts = new Map<SampledTopic, string>();
    const now = Date.now();
    for (const c of this.clients) {
      for (const topic of SAMPLED_TOPICS) {
        if (!c.topics.has(topic)) continue;
        if (c.everyMs > 0) {
          const last = c.lastSent.get(topic) ?? 0;
          if (now - last < c.everyMs - this.interval / 2) continue;
          c.lastSent.set(topic, now);
        }
        let data = texts.get(topic);
        if (data === undefined) {
          data = JSON.stringify(frame[topic]);
          texts.set(topic, data);
        }
        this.sendData(c, `{"type":"sample","topic":"${topic}","dropped":${c.dropped},"data":${data}}`);
      }
    }
  }

  /** Sends a data message unless the client is behind; then drops it and counts. */
  private sendData(c: Client, text: string): void {
    const ws = c.ws;
    if (ws.readyState !== WebSocket.OPEN) return;
    if (ws.bufferedAmount >= this.maxBuffered) {
      c.dropped++;
      this.dropTotal++;
      const now = Date.now();
      if (c.droppingSince === 0) c.droppingSince = now;
      else if (this.stallCloseMs > 0 && now - c.droppingSince > this.stallCloseMs) {
        ws.close(CLOSE_TOO_SLOW, `stopped reading: ${c.dropped} messages dropped`);
        setTimeout(() => ws.terminate(), 1000).unref();
      }
      return;
    }
    c.droppingSince = 0;
    ws.send(text);
  }

  /** Replies (hello, acks, errors) go even to a client that is behind, up to twice the bound. */
  private sendReply(c: Client, text: string): void {
    const ws = c.ws;
    if (ws.readyState !== WebSocket.OPEN) return;
    if (ws.bufferedAmount >= 2 * this.maxBuffered) {
      c.dropped++;
      this.dropTotal++;
      return;
    }
    ws.send(text);
  }

  private tokenOk(token: string | undefined): boolean {
    if (token === undefined || this.tokenDigest === undefined) return false;
    return crypto.timingSafeEqual(digest(token), this.tokenDigest);
  }
}

function digest(s: string): Buffer {
  return crypto.createHash('sha256').update(s, 'utf8').digest();
}

function presentedToken(req: http.IncomingMessage, url: URL): string | undefined {
  const q = url.searchParams.get('token');
  if (q !== null && q !== '') return q;
  const auth = req.headers.authorization;
  if (auth?.startsWith('Bearer ')) return auth.slice(7).trim();
  const h = req.headers['x-hyvisor-token'];
  return typeof h === 'string' && h !== '' ? h : undefined;
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}
