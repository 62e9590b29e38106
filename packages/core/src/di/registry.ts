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

/** Named factories of `T`; `kind` ('strategy', 'backend') appears in messages. */
export class Registry<T> {
  private readonly factories = new Map<string, { factory: () => T; description: string }>();

  constructor(readonly kind: string) {}

  /** Adds a factory. Throws {@link WiringError} if the name is taken. */
  register(name: string, description: string, factory: () => T): void {
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

  /** Creates `name`; an unknown name is a {@link ConfigError} for `field` that lists the known ones. */
  create(name: string, field: string = this.kind): T {
    const entry = this.factories.get(name);
    if (!entry) {
      const known = [...this.factories.keys()].sort().join(', ') || '(none registered)';
      throw new ConfigError(`${field}: unknown ${this.kind} '${name}'; known: ${known}`, field);
    }
    return entry.factory();
  }
}
