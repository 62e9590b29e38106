/**
 * `@hyvisor/strategy-hybrid`: the `hybrid` strategy, composed from `@hyvisor/strategy-hvm` (CPU,
 * memory) and `@hyvisor/strategy-pv` (interrupts, timer, I/O). See {@link hybridStrategy}.
 * @packageDocumentation
 */
export * from './strategies.js';
