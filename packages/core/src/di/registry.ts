/**
 * A name → factory registry, used for strategies and backends so that config can name them and
 * plugins can add their own.
 * @module
 */
import { ConfigError, WiringError } from '../errors.js';

/** One registered entry. */
export interface RegistryEntry {
  readonly name: string;
  readonly description: string;
}

/**
 * Named factories of `T`; `kind` ('strategy', 'backend') appears in messages. Factories take
 * `A` (e.g. a strategy factory gets the backend's info, so it can pick what the host offers).
 */
export class Registry<T, A extends unknown[] = []> {
  private readonly factories = new Map<string, { factory: (...args: A) => T; description: string }>();

  constructor(readonly kind: string) {}

  /** Adds a factory. Throws {@link WiringError} if the name is taken. */
  register(name: string, description: string, factory: (...args: A) => T): void {
    if (this.factories.has(name)) throw new WiringError(`${this.kind} ${name} is registered twice`);
    this.factories.set(name, { factory, description });
  }

  /** Registered names with descriptions, sorted by name. */
  list(): RegistryEntry[] {
    return [...this.factories.entries()]
      .map(([name, v]) => ({ name, description: v.description }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  has(name: string): boolean {
    return this.factories.has(name);
  }

  /** Throws the {@link ConfigError} of {@link create} if `name` is unknown, without creating anything. */
  assertHas(name: string, field: string = this.kind): void {
    if (!this.factories.has(name)) {
      const known = [...this.factories.keys()].sort().join(', ') || '(none registered)';
      throw new ConfigError(`${field}: unknown ${this.kind} '${name}'; known: ${known}`, field);
    }
  }

  /** Creates `name`; an unknown name is a {@link ConfigError} for `field` that lists the known ones. */
  create(name: string, field: string = this.kind, ...args: A): T {
    this.assertHas(name, field);
    return this.factories.get(name)!.factory(...args);
  }
}
