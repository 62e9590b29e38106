/**
 * `EmuVcpu`: the {@link Vcpu} contract on the emulated CPU. `run()` executes guest instructions
 * on the caller's thread until an exit (port I/O, MMIO, HLT, shutdown, interrupt window), the
 * deadline or a kick, and fills the reusable {@link VmExit} in place. Exits mean what they mean
 * on KVM: a port or MMIO read is answered by writing into `exit.data` at `exit.dataOffset`, and
 * the guest sees the answer when run() is called again.
 * @module
 */
import {
  BackendError, DisposableStore, EXIT_KIND_NAMES, ExitKind, REGISTER_NAMES, createExit,
  type CpuidEntry, type RegisterName, type Registers, type Segment, type SpecialRegisters, type Vcpu, type VmExit,
  type GuestMemory,
} from '@hyvisor/core';
import {
  A_EXCEPTION, A_INTERNAL, A_RESTART_EXIT, ABORT, CS, Cpu, RAX, RBX, RCX, RDX, SS, SegCache, bigToAddress, numberToBig,
  pairToBig,
} from './cpu/cpu.js';
import { CPUID_SIGNIFICANT_INDEX, emulatorCpuid } from './cpu/cpuid.js';
import { Block, DecodeCache, MAX_BLOCK } from './cpu/decode-cache.js';
import { Fetcher } from './cpu/fetch.js';
import { IF, getFlags, materialize } from './cpu/flags.js';
import { EV_EXCEPTION, EV_EXTERNAL, EV_SOFTWARE, deliverEvent } from './cpu/interrupts.js';
import { NS_PER_INSTRUCTION, readMsr, writeMsr } from './cpu/msr.js';
import { Insn, decode, type CodeReader } from './decoder/decoder.js';
import { execute, type Platform } from './execute/execute.js';
import { accessesMemory, classify, executeFast, isBranch } from './execute/fast.js';
import { compileBlock, type BlockContext } from './execute/compile.js';
import { Mmu } from './mmu/mmu.js';
import { PhysicalMemory } from './mmu/physical.js';

/** Pending-interrupt ring size (as the KVM backend). */
const IRQ_QUEUE_SIZE = 16;
/** Instructions between two looks at the host clock (deadline guard) and the kick flag. */
export const CHECK_INTERVAL = 4096;
/** The host-time guard of a deadline is never shorter than this by default (ms): see {@link EmuVcpu.setDeadline}. */
export const HOST_GUARD_MIN_MS = 5;
/** A block is compiled to a JS function once it has run whole this many times (see execute/compile.ts). */
export const COMPILE_THRESHOLD = 64;
/** Exit buffer layout: MMIO data at 0 (8 bytes), port I/O data from 16 (one page of elements). */
const MMIO_OFFSET = 0, IO_OFFSET = 16, IO_CAPACITY = 4096;

const REG_INDEX: Readonly<Record<RegisterName, number>> = {
  rax: 0, rcx: 1, rdx: 2, rbx: 3, rsp: 4, rbp: 5, rsi: 6, rdi: 7,
  r8: 8, r9: 9, r10: 10, r11: 11, r12: 12, r13: 13, r14: 14, r15: 15, rip: -1, rflags: -2,
};
const SEGMENTS = ['es', 'cs', 'ss', 'ds', 'fs', 'gs', 'tr', 'ldt'] as const;

/** Thrown by {@link PageReader} when an instruction would run past the page. */
const PAST_PAGE = { pastPage: true } as const;

/** Reads code bytes from one page's RAM for block building: never fetches or faults. */
class PageReader implements CodeReader {
  bytes: Uint8Array<ArrayBufferLike> = new Uint8Array(0);
  /** Index in `bytes` of the instruction's first byte. */
  at = 0;
  /** Bytes left in the page from `at`. */
  room = 0;
  byte(i: number): number {
    if (i >= this.room) throw PAST_PAGE;
    return this.bytes[this.at + i]!;
  }
}

/** Replayed access kinds. */
const R_NONE = 0, R_IO = 1, R_MMIO = 2;

/** An emulated x86-64 vCPU. Create it with {@link EmuVm.createVcpu}. */
export class EmuVcpu implements Vcpu, Platform {
  readonly exit: VmExit;
  /** The CPU state (tests and tools may inspect it). */
  readonly cpu = new Cpu();
  readonly mmu: Mmu;
  /** Port data handed to the executor: a view of the exit buffer at the I/O offset. */
  readonly data: DataView;
  readonly capacity = IO_CAPACITY;

  private readonly store = new DisposableStore();
  private readonly fetcher: Fetcher;
  /** Scratch for instructions that cross a page boundary (not cached). */
  private readonly insn = new Insn();
  /** Reader for decoding a block's instructions past the first. */
  private readonly pageReader = new PageReader();
  /** Decoded instructions per physical code page (see cpu/decode-cache.ts). */
  readonly decodeCache: DecodeCache;
  private readonly buffer: DataView;
  private cpuidEntries: CpuidEntry[] = emulatorCpuid();

  private readonly irqQueue = new Uint8Array(IRQ_QUEUE_SIZE);
  private irqHead = 0;
  private irqCount = 0;
  private windowRequest = false;

  /** Runs of a block before it is compiled to a JS function (Infinity: never compile, interpret blocks only). */
  compileThreshold = COMPILE_THRESHOLD;
  /** Runs of compiled blocks (telemetry, tests). */
  compiledBlockRuns = 0;
  /** Set by a compiled block that an exception abandoned: index of the abandoned instruction. */
  blockIndex = 0;

  /** Shortest host-time guard of a deadline in ms (Infinity: virtual deadlines only, for exact tests). */
  hostGuardMinMs = HOST_GUARD_MIN_MS;
  /** Host-time guard: performance.now() at which the deadline passes, or Infinity. */
  private deadlineAt = Infinity;
  /** Virtual deadline: the deadline passes when `cpu.retired` reaches it (Infinity: none). */
  private deadlineRetired = Infinity;
  /** Exits returned by run(), by kind (ExitKind index). */
  private readonly exitCounts = new Float64Array(EXIT_KIND_NAMES.length);
  private kicked = false;
  /** An exit was scheduled by the instruction that just retired (OUT, MMIO write, HLT). */
  private exitPending = false;
  /** The last exit was a read; the re-executed instruction takes its answer from the buffer. */
  private replayKind = R_NONE;
  private replayKey = 0;
  private replaySize = 0;
  private replayCount = 0;
  private replayArmed = false;
  private shutdown = false;

  /** @internal Created by {@link EmuVm.createVcpu}. */
  constructor(readonly id: number, memory: GuestMemory, onDispose: () => void) {
    this.store.defer(onDispose);
    const buf = new ArrayBuffer(IO_OFFSET + IO_CAPACITY);
    this.buffer = new DataView(buf);
    this.data = new DataView(buf, IO_OFFSET, IO_CAPACITY);
    this.exit = createExit(this.buffer);
    this.mmu = new Mmu(this.cpu, new PhysicalMemory(memory));
    this.cpu.mmu = this.mmu;
    this.mmu.mmio = this;
    this.fetcher = new Fetcher(this.cpu);
    this.decodeCache = new DecodeCache(this.mmu);
    this.reset();
  }

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
      if (this.deadlineRetired !== Infinity) this.deadlineRetired = Math.max(this.cpu.retired, this.deadlineRetired - d / NS_PER_INSTRUCTION);
    }
  }

  /** Instructions retired, time skipped while halted, unimplemented instructions and exits by kind. */
  stats(): Record<string, number> {
    const out: Record<string, number> = {
      instructions: this.cpu.retired, skippedNs: this.cpu.skippedNs, unimplemented: this.cpu.unimplemented,
    };
    EXIT_KIND_NAMES.forEach((name, i) => { out[`exits.${name}`] = this.exitCounts[i]!; });
    return out;
  }

  /** @internal Re-reads guest memory regions (after `Vm.addRegion`). */
  memoryChanged(): void {
    this.mmu.phys.refresh();
    this.mmu.flush();
    this.mmu.codeStamp++;
  }

  private live(operation: string): void {
    if (this.store.isDisposed) throw new BackendError(`${operation}: vCPU ${this.id} is disposed`);
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

  // ------------------------------------------------------------------ hot path

  run(): VmExit {
    const exit = this.runGuest();
    this.exitCounts[exit.kind]++;
    return exit;
  }

  private deadlineExit(): VmExit {
    this.deadlineAt = Infinity;
    this.deadlineRetired = Infinity;
    this.exit.kind = ExitKind.Deadline;
    return this.exit;
  }

  private runGuest(): VmExit {
    if (this.store.isDisposed) throw new BackendError(`run: vCPU ${this.id} is disposed`);
    const exit = this.exit;
    const cpu = this.cpu;
    if (this.kicked) { this.kicked = false; exit.kind = ExitKind.Deadline; return exit; }
    if (this.deadlineAt !== Infinity && performance.now() >= this.deadlineAt) return this.deadlineExit();
    if (this.shutdown) { exit.kind = ExitKind.Shutdown; return exit; }
    // Guest memory may have been written since the last run (the VMM, devices, other vCPUs).
    this.mmu.codeStamp++;
    this.exitPending = false;
    // A read exit's instruction completes first, before any interrupt, as on KVM.
    let first = this.replayKind !== R_NONE;
    this.replayArmed = first;
    for (;;) {
      let n = 0;
      while (n < CHECK_INTERVAL) {
        if (!first && this.irqCount === 0 && !this.windowRequest) {
          // Nothing to deliver and no window to report: no interrupt check is needed at any boundary
          // until run() returns (only the VMM queues interrupts, between runs), so run a batch.
          const done = this.runBatch(CHECK_INTERVAL - n);
          if (done < 0) return exit;
          n += done;
          continue;
        }
        if (!first) {
          // The virtual deadline is exact: the VMM gets control at this very instruction count.
          if (cpu.retired >= this.deadlineRetired) return this.deadlineExit();
          if (this.irqCount > 0 && (cpu.flags & IF) !== 0 && cpu.shadow === 0) {
            if (!this.deliver(this.irqQueue[this.irqHead]!, -1, EV_EXTERNAL, cpu.rip)) return this.shutdownExit();
            this.irqHead = (this.irqHead + 1) % IRQ_QUEUE_SIZE;
            this.irqCount--;
          } else if (this.windowRequest && (cpu.flags & IF) !== 0 && cpu.shadow === 0) {
            exit.kind = ExitKind.IrqWindow;
            return exit;
          }
        }
        first = false;
        n++;
        if (!this.step()) return exit;
        if (this.replayArmed) { this.replayArmed = false; this.replayKind = R_NONE; }
        if (this.exitPending) return exit;
      }
      if (this.kicked) { this.kicked = false; exit.kind = ExitKind.Deadline; return exit; }
      if (this.deadlineAt !== Infinity && performance.now() >= this.deadlineAt) return this.deadlineExit();
    }
  }

  /**
   * Up to `limit` steps (instructions executed or exceptions delivered, as `step` counts them;
   * a block may go past it) with no interrupt pending and no window requested: the same work as
   * `step` in a loop, with the exact virtual-deadline check before each instruction or block.
   * Returns the steps done, or -1 when run() must return `exit` now (already filled, deadline
   * included).
   *
   * Basic blocks: at each RIP the block starting there is looked up (one lookup and one
   * code-stamp check for the whole block). A block of two or more instructions runs whole when
   * the virtual deadline is at least its length away and no STI/MOV SS shadow is pending; its
   * instructions then skip the per-instruction lookup, RIP and retired-count bookkeeping. A
   * store or a page walk inside the block that moved `codeStamp` (it may have changed the
   * block's own code) or scheduled an exit ends the block after that instruction. An exception
   * in the block leaves RIP at the faulting instruction and counts only the instructions before
   * it, as the per-instruction path does. Otherwise the block's first instruction runs alone.
   */
  private runBatch(limit: number): number {
    const cpu = this.cpu, f = this.fetcher, cache = this.decodeCache, mmu = this.mmu;
    const deadline = this.deadlineRetired;
    let n = 0;
    // The block being run (index of its current instruction, RIP of its first), for the exception path.
    let bi = -1, brip = 0;
    let blk: Block | undefined;
    while (n < limit) {
      try {
        while (n < limit) {
          const left = deadline - cpu.retired;
          if (left <= 0) { this.deadlineExit(); return -1; }
          const off = f.locate(cpu.rip);
          let b = cache.lookupBlock(f.physBase, off, f.bytes, f.base);
          let d: Insn;
          if (b === undefined) {
            const at = f.base + off;
            d = cache.lookup(f.physBase, off, f.bytes, at) ?? this.decodeAt(off, at);
            if (off + d.len <= 4096) b = this.buildBlock(off, d);
          } else {
            d = b.insns[0]!;
          }
          if (b !== undefined) {
            const count = b.count;
            if (count > 1 && count <= left && cpu.shadow === 0) {
              blk = b;
              brip = cpu.rip;
              const fn = b.fn;
              if (fn) {
                bi = -2;
                this.compiledBlockRuns++;
                const done = fn(cpu, brip, this as unknown as BlockContext);
                bi = -1;
                cpu.retired += done;
                n += done;
                if (this.exitPending) return -1;
                continue;
              }
              if (fn === null && ++b.runs >= this.compileThreshold) b.fn = compileBlock(b.insns, b.ends, b.mem) ?? false;
              const insns = b.insns, ends = b.ends, mem = b.mem, stamp = mmu.codeStamp;
              bi = 0;
              while (bi < count) {
                const x = insns[bi]!;
                cpu.nextRip = brip + ends[bi]!;
                executeFast(cpu, x, x.fast);
                if (mem[bi++] !== 0 && (mmu.codeStamp !== stamp || this.exitPending)) break;
              }
              cpu.rip = cpu.nextRip;
              cpu.retired += bi;
              n += bi;
              bi = -1;
              if (this.exitPending) return -1;
              continue;
            }
          }
          n++;
          cpu.nextRip = cpu.rip + d.len;
          const k = d.fast;
          if (k !== 0) executeFast(cpu, d, k);
          else execute(cpu, d, this);
          cpu.rip = cpu.nextRip;
          cpu.retired++;
          if (cpu.shadow !== 0) cpu.shadow--;
          if (this.exitPending) return -1;
        }
      } catch (err) {
        if (bi === -2) bi = this.blockIndex;
        if (bi >= 0) {
          // Abandoned at instruction `bi` of the block: the ones before it retired.
          cpu.rip = bi === 0 ? brip : brip + blk!.ends[bi - 1]!;
          cpu.nextRip = brip + blk!.ends[bi]!;
          cpu.retired += bi;
          n += bi + 1;
          bi = -1;
        }
        if (!this.fault(err)) return -1;
        if (this.exitPending) return -1;
      }
    }
    return n;
  }

  /**
   * Builds (and caches) the block starting at `off` in the fetcher's page, whose first
   * instruction `first` (cached, wholly in the page) is already decoded: `first`, then while it
   * and each next instruction have a specialised handler and are no control transfer, the next
   * instruction if it lies wholly in the page and has a specialised handler. Decoding further
   * instructions reads the page's bytes only (no fetch, no fault).
   */
  private buildBlock(off: number, first: Insn): Block {
    const f = this.fetcher, cache = this.decodeCache;
    const phys = f.physBase, bytes = f.bytes, base = f.base;
    const b = new Block();
    let d = first, o = off;
    for (;;) {
      b.insns.push(d);
      b.starts.push(o);
      o += d.len;
      b.ends.push(o - off);
      b.mem.push(accessesMemory(d.fast) ? 1 : 0);
      b.count++;
      if (d.fast === 0 || isBranch(d.fast) || b.count >= MAX_BLOCK || o >= 4096) break;
      let next = cache.lookup(phys, o, bytes, base + o);
      if (next === undefined) {
        const r = this.pageReader;
        r.bytes = bytes; r.at = base + o; r.room = 4096 - o;
        next = new Insn();
        try {
          decode(r, next);
        } catch (err) {
          if (err === PAST_PAGE) break;
          throw err;
        }
        next.fast = classify(next);
        cache.store(phys, o, bytes, base + o, next);
      }
      if (next.fast === 0) break;
      d = next;
    }
    cache.storeBlock(phys, off, b);
    return b;
  }

  /**
   * Executes exactly one instruction (no interrupt delivery, no deadline check), for debuggers
   * and tests. Returns the exit it caused (port I/O, MMIO, HLT, internal error, shutdown) or null.
   */
  singleStep(): VmExit | null {
    this.live('singleStep');
    this.mmu.codeStamp++;
    this.exitPending = false;
    this.replayArmed = this.replayKind !== R_NONE;
    const ok = this.step();
    if (this.replayArmed) { this.replayArmed = false; this.replayKind = R_NONE; }
    return !ok || this.exitPending ? this.exit : null;
  }

  /**
   * Executes one instruction (or delivers the exception it raised). Returns false when `exit`
   * has been filled and run() must return it now.
   */
  private step(): boolean {
    const cpu = this.cpu;
    try {
      const f = this.fetcher;
      const off = f.locate(cpu.rip);
      const at = f.base + off;
      let d = this.decodeCache.lookup(f.physBase, off, f.bytes, at);
      if (d === undefined) d = this.decodeAt(off, at);
      cpu.nextRip = cpu.rip + d.len;
      const k = d.fast;
      if (k !== 0) executeFast(cpu, d, k);
      else execute(cpu, d, this);
      cpu.rip = cpu.nextRip;
      cpu.retired++;
      if (cpu.shadow !== 0) cpu.shadow--;
      return true;
    } catch (err) {
      return this.fault(err);
    }
  }

  /** Handles what abandoned an instruction (see `step`): false when `exit` has been filled. */
  private fault(err: unknown): boolean {
    const cpu = this.cpu;
    if (err !== ABORT) return this.crash(err);
    switch (cpu.abortKind) {
      case A_EXCEPTION: {
        let ret = cpu.rip, kind = EV_EXCEPTION;
        if (cpu.excSoft) { ret = cpu.nextRip; kind = EV_SOFTWARE; cpu.retired++; }
        cpu.shadow = 0;
        if (!this.deliver(cpu.excVector, cpu.excError, kind, ret)) { this.shutdownExit(); return false; }
        return true;
      }
      case A_RESTART_EXIT:
        return false;
      case A_INTERNAL:
      default: {
        const exit = this.exit;
        exit.kind = ExitKind.InternalError;
        exit.rip = numberToBig(cpu.rip);
        exit.reason = cpu.internalReason;
        return false;
      }
    }
  }

  /** Decodes the instruction at RIP (at `off` in the fetcher's page, `bytes[at]`) and caches it unless it crosses the page. */
  private decodeAt(off: number, at: number): Insn {
    const f = this.fetcher, cache = this.decodeCache;
    const phys = f.physBase, bytes = f.bytes;
    cache.misses++;
    f.start = this.cpu.rip;
    const d = new Insn();
    decode(f, d);
    d.fast = classify(d);
    if (off + d.len <= 4096) {
      cache.store(phys, off, bytes, at, d);
      return d;
    }
    // Crossing the page: decode again into the scratch object (the fetcher may now hold the next page).
    const x = this.insn;
    decode(f, x);
    x.fast = classify(x);
    return x;
  }

  private deliver(vector: number, error: number, kind: number, ret: number): boolean {
    try {
      return deliverEvent(this.cpu, vector, error, kind, ret);
    } catch (err) {
      if (err === ABORT) {
        // An internal error while delivering (e.g. a gate to 32-bit code).
        return false;
      }
      throw err;
    }
  }

  private shutdownExit(): VmExit {
    this.shutdown = true;
    this.exit.kind = ExitKind.Shutdown;
    this.exit.reason = 'triple fault';
    return this.exit;
  }

  /** A bug in the emulator: reported as an internal error exit, never thrown into the VMM. */
  private crash(err: unknown): boolean {
    const exit = this.exit;
    exit.kind = ExitKind.InternalError;
    exit.rip = numberToBig(this.cpu.rip);
    exit.reason = `emulator error at rip 0x${exit.rip.toString(16)}: ${err instanceof Error ? err.message : String(err)}`;
    return false;
  }

  // ------------------------------------------------------------------ Platform (exits)

  ioIn(port: number, size: number, count: number): void {
    if (this.replayArmed && this.replayKind === R_IO && this.replayKey === port && this.replaySize === size && this.replayCount === count) {
      this.replayArmed = false;
      this.replayKind = R_NONE;
      return;
    }
    this.scheduleExit();
    const exit = this.exit;
    exit.kind = ExitKind.Io; exit.port = port; exit.size = size; exit.write = false; exit.count = count;
    exit.dataOffset = IO_OFFSET;
    this.replayKind = R_IO; this.replayKey = port; this.replaySize = size; this.replayCount = count;
    this.cpu.abortKind = A_RESTART_EXIT;
    throw ABORT;
  }

  ioOut(port: number, size: number, count: number): void {
    this.scheduleExit();
    const exit = this.exit;
    exit.kind = ExitKind.Io; exit.port = port; exit.size = size; exit.write = true; exit.count = count;
    exit.dataOffset = IO_OFFSET;
    this.exitPending = true;
  }

  mmioRead(gpa: number, size: number): number {
    const b = this.buffer;
    if (this.replayArmed && this.replayKind === R_MMIO && this.replayKey === gpa && this.replaySize === size) {
      this.replayArmed = false;
      this.replayKind = R_NONE;
      this.cpu.rh = size === 8 ? b.getUint32(MMIO_OFFSET + 4, true) : 0;
      return size === 1 ? b.getUint8(MMIO_OFFSET) : size === 2 ? b.getUint16(MMIO_OFFSET, true) : b.getUint32(MMIO_OFFSET, true);
    }
    this.scheduleExit();
    const exit = this.exit;
    exit.kind = ExitKind.Mmio; exit.gpa = gpa; exit.size = size; exit.write = false; exit.count = 1;
    exit.dataOffset = MMIO_OFFSET;
    b.setUint32(MMIO_OFFSET, 0, true); b.setUint32(MMIO_OFFSET + 4, 0, true);
    this.replayKind = R_MMIO; this.replayKey = gpa; this.replaySize = size;
    this.cpu.abortKind = A_RESTART_EXIT;
    throw ABORT;
  }

  mmioWrite(gpa: number, size: number, lo: number, hi: number): void {
    this.scheduleExit();
    const exit = this.exit;
    exit.kind = ExitKind.Mmio; exit.gpa = gpa; exit.size = size; exit.write = true; exit.count = 1;
    exit.dataOffset = MMIO_OFFSET;
    const b = this.buffer;
    switch (size) {
      case 1: b.setUint8(MMIO_OFFSET, lo); break;
      case 2: b.setUint16(MMIO_OFFSET, lo, true); break;
      case 4: b.setUint32(MMIO_OFFSET, lo, true); break;
      default: b.setUint32(MMIO_OFFSET, lo, true); b.setUint32(MMIO_OFFSET + 4, hi, true);
    }
    this.exitPending = true;
  }

  /** One exit per instruction: a second MMIO/port access in the same instruction cannot be reported. */
  private scheduleExit(): void {
    if (this.exitPending) this.cpu.internal('an instruction made two MMIO or port accesses that need exits; the emulator reports one exit per instruction');
  }

  halt(): void {
    this.exit.kind = ExitKind.Hlt;
    this.exitPending = true;
  }

  cpuid(cpu: Cpu): void {
    const leaf = cpu.lo[RAX]!, sub = cpu.lo[RCX]!;
    let found: CpuidEntry | undefined;
    for (const e of this.cpuidEntries) {
      if (e.function === leaf && ((e.flags & CPUID_SIGNIFICANT_INDEX) === 0 || e.index === sub)) { found = e; break; }
    }
    cpu.lo[RAX] = found?.eax ?? 0; cpu.lo[RBX] = found?.ebx ?? 0;
    cpu.lo[RCX] = found?.ecx ?? 0; cpu.lo[RDX] = found?.edx ?? 0;
    cpu.hi[RAX] = 0; cpu.hi[RBX] = 0; cpu.hi[RCX] = 0; cpu.hi[RDX] = 0;
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
    if (!(ms >= 0)) throw new BackendError(`setDeadline: expected milliseconds >= 0, got ${ms}`);
    if (ms === 0) {
      this.deadlineAt = Infinity;
      this.deadlineRetired = Infinity;
      return;
    }
    this.deadlineAt = performance.now() + Math.max(ms, this.hostGuardMinMs);
    // ms × 1e6 carries float error from the VMM's ns → ms conversion: tolerate 1/1000 ns before rounding up.
    this.deadlineRetired = this.cpu.retired + Math.max(1, Math.ceil((ms * 1e6) / NS_PER_INSTRUCTION - 1e-3));
  }

  kick(): void {
    this.live('kick');
    this.kicked = true;
  }

  // ------------------------------------------------------------------ interrupts

  queueInterrupt(vector: number): boolean {
    this.live('queueInterrupt');
    if (!Number.isInteger(vector) || vector < 0 || vector > 255) {
      throw new BackendError(`queueInterrupt: vector must be an integer 0-255, got ${vector}`);
    }
    if (this.irqCount === IRQ_QUEUE_SIZE) return false;
    this.irqQueue[(this.irqHead + this.irqCount) % IRQ_QUEUE_SIZE] = vector;
    this.irqCount++;
    return true;
  }

  get pendingInterrupts(): number {
    return this.irqCount;
  }

  get interruptWindowOpen(): boolean {
    return this.irqCount === 0 && (this.cpu.flags & IF) !== 0 && this.cpu.shadow === 0;
  }

  setInterruptWindowRequest(on: boolean): void {
    this.windowRequest = on;
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
    if (i === -1) { c.rip = bigToAddress(BigInt(value)); this.replayKind = R_NONE; return; }
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
    this.replayKind = R_NONE;
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
    this.cpuidEntries = entries.map((e) => ({ ...e }));
  }

  getMsr(index: number): bigint {
    this.live('getMsr');
    const lo = readMsr(this.cpu, index);
    if (lo === undefined) throw new BackendError(`getMsr: MSR 0x${index.toString(16)} is not implemented by the emulator`);
    return pairToBig(lo, this.cpu.rh);
  }

  setMsr(index: number, value: bigint): void {
    this.live('setMsr');
    const v = BigInt.asUintN(64, value);
    if (!writeMsr(this.cpu, index, Number(v & 0xffffffffn), Number(v >> 32n))) {
      throw new BackendError(`setMsr: MSR 0x${index.toString(16)} rejected the value 0x${v.toString(16)} (unknown MSR, reserved bits or a non-canonical address)`);
    }
  }

  dispose(): void {
    this.store.dispose();
  }
}
