/**
 * Test doubles of a machine's inputs, around real core objects: {@link GuestMemory} over
 * ArrayBuffer regions, {@link PioBus}, {@link MmioBus}, {@link HypercallTable}, a
 * {@link FakeClock}, a recording vCPU and a VM that hands out fake ioeventfds. Facets attach to it
 * exactly as to a real machine; the guest's side is played by writing registers and memory and
 * "executing" the doorbell's `outl`.
 * @module
 */
import {
  ExitDispatcher, FACET_NAMES, HypercallTable, MmioBus, PioBus, Ports, ServiceScope, TelemetryHub, attachFacets, createExit, GuestMemory, offerAbilities,
  type BackendInfo, type Capability, type CpuidEntry, type Disposable, type IoEventFd, type IoEventSpec, type IoEvents,
  type RegionRefresh,
  type IrqLine, type MachineContext, type MemoryRegion, type RegionOptions, type RegisterName, type Registers,
  type SpecialRegisters, type Strategy, type Vcpu, type VcpuEvents, type Vm, type VmConfig, type VmExit,
} from '@hyvisor/core';
import { noVcpuEvents, resetFxsaveImage } from '@hyvisor/core';
import { longModeSpecialRegisters } from '@hyvisor/core';
import { ManualClock as FakeClock } from '@hyvisor/core/testing';

const NULL_SEGMENT = {
  base: 0n, limit: 0xffff, selector: 0, type: 0, s: false, dpl: 0, present: false, avl: false, l: false, db: false, g: false, unusable: true,
};
/** A vCPU's reset state, as far as {@link longModeSpecialRegisters} keeps it. */
const RESET_SREGS: SpecialRegisters = {
  cs: NULL_SEGMENT, ds: NULL_SEGMENT, es: NULL_SEGMENT, fs: NULL_SEGMENT, gs: NULL_SEGMENT, ss: NULL_SEGMENT,
  tr: NULL_SEGMENT, ldt: NULL_SEGMENT, gdt: { base: 0n, limit: 0xffff }, idt: { base: 0n, limit: 0xffff },
  cr0: 0x60000010n, cr2: 0n, cr3: 0n, cr4: 0n, cr8: 0n, efer: 0n, apicBase: 0xfee00900n,
};

/** A vCPU whose registers are a plain object and whose injections are recorded. */
export class RecordingVcpu implements Vcpu {
  readonly id = 0;
  readonly exit: VmExit = createExit(new DataView(new ArrayBuffer(8)));
  readonly regs: Record<RegisterName, number> = {
    rax: 0, rbx: 0, rcx: 0, rdx: 0, rsi: 0, rdi: 0, rsp: 0, rbp: 0,
    r8: 0, r9: 0, r10: 0, r11: 0, r12: 0, r13: 0, r14: 0, r15: 0, rip: 0, rflags: 0x202,
  };
  /** Vectors queued, in order. */
  readonly injected: number[] = [];
  /** Every interrupt-window request, in order. */
  readonly windowRequests: boolean[] = [];
  /** What {@link interruptWindowOpen} answers. */
  windowOpen = true;
  /** What {@link queueInterrupt} answers. */
  acceptInterrupts = true;
  /** MSRs by index; IA32_TSC (0x10) is computed by {@link tsc} when set. */
  readonly msrs = new Map<number, bigint>();
  tsc: (() => bigint) | undefined;

  readRegister(name: RegisterName): number {
    return this.regs[name];
  }

  writeRegister(name: RegisterName, value: number): void {
    this.regs[name] = value;
  }

  queueInterrupt(vector: number): boolean {
    if (!this.acceptInterrupts) return false;
    this.injected.push(vector);
    return true;
  }

  get interruptWindowOpen(): boolean {
    return this.windowOpen;
  }

  setInterruptWindowRequest(on: boolean): void {
    this.windowRequests.push(on);
  }

  get pendingInterrupts(): number {
    return 0;
  }

  getMsr(index: number): bigint {
    if (index === 0x10 && this.tsc) return this.tsc();
    return this.msrs.get(index) ?? 0n;
  }

  setMsr(index: number, value: bigint): void {
    this.msrs.set(index, value);
  }

  run(): VmExit {
    throw new Error('RecordingVcpu.run: a test double does not run guest code');
  }

  setDeadline(_ms: number): void {}
  kick(): void {}
  getRegisters(): Registers {
    const r = {} as Registers;
    for (const [k, v] of Object.entries(this.regs)) r[k as RegisterName] = BigInt.asUintN(64, BigInt(Math.trunc(v)));
    return r;
  }
  setRegisters(regs: Registers): void {
    for (const [k, v] of Object.entries(regs)) this.regs[k as RegisterName] = Number(v);
  }
  /** The special registers: the VMM's long-mode boot state; CR3 is what direct paging loads. */
  sregs: SpecialRegisters = longModeSpecialRegisters(RESET_SREGS);
  getSpecialRegisters(): SpecialRegisters {
    return { ...this.sregs };
  }
  setSpecialRegisters(sregs: SpecialRegisters): void {
    this.sregs = { ...sregs };
  }
  supportedCpuid(): CpuidEntry[] {
    return [];
  }
  setCpuid(_entries: readonly CpuidEntry[]): void {}
  isHalted(): boolean {
    return false;
  }
  /** The FXSAVE image, kept as set. */
  fpu: Uint8Array = resetFxsaveImage();
  getFpu(): Uint8Array {
    return this.fpu.slice();
  }
  setFpu(image: Uint8Array): void {
    this.fpu = image.slice();
  }
  /** The events, kept as set. */
  events: VcpuEvents = noVcpuEvents();
  getEvents(): VcpuEvents {
    return { ...this.events, queued: [...this.events.queued] };
  }
  setEvents(events: VcpuEvents): void {
    this.events = { ...events, queued: [...events.queued] };
  }
  dispose(): void {}
}

/** An ioeventfd the test signals by hand (as the guest's write would). */
export class FakeIoEventFd implements IoEventFd {
  count = 0;
  disposed = false;
  constructor(readonly spec: IoEventSpec) {}
  /** What a matching guest write does: counts, no exit. */
  signal(): void {
    this.count++;
  }
  take(): number {
    const n = this.count;
    this.count = 0;
    return n;
  }
  dispose(): void {
    this.disposed = true;
  }
}

/**
 * A VM over ArrayBuffer regions. Its optional parts follow `info.capabilities` as a real
 * backend's do: `ioEvents` (fake ioeventfds) with `ioeventfd`, `regionRefresh` (recorded in
 * {@link refreshed}) with `region-refresh`.
 */
export class FakeVm implements Vm {
  readonly name = 'test';
  readonly memory = new GuestMemory();
  readonly ioEventFds: FakeIoEventFd[] = [];
  /** Names of the regions passed to `regionRefresh.refresh`, in order. */
  readonly refreshed: string[] = [];
  readonly ioEvents: IoEvents | undefined;
  readonly regionRefresh: RegionRefresh | undefined;

  constructor(readonly info: BackendInfo) {
    const abilities = offerAbilities(info, {
      ioEvents: () => ({ add: (spec: IoEventSpec) => this.addIoEventFd(spec) }),
      regionRefresh: () => ({ refresh: (region: MemoryRegion) => { this.refreshed.push(region.name); } }),
    });
    this.ioEvents = abilities.ioEvents;
    this.regionRefresh = abilities.regionRefresh;
  }

  addRegion(name: string, gpa: number, size: number, options: RegionOptions = {}): MemoryRegion {
    const region: MemoryRegion = { name, gpa, size, buffer: new ArrayBuffer(size), readonly: options.readonly ?? false };
    this.memory.addRegion(region);
    return region;
  }

  createVcpu(_id: number): Vcpu {
    throw new Error('FakeVm.createVcpu: use the RecordingVcpu of fakeMachine()');
  }

  private addIoEventFd(spec: IoEventSpec): IoEventFd {
    const fd = new FakeIoEventFd(spec);
    this.ioEventFds.push(fd);
    return fd;
  }

  dispose(): void {}
}

/** Options of {@link fakeMachine}. */
export interface FakeMachineOptions {
  /** Guest RAM bytes at 0 (default 4 MiB). */
  readonly ramSize?: number;
  /** Backend capabilities (default: {@link FAKE_CAPABILITIES}). */
  readonly capabilities?: readonly Capability[];
  /** The backend's `tscKhz` (default 2 300 000; 0 leaves it out). */
  readonly tscKhz?: number;
  /** Adds canary regions right after RAM and around the pool, filled with {@link CANARY_BYTE}. */
  readonly canaries?: boolean;
  readonly config?: VmConfig;
}

/** The byte canary regions are filled with. */
export const CANARY_BYTE = 0xa5;
/** Size of each canary region. */
export const CANARY_SIZE = 0x10000;

/** Everything a test needs around a {@link MachineContext}. */
export interface FakeMachine {
  readonly ctx: MachineContext;
  readonly vm: FakeVm;
  readonly vcpu: RecordingVcpu;
  readonly clock: FakeClock;
  readonly memory: GuestMemory;
  readonly telemetry: TelemetryHub;
  readonly ramSize: number;
  /** The machine's service scope (`ctx.services`). */
  readonly services: ServiceScope;
  /** Calls of `ctx.block()`, and the wake predicate of the last one. */
  readonly blocks: { count: number; wakeWhen?: (() => boolean) | undefined };
  /** Canary regions (empty without the option). */
  readonly canaries: MemoryRegion[];
  /** Runs the poll hooks, as the run loop does at deadlines and sleeps. */
  poll(): void;
  /**
   * The guest's `outl %eax, (%dx)` on the doorbell: sets EAX and RDI, RSI, R10, R8, R9, routes the
   * write through the PIO bus, and returns RAX.
   */
  hypercall(nr: number, ...args: number[]): number;
  /** Counter value by name. */
  counter(name: string): number;
  /** Prepares and attaches every facet of `strategy`, as a machine does (core's `attachFacets`: providers first). */
  attach(strategy: Strategy): Disposable[];
  /** True if every canary byte is intact. */
  canariesIntact(): boolean;
}

/** The capabilities of {@link fakeMachine}'s backend unless a test says otherwise. */
export const FAKE_CAPABILITIES: readonly Capability[] = [
  'guest-memory', 'readonly-memory', 'run-deadline', 'interrupt-injection', 'cpuid', 'msr', 'ioeventfd', 'sync-regs',
];

/** Builds a fake machine. Facets are attached with {@link FakeMachine.attach}. */
export function fakeMachine(options: FakeMachineOptions = {}): FakeMachine {
  const ramSize = options.ramSize ?? 4 * 1024 * 1024;
  const tscKhz = options.tscKhz ?? 2_300_000;
  const info: BackendInfo = {
    name: 'fake',
    flavour: 'test',
    description: 'test double',
    capabilities: new Set(options.capabilities ?? FAKE_CAPABILITIES),
    ...(tscKhz > 0 ? { tscKhz } : {}),
    details: {},
  };
  const vm = new FakeVm(info);
  vm.addRegion('ram', 0, ramSize);
  const canaries: MemoryRegion[] = [];
  if (options.canaries) {
    for (const [name, gpa] of [['canary-after-ram', ramSize], ['canary-below-pool', 0xc0000000 - CANARY_SIZE], ['canary-above-pool', 0xc0400000]] as const) {
      const r = vm.addRegion(name, gpa, CANARY_SIZE);
      new Uint8Array(r.buffer).fill(CANARY_BYTE);
      canaries.push(r);
    }
  }
  const clock = new FakeClock(1_000_000_000);
  const vcpu = new RecordingVcpu();
  // The guest's TSC: 0 at fake time 0, at the advertised rate.
  const rate = (tscKhz > 0 ? tscKhz : 2_300_000) / 1e6;
  vcpu.tsc = () => BigInt(Math.floor(clock.time * rate));
  const telemetry = new TelemetryHub();
  const pio = new PioBus();
  const mmio = new MmioBus();
  const hypercalls = new HypercallTable();
  const pollHooks: (() => void)[] = [];
  const blocks: { count: number; wakeWhen?: (() => boolean) | undefined } = { count: 0 };
  let strategyRef: Strategy | undefined;
  const services: ServiceScope = new ServiceScope(() => ctx);
  const ctx: MachineContext = {
    vm, vcpus: [vcpu], pio, mmio, hypercalls, telemetry, ramSize, clock, services,
    dispatcher: new ExitDispatcher(pio, mmio, telemetry.counters),
    irqLine: (irq: number): IrqLine => {
      if (!strategyRef) throw new Error('fakeMachine: irqLine before attach');
      return strategyRef.interrupt.irqLine(irq);
    },
    block: (wakeWhen?: () => boolean) => { blocks.count++; blocks.wakeWhen = wakeWhen; },
    addPollHook: (poll) => {
      pollHooks.push(poll);
      return { dispose: () => { const i = pollHooks.indexOf(poll); if (i >= 0) pollHooks.splice(i, 1); } };
    },
    ...(options.config ? { config: options.config } : {}),
  };
  const regs = ['rdi', 'rsi', 'r10', 'r8', 'r9'] as const;
  return {
    ctx, vm, vcpu, clock, memory: vm.memory, telemetry, ramSize, services, blocks, canaries,
    poll: () => { for (const h of [...pollHooks]) h(); },
    hypercall(nr, ...args) {
      regs.forEach((r, i) => { vcpu.regs[r] = args[i] ?? 0; });
      vcpu.regs.rax = nr;
      if (!pio.write(Ports.HYPERCALL, 4, nr)) throw new Error('fakeMachine: no doorbell on the hypercall port');
      return vcpu.regs.rax;
    },
    counter: (name) => telemetry.counters.get(name),
    attach(strategy) {
      strategyRef = strategy;
      for (const f of FACET_NAMES) strategy[f].prepareVm?.(vm);
      return attachFacets(strategy, ctx);
    },
    canariesIntact: () => canaries.every((r) => new Uint8Array(r.buffer).every((b) => b === CANARY_BYTE)),
  };
}
