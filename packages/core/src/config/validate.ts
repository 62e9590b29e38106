/**
 * Validates a parsed config object. Every error names the field and what is expected, and, when
 * the config came from a file, the file: `hello.yaml: memory: expected a size like "256MiB", got "lots"`.
 * @module
 */
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { ConfigError } from '../errors.js';
import { FACET_NAMES, type FacetName } from '../facets/facet.js';
import {
  CONFIG_LIMITS, DEFAULT_BOARD, type DeviceSpec, type GuestBoot, type FacetChoice, type ModuleRef, type SerialConfig, type StorageConfig, type StrategyChoice,
  type StrategySpec, type TelemetryConfig, type VmConfig,
} from './schema.js';
import { formatSize, parseDuration, parseSize } from './sizes.js';

const TOP_FIELDS = ['name', 'backend', 'strategy', 'board', 'devices', 'memory', 'vcpus', 'guest', 'serial', 'storage', 'timeLimit', 'slice', 'telemetry'] as const;
const TELEMETRY_FIELDS = ['listen', 'token', 'interval', 'allowedOrigins'] as const;
const GUEST_FIELDS = ['kernel', 'linux', 'initrd', 'cmdline', 'workload', 'iterations'] as const;
const STORAGE_FIELDS = ['path', 'size'] as const;
/** Workloads of the testbed guest. */
export const WORKLOADS = ['cpu', 'syscall', 'memory', 'irq', 'io', 'time', 'all'] as const;
const SERIAL_FIELDS = ['output', 'input', 'bufferLimit'] as const;

/** Where a config came from: its file (for messages and relative paths). */
export interface ConfigSource {
  /** File name shown in messages (as the user typed it). */
  readonly file?: string;
  /** Directory that relative paths are resolved against (default: the file's directory, else cwd). */
  readonly baseDir?: string;
}

/** Validates `raw` and returns a complete {@link VmConfig}; throws {@link ConfigError}. */
export function validateConfig(raw: unknown, source: ConfigSource = {}): VmConfig {
  const prefix = source.file ? `${source.file}: ` : '';
  const fail = (field: string, message: string): never => {
    throw new ConfigError(`${prefix}${field}: ${message}`, source.file !== undefined ? { field, file: source.file } : { field });
  };
  const baseDir = source.baseDir ?? (source.file ? path.dirname(path.resolve(source.file)) : process.cwd());

  if (!isObject(raw)) fail('(top level)', `expected a mapping of fields (${TOP_FIELDS.join(', ')}), got ${describe(raw)}`);
  const top = raw as Record<string, unknown>;
  checkUnknown(top, TOP_FIELDS, '', fail);

  const name = optionalString(top, 'name', 'name', fail) ?? 'vm';
  const backend = optionalString(top, 'backend', 'backend', fail) ?? 'kvm';
  const strategy = validateStrategy(top.strategy, baseDir, source.file, fail);
  let board = DEFAULT_BOARD;
  if (top.board !== undefined) {
    if (typeof top.board !== 'string' || !DEVICE_NAME.test(top.board)) fail('board', `expected a board name like "minimal", "testbed" or "pc", got ${describe(top.board)}`);
    board = top.board as string;
  }
  const devices = validateDevices(top.devices, baseDir, source.file, fail);

  let memory = 64 * 1024 * 1024;
  if (top.memory !== undefined) {
    const m = parseSize(top.memory);
    if (m === undefined) fail('memory', `expected a size like "256MiB", got ${describe(top.memory)}`);
    memory = m!;
    if (memory < CONFIG_LIMITS.minMemory || memory > CONFIG_LIMITS.maxMemory) {
      fail('memory', `expected between ${formatSize(CONFIG_LIMITS.minMemory)} and ${formatSize(CONFIG_LIMITS.maxMemory)}, got ${formatSize(memory)}`);
    }
    if (memory % 4096 !== 0) fail('memory', `expected a multiple of 4KiB, got ${memory} bytes`);
  }

  let vcpus = 1;
  if (top.vcpus !== undefined) {
    if (typeof top.vcpus !== 'number' || !Number.isInteger(top.vcpus) || top.vcpus < 1) {
      fail('vcpus', `expected a whole number ≥ 1, got ${describe(top.vcpus)}`);
    }
    vcpus = top.vcpus as number;
    if (vcpus > CONFIG_LIMITS.maxVcpus) fail('vcpus', `at most ${CONFIG_LIMITS.maxVcpus} vCPU is supported so far, got ${vcpus}`);
  }

  if (top.guest === undefined) fail('guest', 'missing; expected a mapping with kernel (path to the guest ELF) or linux (path to a Linux kernel), and cmdline');
  if (!isObject(top.guest)) fail('guest', `expected a mapping with kernel or linux, and cmdline, got ${describe(top.guest)}`);
  const g = top.guest as Record<string, unknown>;
  checkUnknown(g, GUEST_FIELDS, 'guest.', fail);
  const { boot, kernel, initrd } = validateGuestKernel(g, fail);
  const cmdline = optionalString(g, 'cmdline', 'guest.cmdline', fail) ?? '';
  if (cmdline.length > CONFIG_LIMITS.maxCmdline) fail('guest.cmdline', `expected at most ${CONFIG_LIMITS.maxCmdline} characters, got ${cmdline.length}`);
  if (!/^[\x20-\x7e]*$/.test(cmdline)) fail('guest.cmdline', 'expected printable ASCII only');

  const workload = optionalString(g, 'workload', 'guest.workload', fail);
  for (const f of ['workload', 'iterations'] as const) {
    if (boot === 'linux' && g[f] !== undefined) fail(`guest.${f}`, 'only goes with guest.kernel (the testbed guest), not with guest.linux');
  }
  if (workload !== undefined && !(WORKLOADS as readonly string[]).includes(workload)) {
    fail('guest.workload', `expected one of ${WORKLOADS.join(', ')}, got ${describe(workload)}`);
  }
  let iterations: number | undefined;
  if (g.iterations !== undefined) {
    if (typeof g.iterations !== 'number' || !Number.isSafeInteger(g.iterations) || g.iterations < 1) {
      fail('guest.iterations', `expected a whole number ≥ 1, got ${describe(g.iterations)}`);
    }
    iterations = g.iterations as number;
  }

  const serial = validateSerial(top.serial, fail);
  const storage = validateStorage(top.storage, baseDir, fail);

  let timeLimitMs = 0;
  if (top.timeLimit !== undefined) {
    const t = parseDuration(top.timeLimit);
    if (t === undefined) fail('timeLimit', `expected a duration like "30s" or "500ms", got ${describe(top.timeLimit)}`);
    timeLimitMs = t!;
  }
  let sliceMs = 10;
  if (top.slice !== undefined) {
    const t = parseDuration(top.slice);
    if (t === undefined || t < 1 || t > 1000) fail('slice', `expected a duration between 1ms and 1s like "10ms", got ${describe(top.slice)}`);
    sliceMs = t!;
  }

  const telemetry = validateTelemetry(top.telemetry, fail);

  return {
    name, backend, strategy, board, devices, memory, vcpus,
    guest: {
      boot,
      kernel: path.resolve(baseDir, kernel),
      ...(initrd !== undefined ? { initrd: path.resolve(baseDir, initrd) } : {}),
      cmdline: guestCmdline(cmdline, workload, iterations),
      ...(workload !== undefined ? { workload } : {}),
      ...(iterations !== undefined ? { iterations } : {}),
    },
    ...(storage ? { storage } : {}),
    serial, timeLimitMs, sliceMs,
    ...(telemetry ? { telemetry } : {}),
  };
}

/**
 * The guest's kernel: `kernel` (a Hyvisor guest ELF) or `linux` (a Linux bzImage or vmlinux,
 * booted through the Linux boot protocol, with an optional `initrd`), never both.
 */
function validateGuestKernel(g: Record<string, unknown>, fail: Fail): { boot: GuestBoot; kernel: string; initrd?: string } {
  const elf = optionalString(g, 'kernel', 'guest.kernel', fail);
  const linux = optionalString(g, 'linux', 'guest.linux', fail);
  const initrd = optionalString(g, 'initrd', 'guest.initrd', fail);
  if (elf !== undefined && linux !== undefined) {
    fail('guest', 'give kernel (a Hyvisor guest ELF) or linux (a Linux bzImage or vmlinux), not both');
  }
  if (linux !== undefined) {
    if (linux === '') fail('guest.linux', 'expected the path of a Linux kernel (bzImage or vmlinux), got an empty string');
    if (initrd === '') fail('guest.initrd', 'expected the path of an initramfs, got an empty string (leave the field out for none)');
    return { boot: 'linux', kernel: linux, ...(initrd !== undefined ? { initrd } : {}) };
  }
  if (initrd !== undefined) fail('guest.initrd', 'only goes with guest.linux (a Linux kernel); a guest ELF takes no initrd');
  if (elf === undefined || elf === '') fail('guest.kernel', 'missing; expected the path of the guest ELF (or guest.linux: the path of a Linux kernel)');
  return { boot: 'elf', kernel: elf! };
}

/** Default port of the telemetry server. */
export const DEFAULT_TELEMETRY_PORT = 9464;

/**
 * Parses `[HOST:]PORT` (`9464`, `0.0.0.0:9464`, `[::1]:9464`) as `--telemetry` and the config's
 * `telemetry.listen` take it. Returns undefined if it is not one.
 */
export function parseListen(text: string): { host: string; port: number } | undefined {
  const m = /^(?:(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):)?(\d{1,5})$/.exec(text.trim());
  if (!m) return undefined;
  const port = Number(m[2]);
  if (port > 65535) return undefined;
  const host = m[1] === undefined ? '127.0.0.1' : m[1].replace(/^\[|\]$/g, '');
  return { host, port };
}

function validateTelemetry(raw: unknown, fail: Fail): TelemetryConfig | undefined {
  if (raw === undefined || raw === false) return undefined;
  if (raw === true) return { host: '127.0.0.1', port: DEFAULT_TELEMETRY_PORT, intervalMs: 100 };
  if (!isObject(raw)) fail('telemetry', `expected a mapping with listen, token, interval and allowedOrigins (or true), got ${describe(raw)}`);
  const t = raw as Record<string, unknown>;
  checkUnknown(t, TELEMETRY_FIELDS, 'telemetry.', fail);
  let host = '127.0.0.1';
  let port = DEFAULT_TELEMETRY_PORT;
  if (t.listen !== undefined) {
    const l = typeof t.listen === 'number' ? parseListen(String(t.listen)) : typeof t.listen === 'string' ? parseListen(t.listen) : undefined;
    if (!l) fail('telemetry.listen', `expected [HOST:]PORT like "9464" or "0.0.0.0:9464", got ${describe(t.listen)}`);
    host = l!.host;
    port = l!.port;
  }
  const token = optionalString(t, 'token', 'telemetry.token', fail);
  if (token !== undefined && token.length < 8) fail('telemetry.token', 'expected at least 8 characters (or leave it out and set HYVISOR_TELEMETRY_TOKEN)');
  let intervalMs = 100;
  if (t.interval !== undefined) {
    const d = parseDuration(t.interval);
    if (d === undefined || d < 10 || d > 60_000) fail('telemetry.interval', `expected a duration between 10ms and 60s like "100ms", got ${describe(t.interval)}`);
    intervalMs = d!;
  }
  const allowedOrigins = validateOrigins(t.allowedOrigins, fail);
  return {
    host, port, intervalMs,
    ...(token !== undefined ? { token } : {}),
    ...(allowedOrigins !== undefined && allowedOrigins.length > 0 ? { allowedOrigins } : {}),
  };
}

/**
 * The web origin `text` names (`scheme://host[:port]`, as a browser sends it in `Origin`),
 * normalized (lower-case scheme and host, no default port), or undefined if it is not one: a
 * path other than "/", a query, a fragment, credentials, or an opaque origin are refused. The
 * telemetry server's rule, plus no whitespace or control characters (which `URL` would drop).
 */
export function parseOrigin(text: string): string | undefined {
  if (/[\s\x00-\x1f\x7f]/.test(text)) return undefined;
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return undefined;
  }
  if (u.origin === 'null' || (u.pathname !== '/' && u.pathname !== '') || u.search !== '' || u.hash !== '' || u.username !== '' || u.password !== '') return undefined;
  return u.origin;
}

function validateOrigins(raw: unknown, fail: Fail): string[] | undefined {
  if (raw === undefined || raw === null) return undefined;
  const example = '"http://localhost:8080"';
  if (!Array.isArray(raw)) fail('telemetry.allowedOrigins', `expected a list of origins like [${example}], got ${describe(raw)}`);
  const out: string[] = [];
  (raw as unknown[]).forEach((o, i) => {
    const origin = typeof o === 'string' ? parseOrigin(o) : undefined;
    if (origin === undefined) fail(`telemetry.allowedOrigins[${i}]`, `expected an origin scheme://host[:port] like ${example} (no path), got ${describe(o)}`);
    if (!out.includes(origin!)) out.push(origin!);
  });
  return out;
}

/** The command line with `workload=`/`iterations=` words replaced or appended. */
export function guestCmdline(base: string, workload?: string, iterations?: number): string {
  let words = base.split(/\s+/).filter((w) => w !== '');
  if (workload !== undefined) words = [...words.filter((w) => !w.startsWith('workload=')), `workload=${workload}`];
  if (iterations !== undefined) words = [...words.filter((w) => !w.startsWith('iterations=')), `iterations=${iterations}`];
  return words.join(' ');
}

function validateStorage(raw: unknown, baseDir: string, fail: Fail): StorageConfig | undefined {
  if (raw === undefined) return undefined;
  if (!isObject(raw)) fail('storage', `expected a mapping with path and size, got ${describe(raw)}`);
  const s = raw as Record<string, unknown>;
  checkUnknown(s, STORAGE_FIELDS, 'storage.', fail);
  const p = optionalString(s, 'path', 'storage.path', fail);
  if (p === undefined || p === '') fail('storage.path', 'missing; expected the path of the disk file (created if missing)');
  let size = 16 * 1024 * 1024;
  if (s.size !== undefined) {
    const n = parseSize(s.size);
    if (n === undefined || n < 512 || n % 512 !== 0 || n > 2 ** 40) fail('storage.size', `expected a size like "16MiB", a multiple of 512 bytes, got ${describe(s.size)}`);
    size = n!;
  }
  return { path: path.resolve(baseDir, p!), size };
}

type Fail = (field: string, message: string) => never;

const STRATEGY_FIELDS = ['base', 'module', 'export', ...FACET_NAMES] as const;
const MODULE_FIELDS = ['module', 'export'] as const;

/**
 * `strategy`: a name (checked against the registry at composition), or a mapping: `base` (a
 * strategy name) or `module` (+ `export`) for a third-party strategy, and any of the five facet
 * kinds, each an implementation name or `{ module, export }`. Module paths are resolved here
 * (relative ones against the config file's directory); a missing module is an error now, its
 * export and what the factory returns are checked at composition.
 */
function validateStrategy(raw: unknown, baseDir: string, file: string | undefined, fail: Fail): StrategyChoice {
  if (raw === undefined) return 'minimal';
  if (typeof raw === 'string') {
    if (raw.trim() === '') fail('strategy', 'expected a strategy name like "hvm", "pv" or "hybrid", got an empty string');
    return raw;
  }
  if (!isObject(raw)) {
    fail('strategy', `expected a strategy name (e.g. hybrid) or a mapping like { base: hybrid, timer: emulated-pit } or { module: ./my-strategy.js }, got ${describe(raw)}`);
  }
  const s = raw as Record<string, unknown>;
  checkUnknown(s, STRATEGY_FIELDS, 'strategy.', fail);
  if (s.base !== undefined && s.module !== undefined) fail('strategy', 'give base (a strategy name) or module (a third-party strategy), not both');
  let base: string | ModuleRef;
  if (s.module !== undefined) {
    base = moduleRef(s.module, s.export, 'strategy', baseDir, fail);
  } else {
    if (s.export !== undefined) fail('strategy.export', 'only goes with module (the factory a strategy module exports)');
    if (s.base === undefined) fail('strategy', 'missing base; expected base: NAME (e.g. hybrid) with the facets to replace, or module: PATH');
    if (typeof s.base !== 'string' || s.base.trim() === '') fail('strategy.base', `expected a strategy name like "hybrid", got ${describe(s.base)}`);
    base = s.base as string;
  }
  const facets: Partial<Record<FacetName, FacetChoice>> = {};
  for (const kind of FACET_NAMES) {
    const v = s[kind];
    if (v === undefined) continue;
    const field = `strategy.${kind}`;
    if (typeof v === 'string') {
      if (v.trim() === '') fail(field, `expected ${kind === 'interrupt' || kind === 'io' ? 'an' : 'a'} ${kind} facet name, got an empty string`);
      facets[kind] = v;
    } else if (isObject(v)) {
      const m = v as Record<string, unknown>;
      checkUnknown(m, MODULE_FIELDS, `${field}.`, fail);
      if (m.module === undefined) fail(`${field}.module`, 'missing; expected the path of a module exporting a facet factory');
      facets[kind] = moduleRef(m.module, m.export, field, baseDir, fail);
    } else {
      fail(field, `expected a facet implementation name or a mapping with module and export, got ${describe(v)}`);
    }
  }
  const spec: StrategySpec = { base, facets, ...(file !== undefined ? { source: file } : {}) };
  return spec;
}

/** Resolves `module` (relative to `baseDir`, or a package name) and checks `export` is a name. */
function moduleRef(module: unknown, exp: unknown, field: string, baseDir: string, fail: Fail): ModuleRef {
  if (typeof module !== 'string' || module.trim() === '') fail(`${field}.module`, `expected the path of a JavaScript module like "./my-facet.js", got ${describe(module)}`);
  if (exp !== undefined && (typeof exp !== 'string' || !/^[A-Za-z_$][\w$]*$/.test(exp))) {
    fail(`${field}.export`, `expected the name of an exported factory like "createFacet", got ${describe(exp)}`);
  }
  const spec = module as string;
  let resolved: string;
  try {
    resolved = createRequire(path.join(baseDir, '__hyvisor_config__.js')).resolve(spec.startsWith('.') || path.isAbsolute(spec) ? path.resolve(baseDir, spec) : spec);
  } catch {
    fail(`${field}.module`, `module not found: ${JSON.stringify(spec)} (relative paths are resolved against ${baseDir})`);
  }
  return { module: resolved!, export: (exp as string | undefined) ?? 'default' };
}

/** Device and board names: lower case, digits and dashes (`uart16550`, `bench-counter`). */
const DEVICE_NAME = /^[a-z][a-z0-9-]*$/;
/** Fields of a `devices:` entry that are not the device's own options. */
export const DEVICE_ENTRY_FIELDS = ['device', 'module', 'export', 'name', 'port', 'irq'] as const;

/**
 * `devices`: a list whose entries are a device name (`- bench-counter`) or a mapping with
 * `device: NAME` or `module: PATH` (+ `export`), optionally `name`, `port`, `irq`, and the
 * device's own options. The options are checked at composition against the device's schema.
 */
function validateDevices(raw: unknown, baseDir: string, file: string | undefined, fail: Fail): DeviceSpec[] {
  if (raw === undefined || raw === null) return [];
  const example = '[bench-counter, { device: uart16550, name: com2, port: 0x2f8, irq: 3 }]';
  if (!Array.isArray(raw)) fail('devices', `expected a list of devices like ${example}, got ${describe(raw)}`);
  const out: DeviceSpec[] = [];
  (raw as unknown[]).forEach((entry, i) => {
    const field = `devices[${i}]`;
    const common = { field, baseDir, ...(file !== undefined ? { source: file } : {}) };
    if (typeof entry === 'string') {
      if (!DEVICE_NAME.test(entry)) fail(field, `expected a device name like "bench-counter", got ${describe(entry)}`);
      out.push({ device: entry, options: {}, ...common });
      return;
    }
    if (!isObject(entry)) fail(field, `expected a device name or a mapping like { device: bench-counter, port: 0x530 }, got ${describe(entry)}`);
    const e = entry as Record<string, unknown>;
    if (e.device !== undefined && e.module !== undefined) fail(field, 'give device (a registered device) or module (a third-party device), not both');
    let device: string | ModuleRef;
    if (e.module !== undefined) {
      device = moduleRef(e.module, e.export, field, baseDir, fail);
    } else {
      if (e.export !== undefined) fail(`${field}.export`, 'only goes with module (the device definition a module exports)');
      if (e.device === undefined) {
        const near = Object.keys(e).find((k) => closeTo('device', k) || closeTo('module', k));
        fail(`${field}.device`, `missing; expected device: NAME (e.g. bench-counter) or module: PATH${near !== undefined ? ` (is ${field}.${near} a typo?)` : ''}`);
      }
      if (typeof e.device !== 'string' || !DEVICE_NAME.test(e.device)) fail(`${field}.device`, `expected a device name like "bench-counter", got ${describe(e.device)}`);
      device = e.device as string;
    }
    let name: string | undefined;
    if (e.name !== undefined) {
      if (typeof e.name !== 'string' || !DEVICE_NAME.test(e.name)) fail(`${field}.name`, `expected an instance name like "com2" (lower case, digits, dashes), got ${describe(e.name)}`);
      name = e.name as string;
    }
    const port = e.port === undefined ? undefined : parsePort(e.port);
    if (port === null) fail(`${field}.port`, `expected a port number 0..0xffff like 0x2f8, got ${describe(e.port)}`);
    let irq: number | undefined;
    if (e.irq !== undefined) {
      if (typeof e.irq !== 'number' || !Number.isInteger(e.irq) || e.irq < 0 || e.irq > 23) fail(`${field}.irq`, `expected an interrupt number 0..23, got ${describe(e.irq)}`);
      irq = e.irq as number;
    }
    const options: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(e)) if (!(DEVICE_ENTRY_FIELDS as readonly string[]).includes(k)) options[k] = v;
    out.push({
      device, options, ...common,
      ...(name !== undefined ? { name } : {}), ...(port !== undefined ? { port: port! } : {}), ...(irq !== undefined ? { irq } : {}),
    });
  });
  return out;
}

/** A port: a number or a "0x…" string in 0..0xffff; null if it is not one. */
function parsePort(v: unknown): number | null {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^(0x[0-9a-f]+|\d+)$/i.test(v.trim()) ? Number(v.trim()) : NaN;
  return Number.isInteger(n) && n >= 0 && n <= 0xffff ? n : null;
}

function validateSerial(raw: unknown, fail: Fail): SerialConfig {
  if (raw === undefined) return { output: 'stdout', input: 'none' };
  if (!isObject(raw)) fail('serial', `expected a mapping with output and input, got ${describe(raw)}`);
  const s = raw as Record<string, unknown>;
  checkUnknown(s, SERIAL_FIELDS, 'serial.', fail);
  const output = s.output ?? 'stdout';
  if (output !== 'stdout' && output !== 'none' && output !== 'buffer') fail('serial.output', `expected stdout, none or buffer, got ${describe(output)}`);
  const input = s.input ?? 'none';
  if (input !== 'stdin' && input !== 'none') fail('serial.input', `expected stdin or none, got ${describe(input)}`);
  let bufferLimit: number | undefined;
  if (s.bufferLimit !== undefined) {
    bufferLimit = parseSize(s.bufferLimit);
    if (bufferLimit === undefined || bufferLimit < 1 || bufferLimit > 2 ** 31) {
      fail('serial.bufferLimit', `expected a size like "16MiB" (at least 1 byte, at most 2GiB), got ${describe(s.bufferLimit)}`);
    }
  }
  return { output: output as SerialConfig['output'], input: input as SerialConfig['input'], ...(bufferLimit !== undefined ? { bufferLimit } : {}) };
}

function checkUnknown(obj: Record<string, unknown>, known: readonly string[], prefix: string, fail: Fail): void {
  for (const key of Object.keys(obj)) {
    if (!known.includes(key)) {
      const near = known.find((k) => closeTo(k, key));
      fail(`${prefix}${key}`, `unknown field${near ? `; did you mean ${prefix}${near}?` : ''} (known: ${known.join(', ')})`);
    }
  }
}

/** The name in `known` closest to `name` (one or two edits, for "did you mean"), or undefined. */
export function didYouMean(name: string, known: Iterable<string>): string | undefined {
  for (const k of known) if (closeTo(k, name)) return k;
  return undefined;
}

function optionalString(obj: Record<string, unknown>, key: string, field: string, fail: Fail): string | undefined {
  const v = obj[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') fail(field, `expected a string, got ${describe(v)}`);
  return v as string;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Describes a value for a message: strings quoted, others by type. */
export function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return String(v);
}

/** True if `a` and `b` differ by at most one edit (for "did you mean"). */
function closeTo(a: string, b: string): boolean {
  if (Math.abs(a.length - b.length) > 1) return false;
  const dp = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) dp[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1;
      dp[i]![j] = Math.min(dp[i - 1]![j]! + 1, dp[i]![j - 1]! + 1, dp[i - 1]![j - 1]! + cost);
    }
  }
  return dp[a.length]![b.length]! <= (a.length > 4 ? 2 : 1);
}
