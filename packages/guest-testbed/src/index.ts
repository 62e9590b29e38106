/**
 * `@hyvisor/guest-testbed`: the testbed guest (C, built by `make` into build/testbed.elf) and its
 * TypeScript harness.
 * @packageDocumentation
 */
export * from './harness.js';
export * from './ring0-scan.js';
