/**
 * Live telemetry and control for a Hyvisor VM: a WebSocket server speaking a versioned JSON
 * protocol, a browser dashboard, and the Prometheus exposition at `/metrics`.
 * @packageDocumentation
 */
export * from './protocol.js';
export * from './prometheus.js';
export * from './target.js';
export * from './server.js';
export * from './instrument.js';
