/**
 * Exits and their replay: what the executor's platform accesses (port I/O, MMIO, HLT) become.
 * Each fills the vCPU's one reusable {@link VmExit} with KVM's meaning. A write (OUT, MMIO store)
 * and HLT complete first and schedule the exit ({@link Exits.exitPending}); a read (IN, INS,
 * MMIO load) abandons the instruction with `A_RESTART_EXIT`, and when run() is called again the
 * re-executed instruction's same access takes the VMM's answer from the exit buffer (replay),
 * so an instruction is never half done. CPUID, the one platform query that needs no exit, is
 * answered here from the table the VMM set.
 * @module
 */
import { ExitKind, createExit, type CpuidEntry, type VmExit } from '@hyvisor/core';
import { A_RESTART_EXIT, ABORT, RAX, RBX, RCX, RDX, type Cpu } from '../cpu/cpu.js';
import { CPUID_SIGNIFICANT_INDEX, emulatorCpuid } from '../cpu/cpuid.js';
import type { Platform } from '../execute/execute.js';
import type { MmioPort } from '../mmu/mmu.js';

/** Exit buffer layout: MMIO data at 0 (8 bytes), port I/O data from 16 (one page of elements). */
const MMIO_OFFSET = 0, IO_OFFSET = 16, IO_CAPACITY = 4096;

/** Replayed access kinds. */
const R_NONE = 0, R_IO = 1, R_MMIO = 2;

/** The platform the executor and the MMU see for one vCPU: exits, their replay, CPUID. */
export class Exits implements Platform, MmioPort {
  /** The exit run() returns, reused for every exit. */
  readonly exit: VmExit;
  /** Port data handed to the executor: a view of the exit buffer at the I/O offset. */
  readonly data: DataView;
  readonly capacity = IO_CAPACITY;
  /** An exit was scheduled by the instruction that just retired (OUT, MMIO write, HLT). */
  exitPending = false;
  /** CPUID answers (the VMM's `setCpuid` replaces them). */
  cpuidEntries: CpuidEntry[] = emulatorCpuid();

  private readonly buffer: DataView;
  /** The last exit was a read; the re-executed instruction takes its answer from the buffer. */
  private replayKind = R_NONE;
  private replayKey = 0;
  private replaySize = 0;
  private replayCount = 0;
  /** Set while the instruction that made the read exit runs again: only it may take the answer. */
  private replayArmed = false;

  constructor(private readonly cpu: Cpu) {
    const buf = new ArrayBuffer(IO_OFFSET + IO_CAPACITY);
    this.buffer = new DataView(buf);
    this.data = new DataView(buf, IO_OFFSET, IO_CAPACITY);
    this.exit = createExit(this.buffer);
  }

  /** A read exit is waiting for its instruction to run again (that instruction goes first, before any interrupt). */
  get replayPending(): boolean {
    return this.replayKind !== R_NONE;
  }

  /** Before the first instruction of a run: nothing scheduled; the replay, if any, is for it. */
  begin(): void {
    this.exitPending = false;
    this.replayArmed = this.replayKind !== R_NONE;
  }

  /** After that first instruction: an answer it did not take is dropped. */
  settle(): void {
    if (this.replayArmed) { this.replayArmed = false; this.replayKind = R_NONE; }
  }

  /** The VMM moved RIP or replaced the registers: the pending read's instruction will not run again. */
  cancelReplay(): void {
    this.replayKind = R_NONE;
  }

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
}
