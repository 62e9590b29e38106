/**
 * The execution engine of one emulated vCPU: runs guest instructions on the caller's thread
 * until an exit, the deadline or a kick. It looks up decoded instructions and basic blocks,
 * runs blocks whole (compiled once hot), delivers queued interrupts and exceptions at
 * instruction boundaries, and keeps the exact virtual deadline and the host-time guard. The
 * exits themselves are filled by {@link Exits}; the Vcpu contract around it is `EmuVcpu`.
 * @module
 */
import { EXIT_KIND_NAMES, ExitKind, InterruptQueue, type VmExit } from '@hyvisor/core';
import { A_EXCEPTION, A_INTERNAL, A_RESTART_EXIT, ABORT, numberToBig, type Cpu } from '../cpu/cpu.js';
import { DecodeCache, M_EXIT, M_MEMORY, type Block } from '../cpu/decode-cache.js';
import { Fetcher } from '../cpu/fetch.js';
import { IF } from '../cpu/flags.js';
import { EV_EXCEPTION, EV_EXTERNAL, EV_SOFTWARE, deliverEvent } from '../cpu/interrupts.js';
import { NS_PER_INSTRUCTION } from '../cpu/msr.js';
import { Insn, decode } from '../decoder/decoder.js';
import { compileBlock } from '../execute/compile.js';
import { execute } from '../execute/execute.js';
import { classify, executeFast } from '../execute/fast.js';
import type { Mmu } from '../mmu/mmu.js';
import { BlockBuilder } from './block-builder.js';
import type { EmuDebug } from './debug.js';
import type { Exits } from './exits.js';

/** Instructions between two looks at the host clock (deadline guard) and the kick flag. */
export const CHECK_INTERVAL = 4096;
/** The host-time guard of a deadline is never shorter than this by default (ms): see `EmuVcpu.setDeadline`. */
export const HOST_GUARD_MIN_MS = 5;
/** A block is compiled to a JS function once it has run whole this many times (see execute/compile.ts). */
export const COMPILE_THRESHOLD = 64;

/** Runs one vCPU's guest code; created by `EmuVcpu`. */
export class Engine {
  /** Vectors queued by the VMM, delivered when IF=1 and no STI/MOV SS shadow is pending. */
  readonly interrupts = new InterruptQueue();
  /** The VMM wants an `IrqWindow` exit as soon as the guest can take an interrupt. */
  windowRequest = false;
  /** Set by `kick()`: the next check point (or the next run) returns a Deadline exit. */
  kicked = false;
  /** Runs of a block before it is compiled to a JS function (Infinity: never compile, interpret blocks only). */
  compileThreshold = COMPILE_THRESHOLD;
  /** Runs of compiled blocks (telemetry, tests). */
  compiledBlockRuns = 0;
  /** Shortest host-time guard of a deadline in ms (Infinity: virtual deadlines only, for exact tests). */
  hostGuardMinMs = HOST_GUARD_MIN_MS;
  /** Exits returned by run(), by kind (ExitKind index). */
  readonly exitCounts = new Float64Array(EXIT_KIND_NAMES.length);
  /** Decoded instructions and blocks per physical code page (see cpu/decode-cache.ts). */
  readonly decodeCache: DecodeCache;
  /**
   * The debugger's controls while any breakpoint, watchpoint or step is set (run() then takes
   * {@link runDebug}); null otherwise, so the normal path pays one check per run() call.
   */
  debug: EmuDebug | null = null;

  private readonly fetcher: Fetcher;
  private readonly blocks: BlockBuilder;
  /** Scratch for instructions that cross a page boundary (not cached). */
  private readonly insn = new Insn();
  /** Host-time guard: performance.now() at which the deadline passes, or Infinity. */
  private deadlineAt = Infinity;
  /** Virtual deadline: the deadline passes when `cpu.retired` reaches it (Infinity: none). */
  private deadlineRetired = Infinity;
  /** A triple fault happened: every run from now on returns Shutdown. */
  private shutdown = false;
  /** `cpu.unimplemented` when {@link lastUnimplemented} was last taken. */
  private unimplementedSeen = 0;
  /**
   * The last instruction that raised #UD because the emulator does not implement it: where, its
   * first bytes (up to 15, within its page) and the instruction count then. Named in the
   * shutdown exit's reason, so a guest that dies of it says what is missing.
   */
  lastUnimplemented: { readonly rip: number; readonly bytes: readonly number[]; readonly retired: number } | undefined;

  constructor(private readonly cpu: Cpu, private readonly mmu: Mmu, private readonly exits: Exits) {
    this.fetcher = new Fetcher(cpu);
    this.decodeCache = new DecodeCache(mmu);
    this.blocks = new BlockBuilder(this.fetcher, this.decodeCache);
  }

  // ------------------------------------------------------------------ deadline

  /** Arms the deadline `ms` of guest time from now, with a host-time guard of `max(ms, hostGuardMinMs)` (see `EmuVcpu.setDeadline`). */
  armDeadline(ms: number): void {
    this.deadlineAt = performance.now() + Math.max(ms, this.hostGuardMinMs);
    // ms × 1e6 carries float error from the VMM's ns → ms conversion: tolerate 1/1000 ns before rounding up.
    this.deadlineRetired = this.cpu.retired + Math.max(1, Math.ceil((ms * 1e6) / NS_PER_INSTRUCTION - 1e-3));
  }

  disarmDeadline(): void {
    this.deadlineAt = Infinity;
    this.deadlineRetired = Infinity;
  }

  /** Guest time jumped `ns` forward without instructions: the virtual deadline comes that much sooner. */
  skipped(ns: number): void {
    if (this.deadlineRetired !== Infinity) this.deadlineRetired = Math.max(this.cpu.retired, this.deadlineRetired - ns / NS_PER_INSTRUCTION);
  }

  private deadlineExit(): VmExit {
    this.disarmDeadline();
    this.exits.exit.kind = ExitKind.Deadline;
    return this.exits.exit;
  }

  // ------------------------------------------------------------------ hot path

  /** Runs until an exit; returns the vCPU's exit record, filled. */
  run(): VmExit {
    const exit = this.debug === null ? this.runGuest() : this.runDebug(this.debug);
    this.exitCounts[exit.kind]++;
    return exit;
  }

  private runGuest(): VmExit {
    const exits = this.exits, exit = exits.exit;
    const cpu = this.cpu, irq = this.interrupts;
    if (this.kicked) { this.kicked = false; exit.kind = ExitKind.Deadline; return exit; }
    if (this.deadlineAt !== Infinity && performance.now() >= this.deadlineAt) return this.deadlineExit();
    if (this.shutdown) { exit.kind = ExitKind.Shutdown; return exit; }
    // Guest memory may have been written since the last run (the VMM, devices, other vCPUs).
    this.mmu.codeStamp++;
    // A read exit's instruction completes first, before any interrupt, as on KVM.
    let first = exits.replayPending;
    exits.begin();
    for (;;) {
      let n = 0;
      while (n < CHECK_INTERVAL) {
        if (!first && irq.size === 0 && !this.windowRequest) {
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
          if (irq.size > 0 && (cpu.flags & IF) !== 0 && cpu.shadow === 0) {
            if (!this.deliver(irq.peek(), -1, EV_EXTERNAL, cpu.rip)) return this.shutdownExit();
            irq.drop();
          } else if (this.windowRequest && (cpu.flags & IF) !== 0 && cpu.shadow === 0) {
            exit.kind = ExitKind.IrqWindow;
            return exit;
          }
        }
        first = false;
        n++;
        if (!this.step()) return exit;
        exits.settle();
        if (exits.exitPending) return exit;
      }
      if (this.kicked) { this.kicked = false; exit.kind = ExitKind.Deadline; return exit; }
      if (this.deadlineAt !== Infinity && performance.now() >= this.deadlineAt) return this.deadlineExit();
    }
  }

  /**
   * run() with a debugger's controls set: one instruction at a time, with the breakpoint check
   * before each and the watchpoint and single-step checks after each. Interrupts are not
   * delivered while single-stepping (as QEMU's gdbstub does by default), so a step stays in the
   * code being debugged.
   */
  private runDebug(dbg: EmuDebug): VmExit {
    const exits = this.exits, exit = exits.exit;
    const cpu = this.cpu, irq = this.interrupts;
    if (dbg.takePending()) { exit.kind = ExitKind.Debug; return exit; }
    if (this.kicked) { this.kicked = false; exit.kind = ExitKind.Deadline; return exit; }
    if (this.deadlineAt !== Infinity && performance.now() >= this.deadlineAt) return this.deadlineExit();
    if (this.shutdown) { exit.kind = ExitKind.Shutdown; return exit; }
    this.mmu.codeStamp++;
    dbg.refresh();
    this.mmu.watchLog.length = 0;
    let first = exits.replayPending;
    exits.begin();
    for (let n = 1; ; n++) {
      if (!first) {
        if (cpu.retired >= this.deadlineRetired) return this.deadlineExit();
        if (!dbg.singleStep && irq.size > 0 && (cpu.flags & IF) !== 0 && cpu.shadow === 0) {
          if (!this.deliver(irq.peek(), -1, EV_EXTERNAL, cpu.rip)) return this.shutdownExit();
          irq.drop();
        } else if (!dbg.singleStep && this.windowRequest && (cpu.flags & IF) !== 0 && cpu.shadow === 0) {
          exit.kind = ExitKind.IrqWindow;
          return exit;
        }
        if (dbg.breakpointAt(cpu.rip)) { exit.kind = ExitKind.Debug; return exit; }
      }
      first = false;
      if (!this.step()) return exit;
      exits.settle();
      if (dbg.afterInstruction(exits.exitPending)) { exit.kind = ExitKind.Debug; return exit; }
      if (exits.exitPending) return exit;
      if ((n & (CHECK_INTERVAL - 1)) === 0) {
        if (this.kicked) { this.kicked = false; exit.kind = ExitKind.Deadline; return exit; }
        if (this.deadlineAt !== Infinity && performance.now() >= this.deadlineAt) return this.deadlineExit();
      }
    }
  }

  /**
   * Up to `limit` steps (instructions executed or exceptions delivered, as `step` counts them;
   * a block may go past it) with no interrupt pending and no window requested: the same work as
   * `step` in a loop, with the exact virtual-deadline check before each instruction or block.
   * Returns the steps done, or -1 when run() must return the exit now (already filled, deadline
   * included).
   *
   * Basic blocks: at each RIP the block starting there is looked up (one lookup and one
   * code-stamp check for the whole block). A block of two or more instructions runs whole when
   * the virtual deadline is at least its length away and no STI/MOV SS shadow is pending; its
   * instructions then skip the per-instruction lookup, RIP and retired-count bookkeeping. A
   * store or a page walk inside the block that moved `codeStamp` (it may have changed the
   * block's own code) or scheduled an exit ends the block after that instruction, and so does a
   * taken conditional jump before its end. A compiled block that jumps back to its own start
   * loops inside its function while a whole turn more fits before the deadline and the
   * host-check interval. An exception in the block leaves RIP at the faulting instruction and
   * counts only the instructions before it (earlier turns included), as the per-instruction path
   * does. Otherwise the block's first instruction runs alone.
   */
  private runBatch(limit: number): number {
    const cpu = this.cpu, f = this.fetcher, cache = this.decodeCache, mmu = this.mmu, exits = this.exits;
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
            if (off + d.len <= 4096) b = this.blocks.build(off, d);
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
                // The block may loop on itself while the deadline and the host-check interval allow.
                const done = fn(cpu, brip, exits, Math.min(left, Math.max(count, limit - n)));
                bi = -1;
                cpu.retired += done;
                n += done;
                if (exits.exitPending) return -1;
                continue;
              }
              if (fn === null && ++b.runs >= this.compileThreshold) b.fn = compileBlock(b.insns, b.ends, b.mem) ?? false;
              const insns = b.insns, ends = b.ends, mem = b.mem, stamp = mmu.codeStamp;
              bi = 0;
              while (bi < count) {
                const x = insns[bi]!;
                cpu.nextRip = brip + ends[bi]!;
                const k = x.fast;
                if (k !== 0) {
                  executeFast(cpu, x, k);
                } else {
                  // The general executor may read RIP (x87's FIP); blocks keep it at the block's start otherwise.
                  cpu.rip = bi === 0 ? brip : brip + ends[bi - 1]!;
                  execute(cpu, x, exits);
                }
                const m = mem[bi++]!;
                if (m === M_MEMORY) { if (mmu.codeStamp !== stamp || exits.exitPending) break; }
                else if (m === M_EXIT && cpu.nextRip !== brip + ends[bi - 1]!) break;
              }
              cpu.rip = cpu.nextRip;
              cpu.retired += bi;
              n += bi;
              bi = -1;
              if (exits.exitPending) return -1;
              continue;
            }
          }
          n++;
          cpu.nextRip = cpu.rip + d.len;
          const k = d.fast;
          if (k !== 0) executeFast(cpu, d, k);
          else execute(cpu, d, exits);
          cpu.rip = cpu.nextRip;
          cpu.retired++;
          if (cpu.shadow !== 0) cpu.shadow--;
          if (exits.exitPending) return -1;
        }
      } catch (err) {
        if (bi === -2) {
          bi = cpu.blockIndex;
          // Earlier turns of a compiled block's loop retired whole.
          cpu.retired += cpu.blockDone;
          n += cpu.blockDone;
        }
        if (bi >= 0) {
          // Abandoned at instruction `bi` of the block: the ones before it retired.
          cpu.rip = bi === 0 ? brip : brip + blk!.ends[bi - 1]!;
          cpu.nextRip = brip + blk!.ends[bi]!;
          cpu.retired += bi;
          n += bi + 1;
          bi = -1;
        }
        if (!this.fault(err)) return -1;
        if (exits.exitPending) return -1;
      }
    }
    return n;
  }

  /**
   * Executes exactly one instruction (no interrupt delivery, no deadline check), for debuggers
   * and tests. Returns the exit it caused (port I/O, MMIO, HLT, internal error, shutdown) or null.
   */
  singleStep(): VmExit | null {
    const exits = this.exits;
    this.mmu.codeStamp++;
    exits.begin();
    const ok = this.step();
    exits.settle();
    return !ok || exits.exitPending ? exits.exit : null;
  }

  /**
   * Executes one instruction (or delivers the exception it raised). Returns false when the exit
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
      else execute(cpu, d, this.exits);
      cpu.rip = cpu.nextRip;
      cpu.retired++;
      if (cpu.shadow !== 0) cpu.shadow--;
      return true;
    } catch (err) {
      return this.fault(err);
    }
  }

  /** Handles what abandoned an instruction (see `step`): false when the exit has been filled. */
  private fault(err: unknown): boolean {
    const cpu = this.cpu;
    if (err !== ABORT) return this.crash(err);
    switch (cpu.abortKind) {
      case A_EXCEPTION: {
        if (cpu.unimplemented !== this.unimplementedSeen) this.noteUnimplemented();
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
        const exit = this.exits.exit;
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
    const exit = this.exits.exit;
    exit.kind = ExitKind.Shutdown;
    const u = this.lastUnimplemented;
    const ago = u !== undefined ? this.cpu.retired - u.retired : 0;
    exit.reason = u === undefined ? 'triple fault'
      : `#UD at RIP 0x${u.rip.toString(16)} for an instruction the emulator does not implement yet (bytes ${u.bytes.map((b) => b.toString(16).padStart(2, '0')).join(' ') || 'unknown'})${ago > 0 ? `, ${ago} instructions before the triple fault` : ''}`;
    return exit;
  }

  /** Records the instruction that just raised #UD as unimplemented (cold: exceptions only; never faults). */
  private noteUnimplemented(): void {
    const cpu = this.cpu, f = this.fetcher;
    this.unimplementedSeen = cpu.unimplemented;
    const bytes: number[] = [];
    const off = cpu.rip - f.pageLin; // the page it was fetched from, if still cached: reading never translates
    if (off >= 0 && off < 4096) for (let i = 0; i < 15 && off + i < 4096; i++) bytes.push(f.bytes[f.base + off + i]!);
    this.lastUnimplemented = { rip: cpu.rip, bytes, retired: cpu.retired };
  }

  /** A bug in the emulator: reported as an internal error exit, never thrown into the VMM. */
  private crash(err: unknown): boolean {
    const exit = this.exits.exit;
    exit.kind = ExitKind.InternalError;
    exit.rip = numberToBig(this.cpu.rip);
    exit.reason = `emulator error at rip 0x${exit.rip.toString(16)}: ${err instanceof Error ? err.message : String(err)}`;
    return false;
  }
}
