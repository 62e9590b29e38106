/**
 * The telemetry protocol, version 1: JSON text frames over one WebSocket. The server speaks first
 * (`hello`); the client subscribes to topics; samples and events flow until either side closes.
 * Documented in docs/telemetry-protocol.md; this file is its executable form.
 * @module
 */
import { SAMPLED_TOPICS, type FacetName, type SampledTopic, type TelemetryEvent } from '@hyvisor/core';

/** Bumped on any incompatible change; additions of fields and topics keep it. */
export const PROTOCOL_VERSION = 1;

/** Path of the WebSocket endpoint. */
export const WS_PATH = '/ws';

/** Every topic: the sampled ones plus `events` (state changes, errors, info: discrete). */
export const TOPICS: readonly Topic[] = [...SAMPLED_TOPICS, 'events'];
export type Topic = SampledTopic | 'events';

/** Control operations; each needs the token. */
export const CONTROL_OPS = ['pause', 'resume', 'stop', 'set-interval'] as const;
export type ControlOp = (typeof CONTROL_OPS)[number];

/** Sample interval limits (ms). */
export const MIN_INTERVAL_MS = 10;
export const MAX_INTERVAL_MS = 60_000;

/** Largest client message accepted (bytes). */
export const MAX_CLIENT_MESSAGE = 16 * 1024;

/** What the hello says about the VM. */
export interface VmDescription {
  readonly name: string;
  readonly state: string;
  readonly backend: { readonly name: string; readonly flavour: string; readonly description: string };
  readonly strategy: {
    readonly name: string;
    readonly description: string;
    /** The implementation chosen for each facet. */
    readonly facets: Readonly<Record<FacetName, { readonly name: string; readonly description: string }>>;
  };
}

// ---- server → client ----

export interface HelloMessage {
  readonly type: 'hello';
  readonly protocol: typeof PROTOCOL_VERSION;
  readonly server: 'hyvisor';
  readonly vm: VmDescription;
  readonly topics: readonly Topic[];
  /** The server's sample interval (ms); clients may ask for every Nth sample with `everyMs`. */
  readonly intervalMs: number;
  readonly minIntervalMs: number;
  readonly maxIntervalMs: number;
  /** True if this connection may use `control` (it presented the token). */
  readonly control: boolean;
  /** True if the server has a token at all (control is possible after `auth`). */
  readonly tokenRequired: boolean;
  /** Bytes the server lets queue for this client before it drops messages. */
  readonly maxBufferedBytes: number;
}

export interface SampleMessage {
  readonly type: 'sample';
  readonly topic: SampledTopic;
  /** Messages dropped for this client so far (slow reader). */
  readonly dropped: number;
  readonly data: unknown;
}

export interface EventMessage {
  readonly type: 'event';
  readonly dropped: number;
  readonly event: TelemetryEvent;
}

export interface SubscribedMessage {
  readonly type: 'subscribed';
  readonly id?: string | number;
  /** Topics this client receives now (after the change). */
  readonly topics: readonly Topic[];
  readonly everyMs: number;
}

export interface OkMessage {
  readonly type: 'ok';
  readonly id?: string | number;
  readonly op: ControlOp | 'auth' | 'ping';
  readonly state?: string;
  readonly intervalMs?: number;
}

/** A sample-interval change, sent to every client. */
export interface IntervalMessage {
  readonly type: 'interval';
  readonly intervalMs: number;
}

export type ErrorCode = 'bad-json' | 'bad-message' | 'unknown-type' | 'unknown-topic' | 'unauthorized' | 'bad-interval' | 'too-large' | 'unavailable';

export interface ErrorMessage {
  readonly type: 'error';
  readonly id?: string | number;
  readonly code: ErrorCode;
  readonly message: string;
}

export type ServerMessage = HelloMessage | SampleMessage | EventMessage | SubscribedMessage | OkMessage | IntervalMessage | ErrorMessage;

// ---- client → server ----

export interface SubscribeRequest {
  readonly type: 'subscribe';
  readonly id?: string | number;
  /** Topics to add; `['*']` for all. */
  readonly topics: readonly string[];
  /** Receive at most one sample per topic per this many ms (default: every sample). */
  readonly everyMs?: number;
}

export interface UnsubscribeRequest {
  readonly type: 'unsubscribe';
  readonly id?: string | number;
  readonly topics: readonly string[];
}

export interface ControlRequest {
  readonly type: 'control';
  readonly id?: string | number;
  readonly op: ControlOp;
  /** For `set-interval`. */
  readonly intervalMs?: number;
  /** The token, if the connection did not present it at connect or with `auth`. */
  readonly token?: string;
}

export interface AuthRequest {
  readonly type: 'auth';
  readonly id?: string | number;
  readonly token: string;
}

export interface PingRequest {
  readonly type: 'ping';
  readonly id?: string | number;
}

export type ClientMessage = SubscribeRequest | UnsubscribeRequest | ControlRequest | AuthRequest | PingRequest;

/** A parse failure: what to send back. */
export class ProtocolError extends Error {
  constructor(readonly code: ErrorCode, message: string, readonly id?: string | number) {
    super(message);
  }
}

/** Parses and checks one client frame; throws {@link ProtocolError} with a message that names the fix. */
export function parseClientMessage(text: string): ClientMessage {
  if (text.length > MAX_CLIENT_MESSAGE) throw new ProtocolError('too-large', `message of ${text.length} bytes; at most ${MAX_CLIENT_MESSAGE}`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new ProtocolError('bad-json', 'expected one JSON object per message, e.g. {"type":"subscribe","topics":["exits"]}');
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ProtocolError('bad-message', 'expected a JSON object with a "type" field');
  }
  const m = raw as Record<string, unknown>;
  const id = typeof m.id === 'string' || typeof m.id === 'number' ? m.id : undefined;
  const fail = (code: ErrorCode, message: string): never => { throw new ProtocolError(code, message, id); };
  switch (m.type) {
    case 'subscribe':
    case 'unsubscribe': {
      if (!Array.isArray(m.topics) || m.topics.length === 0 || !m.topics.every((t) => typeof t === 'string')) {
        fail('bad-message', `${m.type}: expected "topics": a non-empty list of topic names (${TOPICS.join(', ')}) or ["*"]`);
      }
      const topics = m.topics as string[];
      const unknown = topics.filter((t) => t !== '*' && !(TOPICS as readonly string[]).includes(t));
      if (unknown.length > 0) fail('unknown-topic', `${m.type}: unknown topic ${unknown.map((t) => JSON.stringify(t)).join(', ')}; known: ${TOPICS.join(', ')}`);
      if (m.type === 'subscribe' && m.everyMs !== undefined && (typeof m.everyMs !== 'number' || !(m.everyMs >= 0) || m.everyMs > MAX_INTERVAL_MS)) {
        fail('bad-interval', `subscribe: "everyMs" must be a number of ms between 0 and ${MAX_INTERVAL_MS}`);
      }
      return m.type === 'subscribe'
        ? { type: 'subscribe', topics, ...(id !== undefined ? { id } : {}), ...(m.everyMs !== undefined ? { everyMs: m.everyMs as number } : {}) }
        : { type: 'unsubscribe', topics, ...(id !== undefined ? { id } : {}) };
    }
    case 'control': {
      if (typeof m.op !== 'string' || !(CONTROL_OPS as readonly string[]).includes(m.op)) {
        fail('bad-message', `control: "op" must be one of ${CONTROL_OPS.join(', ')}`);
      }
      if (m.op === 'set-interval' && !isInterval(m.intervalMs)) {
        fail('bad-interval', `control set-interval: "intervalMs" must be a number between ${MIN_INTERVAL_MS} and ${MAX_INTERVAL_MS}`);
      }
      if (m.token !== undefined && typeof m.token !== 'string') fail('bad-message', 'control: "token" must be a string');
      return {
        type: 'control', op: m.op as ControlOp,
        ...(id !== undefined ? { id } : {}),
        ...(m.intervalMs !== undefined ? { intervalMs: m.intervalMs as number } : {}),
        ...(m.token !== undefined ? { token: m.token as string } : {}),
      };
    }
    case 'auth':
      if (typeof m.token !== 'string') fail('bad-message', 'auth: expected "token": a string');
      return { type: 'auth', token: m.token as string, ...(id !== undefined ? { id } : {}) };
    case 'ping':
      return { type: 'ping', ...(id !== undefined ? { id } : {}) };
    default:
      return fail(m.type === undefined ? 'bad-message' : 'unknown-type',
        `${m.type === undefined ? 'missing "type"' : `unknown type ${JSON.stringify(m.type)}`}; expected subscribe, unsubscribe, control, auth or ping`);
  }
}

/** True for a valid sample interval. */
export function isInterval(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= MIN_INTERVAL_MS && v <= MAX_INTERVAL_MS;
}
