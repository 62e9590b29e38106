/**
 * The GDB stub's TCP server: one debugger at a time on `host:port` (loopback by default). Binding
 * any other address lets other hosts control the guest, so it needs a token, as the telemetry
 * server does; a client then authenticates with `monitor auth TOKEN` before it sees the guest.
 * @module
 */
import * as crypto from 'node:crypto';
import * as net from 'node:net';
import { ConfigError, type Disposable } from '@hyvisor/core';
import type { Machine } from '@hyvisor/vmm';
import { GdbSession } from './session.js';
import { machineTarget, type DebugTarget } from './target.js';

/** Environment variable holding the token when the options have none. */
export const GDB_TOKEN_ENV = 'HYVISOR_GDB_TOKEN';

/** Options of {@link GdbServer.start}. */
export interface GdbServerOptions {
  /** Address to bind (default 127.0.0.1). Anything but loopback needs a token. */
  readonly host?: string;
  /** Port (0: any free port; see {@link GdbServer.port}). */
  readonly port: number;
  /** The token for non-loopback addresses; default `env.HYVISOR_GDB_TOKEN`. At least 8 characters. */
  readonly token?: string;
  /** Pause before the guest's first instruction until the debugger continues (default true). */
  readonly holdAtStart?: boolean;
  /** Environment to read the token from (default `process.env`). */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** True for 127.0.0.0/8, ::1 and localhost. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) || host === '::ffff:127.0.0.1';
}

/** A listening GDB stub over one machine. `await using` or {@link close} releases it. */
export class GdbServer implements Disposable {
  private session: GdbSession | undefined;
  private socket: net.Socket | undefined;

  private constructor(
    private readonly server: net.Server,
    private readonly target: DebugTarget,
    readonly host: string,
    private readonly tokenDigest: Buffer | undefined,
  ) {
    server.on('connection', (socket) => this.accept(socket));
  }

  /**
   * Starts serving `machine` (before `machine.run()`, so the hold at start applies). Refuses
   * (ConfigError) a non-loopback address without a token, and a token under 8 characters.
   */
  static async start(machine: Machine, options: GdbServerOptions): Promise<GdbServer> {
    return GdbServer.serve(machineTarget(machine, { holdAtStart: options.holdAtStart ?? true }), options);
  }

  /** Serves any {@link DebugTarget} (disposed with the server). */
  static async serve(target: DebugTarget, options: GdbServerOptions): Promise<GdbServer> {
    const host = options.host ?? '127.0.0.1';
    const env = options.env ?? process.env;
    const token = options.token ?? (env[GDB_TOKEN_ENV] !== undefined && env[GDB_TOKEN_ENV] !== '' ? env[GDB_TOKEN_ENV] : undefined);
    try {
      if (!isLoopback(host) && token === undefined) {
        throw new ConfigError(`gdb: binding to ${host} lets other hosts control the guest, so it needs a token: set ${GDB_TOKEN_ENV} in the environment (or bind to 127.0.0.1)`, 'gdb');
      }
      if (token !== undefined && token.length < 8) throw new ConfigError('gdb: the token must have at least 8 characters', 'gdb');
      const server = net.createServer();
      await new Promise<void>((resolve, reject) => {
        server.once('error', (err: NodeJS.ErrnoException) => reject(new ConfigError(`gdb: cannot listen on ${host}:${options.port}: ${err.code ?? err.message}`, 'gdb')));
        server.listen(options.port, host, () => resolve());
      });
      // Only a non-loopback server asks for the token: on loopback anyone who can connect can already debug the process.
      return new GdbServer(server, target, host, token !== undefined && !isLoopback(host) ? digest(token) : undefined);
    } catch (err) {
      target.dispose();
      throw err;
    }
  }

  /** The port it listens on. */
  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** `host:port` for `target remote`. */
  get address(): string {
    return `${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}`;
  }

  private accept(socket: net.Socket): void {
    if (this.session !== undefined) {
      socket.end();
      return; // one debugger at a time
    }
    socket.setNoDelay(true);
    this.socket = socket;
    const digestOf = this.tokenDigest;
    const session = new GdbSession(this.target, {
      write: (data) => { if (!socket.destroyed) socket.write(Buffer.from(data, 'latin1')); },
      close: () => socket.end(),
    }, digestOf === undefined ? {} : { token: (t) => crypto.timingSafeEqual(digest(t), digestOf) });
    this.session = session;
    socket.on('data', (data) => session.receive(data));
    const end = () => {
      session.dispose();
      if (this.session === session) { this.session = undefined; this.socket = undefined; }
    };
    socket.on('close', end);
    socket.on('error', end);
  }

  /** Stops listening, drops the client (the guest runs on) and detaches from the machine. */
  async close(): Promise<void> {
    this.session?.dispose();
    this.session = undefined;
    this.socket?.destroy();
    this.target.dispose();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  dispose(): void {
    void this.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

function digest(token: string): Buffer {
  return crypto.createHash('sha256').update(token).digest();
}
