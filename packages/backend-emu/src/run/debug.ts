/**
 * The emulator's debugger support ({@link VcpuDebug}): breakpoints at any number of linear
 * addresses (no guest memory is patched), watchpoints of any length, and single steps. While none
 * is set the engine runs its normal path untouched (one check per run() call); with any set it
 * runs instruction by instruction (`Engine.runDebug`) and asks this class before and after each.
 *
 * Watchpoints: the watched pages are kept out of the TLB so every data access to them walks and
 * is logged (`Mmu.watchLog`); an access that starts inside a watched range hits. Writes are also
 * caught by comparing the watched bytes after each instruction, so a write that starts before the
 * range (a `rep stos`, a wider store) is seen when it changes the value, as gdb reports it.
 * @module
 */
import {
  BackendError, readVirtual,
  type DebugStop, type GuestMemory, type PagingState, type VcpuDebug, type WatchKind, type Watchpoint,
} from '@hyvisor/core';
import { bigToAddress, numberToBig, type Cpu } from '../cpu/cpu.js';
import { ACC_WRITE, type Mmu } from '../mmu/mmu.js';

/** Watchpoints at once (a bound for hostile or careless clients, not a hardware limit). */
export const MAX_WATCHPOINTS = 64;
/** Breakpoints at once. */
export const MAX_BREAKPOINTS = 4096;
/** Longest watched range in bytes. */
export const MAX_WATCH_LENGTH = 4096;

interface Watch {
  readonly address: bigint;
  readonly start: number;
  readonly length: number;
  readonly kind: WatchKind;
  /** The bytes as last seen (write and access watchpoints). */
  seen: Uint8Array;
}

/** One vCPU's breakpoints, watchpoints and single-step flag. */
export class EmuDebug implements VcpuDebug {
  readonly maxBreakpoints = MAX_BREAKPOINTS;
  readonly maxWatchpoints = MAX_WATCHPOINTS;
  lastStop: DebugStop | undefined;
  /** Linear addresses (signed canonical numbers) of the breakpoints. */
  private breakpoints = new Set<number>();
  private watches: Watch[] = [];
  private stepping = false;
  /** RIP of the breakpoint that just fired: it does not fire again before its instruction ran (x86 RF). */
  private resumeAt = NaN;
  /** A stop found after an instruction that also scheduled an exit: reported at the next run(). */
  private pending: DebugStop | undefined;

  constructor(
    private readonly cpu: Cpu,
    private readonly mmu: Mmu,
    private readonly memory: GuestMemory,
    /** Told when the set of controls goes from empty to non-empty or back. */
    private readonly changed: (active: boolean) => void,
  ) {}

  /** True while any breakpoint, watchpoint or the single step is set. */
  get active(): boolean {
    return this.breakpoints.size > 0 || this.watches.length > 0 || this.stepping || this.pending !== undefined;
  }

  get singleStep(): boolean {
    return this.stepping;
  }

  setBreakpoints(addresses: readonly bigint[]): void {
    if (addresses.length > MAX_BREAKPOINTS) throw new BackendError(`setBreakpoints: at most ${MAX_BREAKPOINTS} breakpoints, got ${addresses.length}`, { operation: 'setBreakpoints' });
    this.breakpoints = new Set(addresses.map((a) => bigToAddress(a)));
    this.changed(this.active);
  }

  setWatchpoints(watchpoints: readonly Watchpoint[]): void {
    if (watchpoints.length > MAX_WATCHPOINTS) throw new BackendError(`setWatchpoints: at most ${MAX_WATCHPOINTS} watchpoints, got ${watchpoints.length}`, { operation: 'setWatchpoints' });
    for (const w of watchpoints) {
      if (!Number.isInteger(w.length) || w.length < 1 || w.length > MAX_WATCH_LENGTH) {
        throw new BackendError(`setWatchpoints: a watched range is 1-${MAX_WATCH_LENGTH} bytes, got ${w.length}`, { operation: 'setWatchpoints' });
      }
    }
    this.watches = watchpoints.map((w) => ({ address: BigInt.asUintN(64, w.address), start: bigToAddress(w.address), length: w.length, kind: w.kind, seen: new Uint8Array(0) }));
    const pages = new Set<number>();
    for (const w of this.watches) {
      for (let p = Math.floor(w.start / 4096); p <= Math.floor((w.start + w.length - 1) / 4096); p++) pages.add(p);
    }
    this.mmu.watchPages = pages.size > 0 ? pages : null;
    this.mmu.watchLog.length = 0;
    this.mmu.flush(); // watched pages must leave the TLB
    this.refresh();
    this.changed(this.active);
  }

  setSingleStep(on: boolean): void {
    this.stepping = on;
    this.changed(this.active);
  }

  /** At each run() entry: memory may have changed (the debugger wrote it); take the watched bytes afresh. */
  refresh(): void {
    if (this.watches.length === 0) return;
    const paging = this.paging();
    for (const w of this.watches) w.seen = readVirtual(this.memory, paging, w.address, w.length);
  }

  /** A stop held back by an exit (see {@link pending}), taken now. */
  takePending(): boolean {
    const p = this.pending;
    if (p === undefined) return false;
    this.pending = undefined;
    this.lastStop = p;
    if (!this.active) this.changed(false);
    return true;
  }

  /** Before the instruction at `rip`: true when a breakpoint stops it (`lastStop` set). */
  breakpointAt(rip: number): boolean {
    if (this.breakpoints.size === 0 || rip === this.resumeAt || !this.breakpoints.has(rip)) return false;
    this.resumeAt = rip;
    this.lastStop = { kind: 'breakpoint', address: numberToBig(rip) };
    return true;
  }

  /**
   * After an instruction completed (or an exception was delivered): true when a watchpoint hit or
   * the single step is done (`lastStop` set). With `exitPending`, the stop is held for the next run().
   */
  afterInstruction(exitPending: boolean): boolean {
    this.resumeAt = NaN;
    let stop: DebugStop | undefined;
    if (this.watches.length > 0) stop = this.watchHit();
    if (stop === undefined && this.stepping) stop = { kind: 'step' };
    if (stop === undefined) return false;
    if (exitPending) { this.pending = stop; return false; }
    this.lastStop = stop;
    return true;
  }

  private watchHit(): DebugStop | undefined {
    const log = this.mmu.watchLog;
    let hit: DebugStop | undefined;
    for (let i = 0; i < log.length && hit === undefined; i += 2) {
      const lin = log[i]!, write = log[i + 1] === ACC_WRITE;
      for (const w of this.watches) {
        if (lin < w.start || lin >= w.start + w.length) continue;
        if (w.kind === 'access' || (w.kind === 'write') === write) {
          hit = { kind: 'watchpoint', address: w.address, access: w.kind === 'access' ? 'access' : write ? 'write' : 'read' };
          break;
        }
      }
    }
    log.length = 0;
    let paging: PagingState | undefined;
    for (const w of this.watches) {
      if (w.kind === 'read') continue;
      paging ??= this.paging();
      const now = readVirtual(this.memory, paging, w.address, w.length);
      if (!sameBytes(now, w.seen)) {
        w.seen = now;
        hit ??= { kind: 'watchpoint', address: w.address, access: w.kind };
      }
    }
    return hit;
  }

  private paging(): PagingState {
    const c = this.cpu;
    return { cr0: BigInt(c.cr0 >>> 0), cr3: BigInt(c.cr3), cr4: BigInt(c.cr4 >>> 0), efer: BigInt(c.efer >>> 0) };
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
