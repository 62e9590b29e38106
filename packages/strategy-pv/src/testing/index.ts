/**
 * Test doubles for PV facets (`@hyvisor/strategy-pv/testing`): a fake machine context around real
 * core objects, a hand-driven clock and a seeded generator for property tests.
 * @packageDocumentation
 */
export { ManualClock as FakeClock } from '@hyvisor/core/testing';
export * from './fake-machine.js';
export * from './random.js';
