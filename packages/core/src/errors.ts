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

/** Where a {@link ConfigError} points: the field, the file and the value that was refused. */
export interface ConfigErrorDetails {
  /** Dotted path of the refused field (`memory`, `strategy.timer`, `devices[2].port`). */
  readonly field?: string;
  /** The config file the field was read from, as the user named it. */
  readonly file?: string;
  /** The value that was refused, as it was given. */
  readonly value?: unknown;
}

/**
 * A config file or config object is wrong: the message names the file, the field and what is
 * expected; {@link field}, {@link file} and {@link value} say the same for code.
 */
export class ConfigError extends HyvisorError {
  readonly field?: string;
  readonly file?: string;
  readonly value?: unknown;
  /** @param details the refused field; a string is the field alone. */
  constructor(message: string, details: string | ConfigErrorDetails = {}) {
    super('CONFIG', message);
    const d = typeof details === 'string' ? { field: details } : details;
    if (d.field !== undefined) this.field = d.field;
    if (d.file !== undefined) this.file = d.file;
    if ('value' in d) this.value = d.value;
  }
}

/** What a {@link GuestImageError} is about: the image and the header field that is wrong. */
export interface GuestImageErrorDetails {
  /** The image (file name, or the name given to the loader). */
  readonly image?: string;
  /** The header field or structure that was refused (`e_machine`, `setup_header.version`, `segment`). */
  readonly field?: string;
}

/** A guest image (ELF, bzImage) cannot be loaded as it is: hostile or broken headers. */
export class GuestImageError extends HyvisorError {
  readonly image?: string;
  readonly field?: string;
  constructor(message: string, details: GuestImageErrorDetails = {}) {
    super('GUEST_IMAGE', message);
    if (details.image !== undefined) this.image = details.image;
    if (details.field !== undefined) this.field = details.field;
  }
}

/** What a {@link BackendError} is about: the failing operation and the host's answer. */
export interface BackendErrorDetails {
  /** The backend operation that failed: an ioctl (`KVM_CREATE_VCPU`) or a method (`createVcpu`, `irqchip.setLine`). */
  readonly operation?: string;
  /** The host errno (positive, `22` for EINVAL) when the host refused the operation. */
  readonly errno?: number;
  /** Values the operation was given that matter for the failure (`{ id: 5 }`, `{ vector: 300 }`). */
  readonly values?: Readonly<Record<string, string | number | bigint | boolean>>;
}

/**
 * The backend (KVM, emulator) failed or is missing something. {@link operation}, {@link errno}
 * and {@link values} carry what the one-line message says, for code that reacts to it.
 */
export class BackendError extends HyvisorError {
  readonly operation?: string;
  readonly errno?: number;
  readonly values?: Readonly<Record<string, string | number | bigint | boolean>>;
  constructor(message: string, details: BackendErrorDetails = {}) {
    super('BACKEND', message);
    if (details.operation !== undefined) this.operation = details.operation;
    if (details.errno !== undefined) this.errno = details.errno;
    if (details.values !== undefined) this.values = details.values;
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
    /** What was being composed when it failed: `strategy hybrid`, `devices[1] (uart16550 'com2')`. */
    readonly subject?: string,
  ) {
    super('COMPOSITION', message);
  }
}

/** The guest did something that ends the run (triple fault, an instruction the host cannot run). */
export class GuestCrashError extends HyvisorError {
  /** @param rip where the guest was when the run ended, if known. */
  constructor(message: string, readonly rip?: bigint) {
    super('GUEST_CRASH', message);
  }
}

/** A device or bus was wired wrongly by the code composing the VMM (overlapping ranges, …). */
export class WiringError extends HyvisorError {
  /**
   * @param operation what was being wired (`PioBus.register`, `MmioBus.register`, `HypercallTable.register`).
   * @param values the ranges or numbers involved (`{ base: 0x3f8, count: 8, owner: 'com1' }`).
   */
  constructor(
    message: string,
    readonly operation?: string,
    readonly values?: Readonly<Record<string, string | number | bigint | boolean>>,
  ) {
    super('WIRING', message);
  }
}

/**
 * The host refused a resource the run needs (a port already in use, a socket that cannot be
 * bound): nothing in the config is wrong, so the CLI treats it as a runtime failure (exit 1).
 */
export class HostError extends HyvisorError {
  /**
   * @param operation what the host refused (`listen`).
   * @param errno the host's error code (`EADDRINUSE`).
   */
  constructor(message: string, readonly operation: string, readonly errno?: string) {
    super('HOST', message);
  }
}

/**
 * A snapshot directory cannot be written or restored as it is: missing, truncated, corrupted
 * (checksum), from another format version, or taken on a machine this one cannot stand in for
 * (board, strategy, memory, devices, disks). The message is one line naming the file and what
 * differs; nothing has been restored when it is thrown.
 */
export class SnapshotError extends HyvisorError {
  constructor(message: string, readonly dir?: string) {
    super('SNAPSHOT', message);
  }
}
