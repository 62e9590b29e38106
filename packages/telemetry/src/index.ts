/**
 * Live telemetry and control for a Hyvisor VM: a WebSocket server speaking a versioned JSON
 * protocol, a browser dashboard, and the Prometheus exposition at `/metrics`.
 *
 * The entry exports what composing a VMM or writing a plugin needs: `TelemetryServer`,
 * `attachStandInProbes`, the protocol's names (`PROTOCOL_VERSION`, `TOPICS`, `CONTROL_OPS`,
 * `WS_PATH`, `TOKEN_ENV`, interval bounds) for clients, and the Prometheus renderer and parser.
 * The server's frame parsing, origin and loopback checks stay internal.
 * The runtime names are pinned in `docs/public-surface.json` (a test fails on any change).
 * @packageDocumentation
 */
export { CONTROL_OPS, MAX_INTERVAL_MS, MIN_INTERVAL_MS, PROTOCOL_VERSION, TOPICS, WS_PATH, type AuthRequest, type ClientMessage, type ControlOp, type ControlRequest, type ErrorCode, type ErrorMessage, type EventMessage, type HelloMessage, type IntervalMessage, type OkMessage, type PingRequest, type SampleMessage, type ServerMessage, type SubscribeRequest, type SubscribedMessage, type Topic, type UnsubscribeRequest, type VmDescription } from './protocol.js';
export { parsePrometheus, promValue, renderPrometheus, type PromFamily, type PromSample, type ServerFigures } from './prometheus.js';
export type { TelemetryTarget } from './target.js';
export { TOKEN_ENV, TelemetryServer, type TelemetryServerOptions } from './server.js';
export * from './instrument.js';
