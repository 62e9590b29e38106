/**
 * Errors that tell the user what to fix. Each domain has one class; the message is written for
 * the person who reads it (the CLI prints `message` alone, never a stack trace).
 * @module
 */
import type { CompositionConflict, CompositionMissing } from './strategy/composition.js';

/** Base class of every error Hyvisor raises on purpose. `code` is stable and machine-readable. */
export class HyvisorError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A config file or config object is wrong: the message names the file, the field and what is expected. */
export class ConfigError extends HyvisorError {
  constructor(message: string, readonly field?: string) {
    super('CONFIG', message);
  }
}

/** A guest image (ELF) cannot be loaded as it is: hostile or broken headers. */
export class GuestImageError extends HyvisorError {
  constructor(message: string) {
    super('GUEST_IMAGE', message);
  }
}

/** The backend (KVM, emulator) failed or is missing something. */
export class BackendError extends HyvisorError {
  constructor(message: string, readonly errno?: number) {
    super('BACKEND', message);
  }
}

/**
 * A strategy cannot run on the chosen backend, or its facets cannot be combined. The message is
 * one line for people; {@link missing} and {@link conflicts} say the same for code.
 */
export class CompositionError extends HyvisorError {
  /**
   * @param missing what the facets need and the composition lacks: backend capabilities, and
   *   services no facet provides (with the registered facets that could).
   * @param conflicts facets that cannot work together: an excluded service present, a service
   *   provided twice, a cycle of needs, a facet's own rule.
   */
  constructor(
    message: string,
    readonly missing: readonly CompositionMissing[] = [],
    readonly conflicts: readonly CompositionConflict[] = [],
  ) {
    super('COMPOSITION', message);
  }
}

/** The guest did something that ends the run (triple fault, an instruction the host cannot run). */
export class GuestCrashError extends HyvisorError {
  constructor(message: string, readonly rip?: bigint) {
    super('GUEST_CRASH', message);
  }
}

/** A device or bus was wired wrongly by the code composing the VMM (overlapping ranges, …). */
export class WiringError extends HyvisorError {
  constructor(message: string) {
    super('WIRING', message);
  }
}

/**
 * The host refused a resource the run needs (a port already in use, a socket that cannot be
 * bound): nothing in the config is wrong, so the CLI treats it as a runtime failure (exit 1).
 */
export class HostError extends HyvisorError {
  constructor(message: string, readonly operation: string, readonly errno?: string) {
    super('HOST', message);
  }
}
