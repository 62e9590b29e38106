/**
 * `EmuVcpu`: the {@link Vcpu} contract on the emulated CPU. `run()` executes guest instructions
 * on the caller's thread until an exit (port I/O, MMIO, HLT, shutdown, interrupt window), the
 * deadline or a kick, and fills the reusable {@link VmExit} in place. Exits mean what they mean
 * on KVM: a port or MMIO read is answered by writing into `exit.data` at `exit.dataOffset`, and
 * the guest sees the answer when run() is called again.
 *
 * This class is the adapter: registers, CPUID/MSRs, deadline, kick, interrupt queueing and
 * counters in the contract's terms. The run loop is `run/engine.ts`, block building
 * `run/block-builder.ts`, exits and their replay `run/exits.ts`.
 * @module
 */
import {
  BackendError, DisposableStore, EXIT_KIND_NAMES, REGISTER_NAMES, assertLive,
  type CpuidEntry, type RegisterName, type VcpuDebug, type Registers, type Segment, type SpecialRegisters, type Vcpu, type VmExit,
  type GuestMemory, type VcpuEvents,
} from '@hyvisor/core';
import { CS, Cpu, SS, SegCache, bigToAddress, numberToBig, pairToBig } from './cpu/cpu.js';
import { emulatorCpuid } from './cpu/cpuid.js';
import { fpuImage, loadFpuImage } from './cpu/fpu-state.js';
import { EV_EXCEPTION, EV_EXTERNAL, deliverEvent } from './cpu/interrupts.js';
import type { DecodeCache } from './cpu/decode-cache.js';
import { IF, getFlags, materialize } from './cpu/flags.js';
import { NS_PER_INSTRUCTION, readMsr, writeMsr } from './cpu/msr.js';
import { Mmu } from './mmu/mmu.js';
import { PhysicalMemory } from './mmu/physical.js';
import { CHECK_INTERVAL, Engine } from './run/engine.js';
import { Exits } from './run/exits.js';
import { EmuDebug } from './run/debug.js';

export { CHECK_INTERVAL, COMPILE_THRESHOLD, HOST_GUARD_MIN_MS } from './run/engine.js';

const REG_INDEX: Readonly<Record<RegisterName, number>> = {
  rax: 0, rcx: 1, rdx: 2, rbx: 3, rsp: 4, rbp: 5, rsi: 6, rdi: 7,
  r8: 8, r9: 9, r10: 10, r11: 11, r12: 12, r13: 13, r14: 14, r15: 15, rip: -1, rflags: -2,
};
const SEGMENTS = ['es', 'cs', 'ss', 'ds', 'fs', 'gs', 'tr', 'ldt'] as const;

/** An emulated x86-64 vCPU. Create it with {@link EmuVm.createVcpu}. */
export class EmuVcpu implements Vcpu {
  /** The exit run() returns, filled in place (one per vCPU, reused). */
  readonly exit: VmExit;
  /** The CPU state (tests and tools may inspect it). */
  readonly cpu = new Cpu();
  readonly mmu: Mmu;
  /** The run loop (tests and tools may tune it: `compileThreshold`, `hostGuardMinMs`). */
  readonly engine: Engine;

  /** Breakpoints, watchpoints and single steps for a debugger (see `run/debug.ts`). */
  readonly debug: VcpuDebug;

  private readonly store = new DisposableStore();
  private readonly exits: Exits;

  /** @internal Created by {@link EmuVm.createVcpu}. */
  constructor(readonly id: number, memory: GuestMemory, onDispose: () => void) {
    this.store.defer(onDispose);
    this.mmu = new Mmu(this.cpu, new PhysicalMemory(memory));
    this.cpu.mmu = this.mmu;
    this.exits = new Exits(this.cpu);
    this.exit = this.exits.exit;
    this.mmu.mmio = this.exits;
    this.engine = new Engine(this.cpu, this.mmu, this.exits);
    const debug = new EmuDebug(this.cpu, this.mmu, memory, (active) => { this.engine.debug = active ? debug : null; });
    this.debug = debug;
    this.reset();
  }

  /** Decoded instructions per physical code page (see cpu/decode-cache.ts). */
  get decodeCache(): DecodeCache {
    return this.engine.decodeCache;
  }

  /** Runs of a block before it is compiled to a JS function (Infinity: never compile, interpret blocks only). */
  get compileThreshold(): number { return this.engine.compileThreshold; }
  set compileThreshold(n: number) { this.engine.compileThreshold = n; }

  /** Runs of compiled blocks (telemetry, tests). */
  get compiledBlockRuns(): number { return this.engine.compiledBlockRuns; }

  /** Shortest host-time guard of a deadline in ms (Infinity: virtual deadlines only, for exact tests). */
  get hostGuardMinMs(): number { return this.engine.hostGuardMinMs; }
  set hostGuardMinMs(ms: number) { this.engine.hostGuardMinMs = ms; }

  /** Instructions retired since creation: the emulator's exact, deterministic count. */
  get instructionsRetired(): number {
    return this.cpu.retired;
  }

  /** Instructions that raised #UD because the emulator does not implement them. */
  get unimplementedInstructions(): number {
    return this.cpu.unimplemented;
  }

  /** This vCPU's guest time in ns: instructions retired × {@link NS_PER_INSTRUCTION} plus time skipped while halted. */
  virtualNs(): number {
    return this.cpu.retired * NS_PER_INSTRUCTION + this.cpu.skippedNs;
  }

  /** Moves this vCPU's guest time forward to `ns` (whole ns; never back). The virtual TSC moves with it. */
  advanceTo(ns: number): void {
    const d = Math.ceil(ns - this.virtualNs());
    if (d > 0) {
      this.cpu.skippedNs += d;
      this.engine.skipped(d);
    }
  }

  /** Instructions retired, time skipped while halted, unimplemented instructions and exits by kind. */
  stats(): Record<string, number> {
    const out: Record<string, number> = {
      instructions: this.cpu.retired, skippedNs: this.cpu.skippedNs, unimplemented: this.cpu.unimplemented,
    };
    const counts = this.engine.exitCounts;
    EXIT_KIND_NAMES.forEach((name, i) => { out[`exits.${name}`] = counts[i]!; });
    return out;
  }

  /** @internal Re-reads guest memory regions (after `Vm.addRegion`). */
  memoryChanged(): void {
    this.mmu.phys.refresh();
    this.mmu.flush();
    this.mmu.codeStamp++;
  }

  private live(operation: string): void {
    assertLive(this.store, operation, `vCPU ${this.id}`);
  }

  /** The x86 reset state (real-mode-like segments; the VMM switches to long mode). */
  private reset(): void {
    const c = this.cpu;
    for (const s of c.seg) {
      s.selector = 0; s.base = 0; s.limit = 0xffff; s.type = 3; s.s = true; s.dpl = 0; s.present = true;
      s.db = false; s.l = false; s.g = false; s.avl = false; s.unusable = false;
    }
    c.seg[CS]!.type = 0xb;
    c.seg[6]!.type = 0xb; c.seg[6]!.s = false;
    c.seg[7]!.type = 2; c.seg[7]!.s = false;
    c.flags = 2;
    c.cr0 = 0x60000010;
    c.rip = 0xfff0;
  }

  // ------------------------------------------------------------------ running

  run(): VmExit {
    if (this.store.isDisposed) throw new BackendError(`run: vCPU ${this.id} is disposed`, { operation: 'run' });
    return this.engine.run();
  }

  /**
   * Executes exactly one instruction (no interrupt delivery, no deadline check), for debuggers
   * and tests. Returns the exit it caused (port I/O, MMIO, HLT, internal error, shutdown) or null.
   */
  singleStep(): VmExit | null {
    this.live('singleStep');
    return this.engine.singleStep();
  }

  // ------------------------------------------------------------------ deadline and kick

  /**
   * Arms the deadline `ms` from now (0 disarms). `ms` is guest time on the virtual clock: run()
   * returns a `Deadline` exit exactly when `ms × 10^6 / NS_PER_INSTRUCTION` more instructions have
   * retired (rounded up; time skipped by {@link advanceTo} counts too), so timer events land at
   * the same instruction on every run. A host-time guard of `max(ms, hostGuardMinMs)` ms also
   * ends the run (checked every {@link CHECK_INTERVAL} instructions), whichever comes first, so the
   * VMM keeps its host-time slices; where that guard falls is host-dependent, but a Deadline exit
   * changes no guest state. Either one disarms both.
   */
  setDeadline(ms: number): void {
    this.live('setDeadline');
    if (!(ms >= 0)) throw new BackendError(`setDeadline: expected milliseconds >= 0, got ${ms}`, { operation: 'setDeadline' });
    if (ms === 0) this.engine.disarmDeadline();
    else this.engine.armDeadline(ms);
  }

  kick(): void {
    this.live('kick');
    this.engine.kicked = true;
  }

  // ------------------------------------------------------------------ interrupts

  queueInterrupt(vector: number): boolean {
    this.live('queueInterrupt');
    return this.engine.interrupts.push(vector);
  }

  get pendingInterrupts(): number {
    return this.engine.interrupts.size;
  }

  get interruptWindowOpen(): boolean {
    return this.engine.interrupts.size === 0 && (this.cpu.flags & IF) !== 0 && this.cpu.shadow === 0;
  }

  setInterruptWindowRequest(on: boolean): void {
    this.engine.windowRequest = on;
  }

  /** HLT always exits on this backend (no in-kernel irqchip). */
  isHalted(): boolean {
    return false;
  }

  // ------------------------------------------------------------------ registers

  readRegister(name: RegisterName): number {
    const i = REG_INDEX[name];
    const c = this.cpu;
    if (i === -1) return c.rip < 0 ? c.rip + 2 ** 64 : c.rip;
    if (i === -2) return getFlags(c);
    return c.lo[i]! + c.hi[i]! * 0x1_0000_0000;
  }

  writeRegister(name: RegisterName, value: number): void {
    this.live('writeRegister');
    const i = REG_INDEX[name];
    const c = this.cpu;
    if (i === -1) { c.rip = bigToAddress(BigInt(value)); this.exits.cancelReplay(); return; }
    if (i === -2) { materialize(c); c.flags = ((value >>> 0) | 2) >>> 0; return; }
    c.setNumber(i, value);
  }

  getRegisters(): Registers {
    this.live('getRegisters');
    const c = this.cpu;
    const out = {} as Registers;
    for (const name of REGISTER_NAMES) {
      const i = REG_INDEX[name];
      out[name] = i === -1 ? numberToBig(c.rip) : i === -2 ? BigInt(getFlags(c)) : pairToBig(c.lo[i]!, c.hi[i]!);
    }
    return out;
  }

  setRegisters(regs: Registers): void {
    this.live('setRegisters');
    const c = this.cpu;
    for (const name of REGISTER_NAMES) {
      const i = REG_INDEX[name];
      const v = BigInt.asUintN(64, regs[name]);
      if (i === -1) c.rip = bigToAddress(v);
      else if (i === -2) { c.lop = 0; c.flags = Number(v & 0xffffffffn) | 2; }
      else { c.lo[i] = Number(v & 0xffffffffn); c.hi[i] = Number(v >> 32n); }
    }
    this.exits.cancelReplay();
  }

  getSpecialRegisters(): SpecialRegisters {
    this.live('getSpecialRegisters');
    const c = this.cpu;
    const seg = (s: SegCache): Segment => ({
      base: numberToBig(s.base), limit: s.limit >>> 0, selector: s.selector, type: s.type, present: s.present, dpl: s.dpl,
      db: s.db, s: s.s, l: s.l, g: s.g, avl: s.avl, unusable: s.unusable,
    });
    const [es, cs, ss, ds, fs, gs, tr, ldt] = c.seg.map(seg) as [Segment, Segment, Segment, Segment, Segment, Segment, Segment, Segment];
    return {
      cs, ds, es, fs, gs, ss, tr, ldt,
      gdt: { base: numberToBig(c.gdtBase), limit: c.gdtLimit },
      idt: { base: numberToBig(c.idtBase), limit: c.idtLimit },
      cr0: BigInt(c.cr0 >>> 0), cr2: numberToBig(c.cr2), cr3: BigInt(c.cr3), cr4: BigInt(c.cr4 >>> 0), cr8: BigInt(c.cr8),
      efer: BigInt(c.efer >>> 0), apicBase: BigInt(c.apicBase),
    };
  }

  setSpecialRegisters(sregs: SpecialRegisters): void {
    this.live('setSpecialRegisters');
    const c = this.cpu;
    SEGMENTS.forEach((name, i) => {
      const s = c.seg[i]!, v = sregs[name];
      s.selector = v.selector; s.base = bigToAddress(v.base); s.limit = v.limit >>> 0; s.type = v.type;
      s.present = v.present; s.dpl = v.dpl; s.db = v.db; s.s = v.s; s.l = v.l; s.g = v.g; s.avl = v.avl; s.unusable = v.unusable;
    });
    c.gdtBase = bigToAddress(sregs.gdt.base); c.gdtLimit = sregs.gdt.limit;
    c.idtBase = bigToAddress(sregs.idt.base); c.idtLimit = sregs.idt.limit;
    c.cr0 = Number(sregs.cr0 & 0xffffffffn);
    c.cr2 = bigToAddress(sregs.cr2);
    c.cr3 = Number(sregs.cr3 & 0x000ffffffffff000n);
    c.cr4 = Number(sregs.cr4 & 0xffffffffn);
    c.cr8 = Number(sregs.cr8 & 0xfn);
    c.efer = Number(sregs.efer & 0xffffffffn);
    c.apicBase = Number(sregs.apicBase);
    c.cpl = c.seg[CS]!.dpl;
    if (c.seg[SS]!.present && !c.seg[SS]!.unusable && c.seg[SS]!.dpl !== c.cpl) c.cpl = c.seg[CS]!.selector & 3;
    this.mmu.flush();
    if ((c.cr0 & 0x80000000) !== 0 && (c.efer & 0x400) !== 0 && !c.seg[CS]!.l) {
      // Compatibility mode is not emulated; run() will report it at the first instruction.
    }
  }

  // ------------------------------------------------------------------ CPUID and MSRs

  supportedCpuid(): CpuidEntry[] {
    this.live('supportedCpuid');
    return emulatorCpuid();
  }

  setCpuid(entries: readonly CpuidEntry[]): void {
    this.live('setCpuid');
    this.exits.cpuidEntries = entries.map((e) => ({ ...e }));
  }

  getMsr(index: number): bigint {
    this.live('getMsr');
    const lo = readMsr(this.cpu, index);
    if (lo === undefined) throw new BackendError(`getMsr: MSR 0x${index.toString(16)} is not implemented by the emulator`, { operation: 'getMsr' });
    return pairToBig(lo, this.cpu.rh);
  }

  setMsr(index: number, value: bigint): void {
    this.live('setMsr');
    const v = BigInt.asUintN(64, value);
    if (!writeMsr(this.cpu, index, Number(v & 0xffffffffn), Number(v >> 32n))) {
      throw new BackendError(`setMsr: MSR 0x${index.toString(16)} rejected the value 0x${v.toString(16)} (unknown MSR, reserved bits or a non-canonical address)`, { operation: 'setMsr' });
    }
  }

  // ------------------------------------------------------------------ FPU and events

  /** The x87/SSE state as an FXSAVE64 image. */
  getFpu(): Uint8Array {
    this.live('getFpu');
    return fpuImage(this.cpu);
  }

  setFpu(image: Uint8Array): void {
    this.live('setFpu');
    loadFpuImage(this.cpu, image);
  }

  /**
   * Between runs the emulator holds no exception or accepted interrupt (it delivers both within
   * the instruction that raised them) and has no NMIs: what remains is the shadow and the queue.
   */
  getEvents(): VcpuEvents {
    this.live('getEvents');
    return {
      exception: null, interrupt: null, shadow: this.cpu.shadow !== 0, nmiPending: false, nmiMasked: false,
      queued: this.engine.interrupts.toArray(),
    };
  }

  /**
   * Loads events from another vCPU's state: a pending exception and then an accepted interrupt
   * are delivered through the guest's IDT now (as the other backend would have at its next entry),
   * the queue replaces this vCPU's. NMI state is refused: the emulator has no NMIs.
   */
  setEvents(events: VcpuEvents): void {
    this.live('setEvents');
    if (events.nmiPending || events.nmiMasked) {
      throw new BackendError('setEvents: the emulator has no NMIs, so a state with an NMI pending or blocked cannot be loaded', { operation: 'setEvents' });
    }
    if (events.queued.length > 16) throw new BackendError(`setEvents: at most 16 queued vectors, got ${events.queued.length}`, { operation: 'setEvents' });
    const c = this.cpu;
    this.exits.cancelReplay();
    const deliver = (vector: number, error: number, kind: number): void => {
      if (!deliverEvent(c, vector, error, kind, c.rip)) {
        throw new BackendError(`setEvents: delivering vector ${vector} triple-faults with this state`, { operation: 'setEvents' });
      }
    };
    if (events.exception) deliver(events.exception.vector, events.exception.errorCode ?? -1, EV_EXCEPTION);
    if (events.interrupt !== null) deliver(events.interrupt, -1, EV_EXTERNAL);
    c.shadow = events.shadow && events.exception === null && events.interrupt === null ? 1 : 0;
    this.engine.interrupts.clear();
    for (const v of events.queued) this.engine.interrupts.push(v);
  }

  dispose(): void {
    this.store.dispose();
  }
}
