/**
 * The device and board registries: what a config's `devices:` and `board:` can name. The
 * devices package registers the built-ins (`registerBuiltinDevices`); a plugin registers its own
 * the same way, or a config names a module directly.
 * @module
 */
import { ConfigError, WiringError } from '../errors.js';
import { didYouMean } from '../config/validate.js';
import type { DeviceDefinition, PortRange } from './device.js';

/** One device of a board: a registered device type with optional placement and options. */
export interface BoardDevice {
  /** The registered device type. */
  readonly device: string;
  /** Instance name (default: the device's). */
  readonly name?: string;
  /** Base port (default: the device's). */
  readonly port?: number;
  /** Interrupt number (default: the device's). */
  readonly irq?: number;
  /** The device's options, as a config would give them. */
  readonly options?: Readonly<Record<string, unknown>>;
}

/** A named preset of platform devices: what a guest of some kind expects to find. */
export interface BoardDefinition {
  readonly name: string;
  /** One line for `hyvisor info` and docs. */
  readonly description: string;
  readonly devices: readonly BoardDevice[];
}

/** A registered device type as `hyvisor info` shows it. */
export interface DeviceListing {
  readonly name: string;
  readonly description: string;
  readonly ports: readonly PortRange[];
  readonly irq?: number;
  /** Option names with their type and description. */
  readonly options: readonly { readonly name: string; readonly type: string; readonly description: string }[];
}

/** A registered board as `hyvisor info` shows it. */
export interface BoardListing {
  readonly name: string;
  readonly description: string;
  /** Instance names with their device types (`com1 (uart16550)`). */
  readonly devices: readonly { readonly name: string; readonly device: string }[];
}

/**
 * Definitions by unique name, with the lookups both registries share: an unknown name is a
 * {@link ConfigError} that suggests the near one and lists the known ones.
 */
abstract class NamedDefinitions<T extends { readonly name: string }> {
  protected readonly byName = new Map<string, T>();

  /** `kind` names the definitions in messages (`device`, `board`). */
  protected constructor(private readonly kind: string) {}

  /** Adds a definition whatever its kind's own checks are. Throws {@link WiringError} if the name is taken. */
  protected add(definition: T): void {
    if (this.byName.has(definition.name)) throw new WiringError(`${this.kind} ${definition.name} is registered twice`);
    this.byName.set(definition.name, definition);
  }

  /** Adds a definition after the kind's own checks. */
  abstract register(definition: T): void;

  /** Registers `definition` unless its name is taken (for packages that share definitions). */
  provide(definition: T): void {
    if (!this.byName.has(definition.name)) this.register(definition);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** The definition of `name`; an unknown name is a {@link ConfigError} for `field` listing the known ones. */
  get(name: string, field = this.kind): T {
    const d = this.byName.get(name);
    if (d === undefined) {
      const near = didYouMean(name, this.byName.keys());
      throw new ConfigError(`${field}: unknown ${this.kind} '${name}'${near !== undefined ? `; did you mean ${near}?` : ''} (known: ${this.names().join(', ') || 'none registered'})`, field);
    }
    return d;
  }

  /** Registered names, sorted. */
  names(): string[] {
    return [...this.byName.keys()].sort();
  }
}

/** Device definitions by name. */
export class DeviceRegistry extends NamedDefinitions<DeviceDefinition> {
  constructor() {
    super('device');
  }

  /** Adds a device type. Throws {@link WiringError} if the name is taken or the definition is malformed. */
  register(definition: DeviceDefinition<any, any>): void {
    const why = notADeviceDefinition(definition);
    if (why !== undefined) throw new WiringError(`device registry: ${why}`);
    this.add(definition as DeviceDefinition);
  }

  /** Every registered device with its metadata, sorted by name. */
  list(): DeviceListing[] {
    return this.names().map((n) => {
      const d = this.byName.get(n)!;
      return {
        name: d.name, description: d.description, ports: d.ports,
        ...(d.irq !== undefined ? { irq: d.irq } : {}),
        options: Object.entries(d.options ?? {}).map(([name, o]) => ({ name, type: o.type, description: o.description })),
      };
    });
  }
}

/** Board definitions by name. */
export class BoardRegistry extends NamedDefinitions<BoardDefinition> {
  constructor() {
    super('board');
  }

  /** Adds a board. Throws {@link WiringError} if the name is taken. */
  register(board: BoardDefinition): void {
    this.add(board);
  }

  /** Every board with its devices, sorted by name. `devices` resolves default instance names. */
  list(devices?: DeviceRegistry): BoardListing[] {
    return this.names().map((n) => {
      const b = this.byName.get(n)!;
      return {
        name: b.name, description: b.description,
        devices: b.devices.map((d) => ({
          device: d.device,
          name: d.name ?? (devices?.has(d.device) ? instanceName(devices.get(d.device)) : d.device),
        })),
      };
    });
  }
}

/** The instance name a device gets when the config gives none. */
export function instanceName(def: DeviceDefinition): string {
  return def.defaultInstanceName ?? def.name;
}

/**
 * Why `value` is not a usable {@link DeviceDefinition} (for objects a third-party module
 * exports), or undefined if it is one.
 */
export function notADeviceDefinition(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return `expected a device definition object, got ${value === null ? 'null' : typeof value}`;
  const d = value as Partial<DeviceDefinition>;
  if (typeof d.name !== 'string' || !/^[a-z][a-z0-9-]*$/.test(d.name)) return `the device has no valid name (lower case, digits, dashes), got ${JSON.stringify(d.name)}`;
  if (typeof d.description !== 'string') return `device '${d.name}' has no description (a string)`;
  if (typeof d.create !== 'function') return `device '${d.name}' has no create(context, options) factory`;
  if (!Array.isArray(d.ports)) return `device '${d.name}' has no ports list (a list of { base, count }, empty for a device without fixed ports)`;
  for (const r of d.ports as unknown[]) {
    const p = r as Partial<PortRange>;
    if (typeof p !== 'object' || p === null || !Number.isInteger(p.base) || !Number.isInteger(p.count) || p.base! < 0 || p.count! < 1 || p.base! + p.count! > 0x10000) {
      return `device '${d.name}' has a bad port range ${JSON.stringify(r)} (expected { base, count } within 0..0xffff)`;
    }
  }
  if (d.irq !== undefined && (!Number.isInteger(d.irq) || d.irq < 0 || d.irq > 23)) return `device '${d.name}' has a bad irq ${JSON.stringify(d.irq)} (0..23)`;
  if (d.defaultInstanceName !== undefined && (typeof d.defaultInstanceName !== 'string' || !/^[a-z][a-z0-9-]*$/.test(d.defaultInstanceName))) {
    return `device '${d.name}' has a bad defaultInstanceName ${JSON.stringify(d.defaultInstanceName)}`;
  }
  if (d.options !== undefined && (typeof d.options !== 'object' || d.options === null)) return `device '${d.name}': options is not a mapping of option specs`;
  return undefined;
}
