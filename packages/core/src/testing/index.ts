/**
 * `@hyvisor/core/testing`: test doubles for code that plugs into core (devices, facets). Not part
 * of a running VMM: the main entry does not export them, so nothing a VMM loads pulls them in.
 *
 * - {@link ManualClock}: a {@link TimerQueue} whose time moves only when the test says so;
 * - {@link RecordingIrqLine}: an interrupt line that records what the device did with it;
 * - {@link abilityMismatches}: the conformance check of a backend's (or a test double's) VM
 *   sub-objects against its capability list.
 * @packageDocumentation
 */
export * from './manual-clock.js';
export * from './recording-irq-line.js';
export { abilityMismatches } from '../backend/abilities.js';
