/**
 * From a config's `board:` and `devices:` to the list of device instances a machine gets, checked
 * before any backend is opened: the board and every device exist, modules load and export a
 * device definition, options match each device's schema, instance names are unique and no two
 * devices claim the same port. Every mistake is one {@link ConfigError} line naming the field.
 * @module
 */
import * as path from 'node:path';
import type { DeviceSpec, ModuleRef } from '../config/schema.js';
import { DEVICE_ENTRY_FIELDS, describe, didYouMean } from '../config/validate.js';
import { parseDuration, parseSize } from '../config/sizes.js';
import { loadPluginModule } from '../config/plugin-module.js';
import { ConfigError } from '../errors.js';
import type { DeviceDefinition, DeviceOptionSpec, DeviceOptionValues, PortRange } from './device.js';
import { instanceName, notADeviceDefinition, type BoardRegistry, type DeviceRegistry } from './registry.js';

/** One device instance the machine will get. */
export interface PlannedDevice {
  /** Instance name (PIO range name). */
  readonly name: string;
  readonly definition: DeviceDefinition;
  /** Where its ports are (the definition's defaults, moved by `port:`). */
  readonly ports: readonly PortRange[];
  /** Its interrupt number; undefined for a device without one. */
  readonly irq: number | undefined;
  /** Options checked and converted, defaults filled in. */
  readonly options: DeviceOptionValues;
  /** Where it came from, for messages: `board testbed` or `devices[2]`. */
  readonly origin: string;
  /** The config file of a `devices:` entry as the user named it, for messages. */
  readonly source?: string;
}

/** The checked device set of a machine. */
export interface DevicePlan {
  readonly board: string;
  readonly devices: readonly PlannedDevice[];
}

/** What {@link planDevices} reads from a config. */
export interface DeviceChoice {
  readonly board: string;
  readonly devices: readonly DeviceSpec[];
}

/**
 * Resolves the board's devices, then the config's entries (an entry whose instance name matches
 * a board device replaces it; others are added), and checks the result. Throws {@link ConfigError}.
 */
export function planDevices(choice: DeviceChoice, devices: DeviceRegistry, boards: BoardRegistry): DevicePlan {
  const board = boards.get(choice.board, 'board');
  const planned: PlannedDevice[] = [];
  for (const [i, bd] of board.devices.entries()) {
    const field = `board ${board.name} (device ${i}: ${bd.device})`;
    const def = devices.get(bd.device, field);
    planned.push(place(def, {
      name: bd.name, port: bd.port, irq: bd.irq, options: bd.options ?? {}, baseDir: process.cwd(),
    }, field, `board ${board.name}`));
  }
  const fromBoard = new Set(planned.map((p) => p.name));
  const fromConfig = new Map<string, string>();
  for (const spec of choice.devices) {
    const prefix = spec.source !== undefined ? `${spec.source}: ` : '';
    const field = `${prefix}${spec.field}`;
    const def = typeof spec.device === 'string' ? devices.get(spec.device, `${field}.device`) : loadDeviceModule(spec.device, field);
    const p = { ...place(def, spec, field, spec.field), ...(spec.source !== undefined ? { source: spec.source } : {}) };
    const earlier = fromConfig.get(p.name);
    if (earlier !== undefined) {
      throw new ConfigError(`${field}: instance name '${p.name}' is already used by ${earlier}; give one of them another name: (e.g. name: ${p.name}-2)`, spec.field);
    }
    fromConfig.set(p.name, spec.field);
    if (fromBoard.has(p.name)) planned[planned.findIndex((q) => q.name === p.name)] = p;
    else planned.push(p);
  }
  checkPortClashes(planned, choice);
  return { board: board.name, devices: planned };
}

/** Where and how one device goes: instance name, ports, IRQ, options. */
function place(
  def: DeviceDefinition,
  spec: { name?: string | undefined; port?: number | undefined; irq?: number | undefined; options: Readonly<Record<string, unknown>>; baseDir: string },
  field: string,
  origin: string,
): PlannedDevice {
  const name = spec.name ?? instanceName(def);
  let ports = def.ports;
  if (spec.port !== undefined) {
    if (def.ports.length === 0) throw new ConfigError(`${field}.port: ${def.name} has no fixed ports (the guest places it); leave port out`, 'port');
    const delta = spec.port - def.ports[0]!.base;
    ports = def.ports.map((r) => ({ base: r.base + delta, count: r.count }));
    const bad = ports.find((r) => r.base < 0 || r.base + r.count > 0x10000);
    if (bad !== undefined) throw new ConfigError(`${field}.port: ${def.name} needs ports [${hex(bad.base)}, ${hex(bad.base + bad.count)}), outside 0x0..0xffff`, 'port');
  }
  if (spec.irq !== undefined && def.irq === undefined) throw new ConfigError(`${field}.irq: ${def.name} has no interrupt line; leave irq out`, 'irq');
  const irq = spec.irq ?? def.irq;
  const options = checkOptions(def, spec.options, field, spec.baseDir);
  return { name, definition: def, ports, irq, options, origin };
}

/** Checks `raw` against the device's options schema; returns converted values with defaults. */
export function checkOptions(def: DeviceDefinition, raw: Readonly<Record<string, unknown>>, field: string, baseDir: string): DeviceOptionValues {
  const schema = def.options ?? {};
  const out: Record<string, string | number | boolean> = {};
  for (const key of Object.keys(raw)) {
    if (Object.hasOwn(schema, key)) continue;
    const near = didYouMean(key, [...DEVICE_ENTRY_FIELDS, ...Object.keys(schema)]);
    const known = Object.keys(schema);
    throw new ConfigError(
      `${field}.${key}: unknown option of ${def.name}${near !== undefined ? `; did you mean ${near}?` : ''} (${known.length > 0 ? `its options: ${known.join(', ')}` : 'it takes none'}; every device: name, port${def.irq !== undefined ? ', irq' : ''})`,
      key,
    );
  }
  for (const [key, spec] of Object.entries(schema)) {
    const v = raw[key];
    if (v === undefined || v === null) {
      if (spec.default !== undefined) out[key] = spec.type === 'path' ? path.resolve(baseDir, spec.default as string) : spec.default;
      continue;
    }
    out[key] = convert(spec, v, `${field}.${key}`, baseDir);
  }
  return out;
}

function convert(spec: DeviceOptionSpec, v: unknown, field: string, baseDir: string): string | number | boolean {
  const fail = (expected: string): never => {
    throw new ConfigError(`${field}: expected ${expected}, got ${describe(v)}`, field);
  };
  const range = (n: number, unit = ''): number => {
    const s = spec as { min?: number; max?: number };
    if ((s.min !== undefined && n < s.min) || (s.max !== undefined && n > s.max)) {
      fail(`a value between ${s.min ?? '-∞'}${unit} and ${s.max ?? '∞'}${unit}`);
    }
    return n;
  };
  switch (spec.type) {
    case 'string':
      return typeof v === 'string' ? v : fail('a string');
    case 'boolean':
      return typeof v === 'boolean' ? v : fail('true or false');
    case 'integer': {
      const n = typeof v === 'number' ? v : typeof v === 'string' && /^(0x[0-9a-f]+|-?\d+)$/i.test(v.trim()) ? Number(v.trim()) : NaN;
      if (!Number.isSafeInteger(n)) fail('a whole number');
      return range(n);
    }
    case 'enum':
      return typeof v === 'string' && spec.values.includes(v) ? v : fail(`one of ${spec.values.join(', ')}`);
    case 'path':
      return typeof v === 'string' && v !== '' ? path.resolve(baseDir, v) : fail('the path of a host file');
    case 'size': {
      const n = parseSize(v);
      return n === undefined ? fail('a size like "16MiB"') : range(n, ' bytes');
    }
    case 'duration': {
      const n = parseDuration(v);
      return n === undefined ? fail('a duration like "50us" or "10ms"') : range(n, ' ms');
    }
  }
}

function checkPortClashes(planned: readonly PlannedDevice[], choice: DeviceChoice): void {
  const claims: { base: number; end: number; dev: PlannedDevice }[] = [];
  for (const dev of planned) for (const r of dev.ports) claims.push({ base: r.base, end: r.base + r.count, dev });
  claims.sort((a, b) => a.base - b.base);
  for (let i = 1; i < claims.length; i++) {
    const a = claims[i - 1]!;
    const b = claims[i]!;
    if (b.base >= a.end || a.dev === b.dev) continue;
    // Name the entry the user can change: a config entry rather than a board device.
    const [mine, other] = b.dev.origin.startsWith('devices[') || !a.dev.origin.startsWith('devices[') ? [b, a] : [a, b];
    const spec = choice.devices.find((s) => s.field === mine.dev.origin);
    const prefix = spec?.source !== undefined ? `${spec.source}: ` : '';
    const fix = mine.dev.origin.startsWith('devices[')
      ? `; move one with port:, or give this entry name: ${other.dev.name} to replace it`
      : '';
    throw new ConfigError(
      `${prefix}${mine.dev.origin}: ${mine.dev.definition.name} '${mine.dev.name}' at ports [${hex(mine.base)}, ${hex(mine.end)}) clashes with '${other.dev.name}' (${other.dev.definition.name}, ${other.dev.origin}) at [${hex(other.base)}, ${hex(other.end)})${fix}`,
      mine.dev.origin,
    );
  }
}

/**
 * Loads a third-party device module synchronously (ES modules without top-level await, or
 * CommonJS) and returns the device definition it exports under `ref.export`.
 */
export function loadDeviceModule(ref: ModuleRef, field: string): DeviceDefinition {
  const { exports } = loadPluginModule(ref, field, 'device modules');
  const def = exports[ref.export];
  if (def === undefined) {
    const names = Object.keys(exports).filter((k) => k !== '__esModule');
    throw new ConfigError(`${field}.export: ${ref.module} has no export '${ref.export}' (it exports: ${names.join(', ') || 'nothing'}); name the device definition with export: NAME`, field);
  }
  const why = notADeviceDefinition(def);
  if (why !== undefined) throw new ConfigError(`${field}.export: '${ref.export}' of ${ref.module} is not a device definition: ${why}`, field);
  return def as DeviceDefinition;
}

function hex(n: number): string {
  return '0x' + n.toString(16);
}
