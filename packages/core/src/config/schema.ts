/**
 * The VM configuration: what a YAML/JSON file or a config object says, after validation.
 * @module
 */
import type { FacetName } from '../facets/facet.js';

/** Where the serial console's output goes and where its input comes from. */
export interface SerialConfig {
  /** `stdout` (default), `none`, or `buffer` (kept in memory, for tests and embedding). */
  readonly output: 'stdout' | 'none' | 'buffer';
  /** `stdin` feeds the UART's receive register; `none` (default) leaves it empty. */
  readonly input: 'stdin' | 'none';
  /**
   * With `output: buffer`: most bytes kept in memory (default 16 MiB); bytes past it are
   * discarded and counted, and the CLI reports the count when the run ends.
   */
  readonly bufferLimit?: number;
}

/** The disk behind the storage device (HVM) or the block ring (PV). */
export interface StorageConfig {
  /** Absolute path of the host file. */
  readonly path: string;
  /** Size in bytes when the file has to be created (a multiple of 512). */
  readonly size: number;
}

/** The telemetry server (WebSocket, dashboard, /metrics): see docs/telemetry-protocol.md. */
export interface TelemetryConfig {
  /** Address to bind; 127.0.0.1 unless the config or `--telemetry HOST:PORT` names another. */
  readonly host: string;
  /** TCP port (0: any free port). */
  readonly port: number;
  /**
   * Shared secret: required for control (pause, resume, stop, interval) and for any client when
   * bound to a non-loopback address. Absent: taken from HYVISOR_TELEMETRY_TOKEN at start.
   */
  readonly token?: string;
  /** Default sample interval in milliseconds. */
  readonly intervalMs: number;
  /**
   * Web origins (`scheme://host[:port]`, normalized: lower case, no default port) besides the
   * server's own whose pages may open the WebSocket (`TelemetryServer.start`'s `allowedOrigins`).
   * Absent or empty: only the server's own.
   */
  readonly allowedOrigins?: readonly string[];
}

/** A third-party strategy or facet: a module and the factory it exports. */
export interface ModuleRef {
  /** Absolute path of the module (a relative path in the config is resolved against the config file's directory). */
  readonly module: string;
  /** Name of the exported factory, `(backend: BackendInfo) => Strategy | Facet`; `default` if the config names none. */
  readonly export: string;
}

/** A facet implementation: a registered name (`emulated-pit`, `pvclock`, …) or a module. */
export type FacetChoice = string | ModuleRef;

/**
 * The mapping form of `strategy`: a base strategy with single facets replaced,
 * `{ base: hybrid, timer: emulated-pit }`, or a third-party strategy, `{ module: ./my-strategy.js }`.
 */
export interface StrategySpec {
  /** The strategy whose other facets are kept: a registered strategy name or a module. */
  readonly base: string | ModuleRef;
  /** The facets replaced, by facet kind. */
  readonly facets: Readonly<Partial<Record<FacetName, FacetChoice>>>;
  /** The config file as the user named it, for messages. */
  readonly source?: string;
}

/** What `strategy` says: a registered strategy name, or a {@link StrategySpec}. */
export type StrategyChoice = string | StrategySpec;

/**
 * One entry of the config's `devices:` list: a registered device type by name, or a third-party
 * device module, with its placement and options. Names, modules and options are checked against
 * the device registry at composition (before the backend is opened).
 */
export interface DeviceSpec {
  /** A registered device type (`bench-counter`) or a module exporting a device definition. */
  readonly device: string | ModuleRef;
  /** Instance name; an instance of the board with the same name is replaced by this entry. */
  readonly name?: string;
  /** Base port (moves the device's first port range; the others keep their distance). */
  readonly port?: number;
  /** Interrupt number (only for devices that have one). */
  readonly irq?: number;
  /** The device's own options, unchecked until the device's schema is known. */
  readonly options: Readonly<Record<string, unknown>>;
  /** Field name for messages: `devices[2]`. */
  readonly field: string;
  /** Directory that `path` options are resolved against. */
  readonly baseDir: string;
  /** The config file as the user named it, for messages. */
  readonly source?: string;
}

/**
 * The board when a config names none: `minimal` (COM1 and the debug-exit port). The test devices
 * of the `testbed` board are opt-in: the stall device can hold the VMM's thread and the others
 * exist only for the testbed guest's workloads and the benchmarks.
 */
export const DEFAULT_BOARD = 'minimal';

/** How a guest kernel is booted (see {@link VmConfig.guest}). */
export type GuestBoot = 'elf' | 'linux';

/** A validated VM configuration. Paths are absolute. */
export interface VmConfig {
  /** Name for messages and telemetry. */
  readonly name: string;
  /** Backend name (`kvm`). */
  readonly backend: string;
  /**
   * The strategy: a registered name (`minimal`, `hvm`, `hvm-userspace`, `pv`, `hybrid`, …) or a
   * {@link StrategySpec} (facets replaced, or a third-party module).
   */
  readonly strategy: StrategyChoice;
  /** Guest RAM in bytes. */
  readonly memory: number;
  /** Number of vCPUs. */
  readonly vcpus: number;
  readonly guest: {
    /**
     * How the kernel is booted: `elf`, a Hyvisor guest ELF entered in 64-bit mode with the
     * start-info page (the config's `guest.kernel`); `linux`, a Linux kernel (bzImage or ELF
     * vmlinux) through the Linux 64-bit boot protocol with a zero page (the config's `guest.linux`).
     */
    readonly boot: GuestBoot;
    /** Absolute path of the guest kernel: the guest ELF, or the Linux bzImage/vmlinux. */
    readonly kernel: string;
    /** Absolute path of the initramfs (Linux only; optional). */
    readonly initrd?: string;
    /**
     * Command line handed to the guest: in its boot-information page (ELF, with `workload=` and
     * `iterations=` appended when those fields are set), or as the kernel command line (Linux).
     */
    readonly cmdline: string;
    /** Testbed workload to run (`cpu`, `syscall`, `memory`, `irq`, `io`, `time`, `all`), if any. */
    readonly workload?: string;
    /** Iterations of the workload, if set. */
    readonly iterations?: number;
  };
  /**
   * The board: a named preset of platform devices (`minimal`, `testbed`, `pc`, or a registered
   * third-party board); {@link DEFAULT_BOARD} when the config names none.
   */
  readonly board: string;
  /** Devices added to the board's (or replacing a board device of the same instance name). */
  readonly devices: readonly DeviceSpec[];
  /** The VM's disk: a host file (created with `size` bytes if missing). */
  readonly storage?: StorageConfig;
  readonly serial: SerialConfig;
  /** Stop the guest after this many milliseconds (0: no limit). */
  readonly timeLimitMs: number;
  /** How long a vCPU runs before the event loop gets its turn, in milliseconds. */
  readonly sliceMs: number;
  /** The telemetry server, when enabled. */
  readonly telemetry?: TelemetryConfig;
}

/** Limits the validator enforces. */
export const CONFIG_LIMITS = {
  minMemory: 2 * 1024 * 1024,
  maxMemory: 64 * 1024 ** 3,
  maxVcpus: 1,
  maxCmdline: 2047,
} as const;
