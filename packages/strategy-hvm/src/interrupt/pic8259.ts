/**
 * The Intel 8259A programmable interrupt controller after its datasheet (order no. 231468), and
 * the PC/AT pair of them ({@link DualPic}): master at ports 0x20/0x21, slave at 0xa0/0xa1
 * cascaded on the master's IR2, edge/level control (ELCR) at 0x4d0/0x4d1.
 *
 * Modelled: the ICW1-ICW4 initialization sequence, OCW1 (IMR), OCW2 (non-specific and specific
 * EOI, rotation on EOI, rotate in auto-EOI mode, set priority), OCW3 (read IRR/ISR, special mask
 * mode, poll), auto-EOI, special fully nested mode (master), priority resolution with in-service
 * blocking, edge- and level-triggered inputs (ICW1.LTIM for a whole chip, ELCR per line), and the
 * spurious IR7 an INTA gets when the request vanished before it.
 *
 * Not modelled: 8080/8085 mode (ICW1.ADI, ICW4.uPM; the vector is always `base + line` as in
 * 8086 mode), buffered mode (ICW4.BUF, M/S), and ICW3: the PC wiring (slave on IR2) is fixed.
 *
 * Deviation from the datasheet, as in QEMU and KVM: an edge-triggered request is latched in IRR
 * on the rising edge and stays there until acknowledged even if the input falls before INTA
 * (device models pulse their lines: raise then lower at once). A level-triggered request that
 * falls before INTA is withdrawn, and so is one masked before INTA: both give the spurious IR7.
 * @module
 */
import type { IrqLine, PioDevice } from '@hyvisor/core';
import type { InterruptSource } from './interrupt-source.js';

/** Port offsets of one 8259A from its base (A0 = 0 or 1). */
export const PicReg = {
  /** Write: ICW1, OCW2, OCW3; read: IRR or ISR (OCW3), or the poll word. */
  COMMAND: 0,
  /** Write: ICW2-ICW4 during initialization, OCW1 (IMR) afterwards; read: IMR. */
  DATA: 1,
} as const;

/** ICW1 bits (a command-port write with bit 4 set). */
export const Icw1 = {
  /** ICW4 will follow. */
  IC4: 0x01,
  /** Single mode: no ICW3 (no cascade). */
  SNGL: 0x02,
  /** Call address interval (8080 mode only; ignored). */
  ADI: 0x04,
  /** Level-triggered mode for every input of the chip. */
  LTIM: 0x08,
  /** Marks the write as ICW1. */
  INIT: 0x10,
} as const;

/** ICW4 bits. */
export const Icw4 = {
  /** 8086 mode (always assumed). */
  UPM: 0x01,
  /** Automatic end of interrupt. */
  AEOI: 0x02,
  /** Buffered-mode master/slave (ignored). */
  MS: 0x04,
  /** Buffered mode (ignored). */
  BUF: 0x08,
  /** Special fully nested mode. */
  SFNM: 0x10,
} as const;

/** OCW2 commands (bits 5-7 of a command-port write with bits 3-4 clear); bits 0-2 name a level. */
export const Ocw2 = {
  /** Rotate in automatic EOI mode: clear. */
  ROTATE_AEOI_CLEAR: 0x00,
  /** Non-specific EOI: clears the highest-priority ISR bit. */
  EOI: 0x20,
  /** Specific EOI: clears the ISR bit of the level in bits 0-2. */
  SPECIFIC_EOI: 0x60,
  /** Rotate in automatic EOI mode: set. */
  ROTATE_AEOI_SET: 0x80,
  /** Rotate on non-specific EOI. */
  ROTATE_EOI: 0xa0,
  /** Set priority: the level in bits 0-2 becomes the lowest. */
  SET_PRIORITY: 0xc0,
  /** Rotate on specific EOI. */
  ROTATE_SPECIFIC_EOI: 0xe0,
} as const;

/** OCW3 bits (a command-port write with bit 3 set and bit 4 clear). */
export const Ocw3 = {
  /** With {@link Ocw3.RR}: read ISR (1) or IRR (0) on the next command-port read. */
  RIS: 0x01,
  /** Read-register command: {@link Ocw3.RIS} is valid. */
  RR: 0x02,
  /** Poll: the next read returns the poll word and acknowledges. */
  POLL: 0x04,
  /** Marks the write as OCW3. */
  SELECT: 0x08,
  /** With {@link Ocw3.ESMM}: set (1) or reset (0) special mask mode. */
  SMM: 0x20,
  /** Enable special mask mode command: {@link Ocw3.SMM} is valid. */
  ESMM: 0x40,
} as const;

/** Where a chip is in the ICW sequence. */
const enum InitState {
  READY = 0,
  ICW2 = 1,
  ICW3 = 2,
  ICW4 = 3,
}

/** Options of {@link Pic8259}. */
export interface Pic8259Options {
  /**
   * The input a slave PIC is cascaded on, for a master (the PC's is 2); special fully nested
   * mode applies to it. Omit for a slave or a single chip.
   */
  readonly cascadeInput?: number;
  /**
   * Inputs that may be made level-triggered through {@link Pic8259.elcr} (default all). A PC's
   * master fixes IRQ0-2 as edge (0xf8) and its slave IRQ8 and IRQ13 (0xde).
   */
  readonly elcrMask?: number;
}

/**
 * One 8259A on the port-I/O bus (2 ports). Its inputs are driven with {@link setIrq}; its INT
 * output is {@link hasPendingInterrupt}, reported through {@link onInterruptChange}.
 *
 * Used alone it is a single-chip controller whose {@link acknowledge} is the INTA cycle. In a
 * PC it is half of a {@link DualPic}, which performs the cascaded INTA instead.
 *
 * Accesses wider than a byte act on the low byte. Reset state (as after power-on with the BIOS
 * not yet run): vector base 0, all lines unmasked, nothing requested; a guest initializes it
 * with ICW1-ICW4 before use.
 */
export class Pic8259 implements PioDevice, InterruptSource {
  /** Number of ports the chip decodes. */
  static readonly PORT_COUNT = 2;

  /** Interrupt request register. */
  private irr = 0;
  /** In-service register. */
  private isr = 0;
  /** Interrupt mask register. */
  private imr = 0;
  /** Current input levels (for edge detection and level-triggered IRR). */
  private inputs = 0;
  private elcrBits = 0;
  private ltim = false;
  private base = 0;
  private init = InitState.READY;
  private expectIcw4 = false;
  private single = false;
  private autoEoi = false;
  private rotateOnAutoEoi = false;
  private specialFullyNested = false;
  private specialMask = false;
  private readIsr = false;
  private poll = false;
  /** Rotation: the level that currently has the highest priority. */
  private priorityAdd = 0;
  private outputLevel = false;
  private readonly cascadeInput: number;
  private readonly elcrMask: number;

  /** INTA cycles that returned a real vector. */
  acknowledged = 0;
  /** INTA cycles that found nothing to serve and returned IR7 (spurious). */
  spurious = 0;
  /** EOI commands (specific or not) that cleared an in-service bit. */
  eois = 0;

  onInterruptChange: ((asserted: boolean) => void) | undefined;

  constructor(options: Pic8259Options = {}) {
    this.cascadeInput = options.cascadeInput ?? -1;
    this.elcrMask = (options.elcrMask ?? 0xff) & 0xff;
  }

  /** The vector base programmed by ICW2 (a multiple of 8). */
  get vectorBase(): number {
    return this.base;
  }

  /** The interrupt mask register (OCW1). */
  get mask(): number {
    return this.imr;
  }

  /** The interrupt request register. */
  get requests(): number {
    return this.irr;
  }

  /** The in-service register. */
  get inService(): number {
    return this.isr;
  }

  /** True while the ICW sequence is incomplete. */
  get initializing(): boolean {
    return this.init !== InitState.READY;
  }

  /** Edge/level control: bit n set makes input n level-triggered (masked by the chip's ELCR mask). */
  get elcr(): number {
    return this.elcrBits;
  }

  set elcr(value: number) {
    this.elcrBits = value & this.elcrMask;
    // A line that became level-triggered requests exactly while its input is high.
    const level = this.levelLines();
    this.irr = (this.irr & ~level) | (this.inputs & level);
    this.updateOutput();
  }

  /** Drives input `line` (0-7) to `level`. An edge-triggered input requests on its rising edge. */
  setIrq(line: number, level: boolean): void {
    const bit = 1 << (line & 7);
    const wasHigh = (this.inputs & bit) !== 0;
    if (level) this.inputs |= bit;
    else this.inputs &= ~bit;
    if (this.levelLines() & bit) {
      if (level) this.irr |= bit;
      else this.irr &= ~bit;
    } else if (level && !wasHigh) {
      this.irr |= bit;
    }
    this.updateOutput();
  }

  hasPendingInterrupt(): boolean {
    return this.outputLevel;
  }

  /** The INTA cycle of a single chip: the vector of the highest-priority request, or base + 7 (spurious). */
  acknowledge(): number {
    const line = this.pendingLine();
    if (line < 0) {
      this.spurious++;
      return this.base + 7;
    }
    this.acknowledgeLine(line);
    return this.base + line;
  }

  /**
   * The line priority resolution would present to the CPU now, or -1: the highest-priority
   * unmasked request, if it has a higher priority than every in-service level that blocks it.
   */
  pendingLine(): number {
    const requested = this.irr & ~this.imr;
    const priority = this.priorityOf(requested);
    if (priority === 8) return -1;
    let blocking = this.isr;
    // Special mask mode: a masked level in service blocks nothing.
    if (this.specialMask) blocking &= ~this.imr;
    // Special fully nested mode: the slave's own higher levels may nest while IR2 is in service.
    if (this.specialFullyNested && this.cascadeInput >= 0) blocking &= ~(1 << this.cascadeInput);
    return priority < this.priorityOf(blocking) ? (priority + this.priorityAdd) & 7 : -1;
  }

  /** Second half of an INTA for `line` (which {@link pendingLine} returned): IRR → ISR. */
  acknowledgeLine(line: number): void {
    const bit = 1 << (line & 7);
    this.acknowledged++;
    if (this.autoEoi) {
      if (this.rotateOnAutoEoi) this.priorityAdd = (line + 1) & 7;
    } else {
      this.isr |= bit;
    }
    // An edge request is consumed by the acknowledgement; a level one lasts as long as its input.
    if (!(this.levelLines() & bit)) this.irr &= ~bit;
    this.updateOutput();
  }

  /** Counts an INTA that found nothing (the cascade performs it on a slave). */
  countSpurious(): void {
    this.spurious++;
  }

  read(offset: number, _size: number): number {
    if (this.poll) {
      // The poll word: I (bit 7) and the level; the read acts as an INTA.
      this.poll = false;
      const line = this.pendingLine();
      if (line < 0) return 0;
      this.acknowledgeLine(line);
      return 0x80 | line;
    }
    if (offset === PicReg.COMMAND) return this.readIsr ? this.isr : this.irr;
    if (offset === PicReg.DATA) return this.imr;
    return 0xff;
  }

  write(offset: number, _size: number, value: number): void {
    const v = value & 0xff;
    if (offset === PicReg.COMMAND) {
      if (v & Icw1.INIT) this.writeIcw1(v);
      else if (v & Ocw3.SELECT) this.writeOcw3(v);
      else this.writeOcw2(v);
    } else if (offset === PicReg.DATA) {
      this.writeData(v);
    }
  }

  private writeIcw1(v: number): void {
    // Datasheet: IMR cleared, IR7 lowest priority, special mask mode off, IRR selected for
    // reading, ICW4 functions zero unless IC4. The edge-sense latches are reset: an input that is
    // high now must fall and rise again to request (this model keeps the real input levels).
    this.imr = 0;
    this.isr = 0;
    this.priorityAdd = 0;
    this.specialMask = false;
    this.readIsr = false;
    this.poll = false;
    this.autoEoi = false;
    this.rotateOnAutoEoi = false;
    this.specialFullyNested = false;
    this.ltim = (v & Icw1.LTIM) !== 0;
    this.single = (v & Icw1.SNGL) !== 0;
    this.expectIcw4 = (v & Icw1.IC4) !== 0;
    this.irr = this.inputs & this.levelLines();
    this.init = InitState.ICW2;
    this.updateOutput();
  }

  private writeData(v: number): void {
    switch (this.init) {
      case InitState.READY:
        this.imr = v;
        this.updateOutput();
        return;
      case InitState.ICW2:
        this.base = v & 0xf8;
        this.init = this.single ? this.afterIcw3() : InitState.ICW3;
        return;
      case InitState.ICW3:
        // Cascade wiring: fixed by the PC (slave on IR2), so the value is not used.
        this.init = this.afterIcw3();
        return;
      case InitState.ICW4:
        this.autoEoi = (v & Icw4.AEOI) !== 0;
        this.specialFullyNested = (v & Icw4.SFNM) !== 0;
        this.init = InitState.READY;
        this.updateOutput();
        return;
    }
  }

  private afterIcw3(): InitState {
    return this.expectIcw4 ? InitState.ICW4 : InitState.READY;
  }

  private writeOcw2(v: number): void {
    const level = v & 7;
    switch (v & 0xe0) {
      case Ocw2.ROTATE_AEOI_CLEAR:
        this.rotateOnAutoEoi = false;
        return;
      case Ocw2.ROTATE_AEOI_SET:
        this.rotateOnAutoEoi = true;
        return;
      case Ocw2.EOI:
      case Ocw2.ROTATE_EOI: {
        const priority = this.priorityOf(this.isr);
        if (priority === 8) return;
        const line = (priority + this.priorityAdd) & 7;
        this.isr &= ~(1 << line);
        this.eois++;
        if ((v & 0xe0) === Ocw2.ROTATE_EOI) this.priorityAdd = (line + 1) & 7;
        break;
      }
      case Ocw2.SPECIFIC_EOI:
        if (this.isr & (1 << level)) this.eois++;
        this.isr &= ~(1 << level);
        break;
      case Ocw2.ROTATE_SPECIFIC_EOI:
        if (this.isr & (1 << level)) this.eois++;
        this.isr &= ~(1 << level);
        this.priorityAdd = (level + 1) & 7;
        break;
      case Ocw2.SET_PRIORITY:
        this.priorityAdd = (level + 1) & 7;
        break;
      default:
        // 0x40: no operation.
        return;
    }
    this.updateOutput();
  }

  private writeOcw3(v: number): void {
    if (v & Ocw3.POLL) this.poll = true;
    if (v & Ocw3.RR) this.readIsr = (v & Ocw3.RIS) !== 0;
    if (v & Ocw3.ESMM) this.specialMask = (v & Ocw3.SMM) !== 0;
    this.updateOutput();
  }

  private levelLines(): number {
    return this.ltim ? 0xff : this.elcrBits;
  }

  /** Priority (0 highest, 7 lowest, 8 none) of the highest-priority bit of `mask`, rotation applied. */
  private priorityOf(mask: number): number {
    if ((mask & 0xff) === 0) return 8;
    let p = 0;
    while ((mask & (1 << ((p + this.priorityAdd) & 7))) === 0) p++;
    return p;
  }

  private updateOutput(): void {
    const level = this.pendingLine() >= 0;
    if (level === this.outputLevel) return;
    this.outputLevel = level;
    this.onInterruptChange?.(level);
  }
}

/** The ELCR pair (ports 0x4d0 master, 0x4d1 slave) of a {@link DualPic}. */
class ElcrPorts implements PioDevice {
  constructor(private readonly chips: readonly [Pic8259, Pic8259]) {}

  read(offset: number, _size: number): number {
    const chip = this.chips[offset];
    return chip ? chip.elcr : 0xff;
  }

  write(offset: number, _size: number, value: number): void {
    const chip = this.chips[offset];
    if (chip) chip.elcr = value & 0xff;
  }
}

/** The PIC input the slave is cascaded on (the PC/AT wiring). */
export const PIC_CASCADE_INPUT = 2;

/**
 * The PC/AT pair of 8259As: ISA IRQ0-7 on the master, IRQ8-15 on the slave, the slave's INT
 * output on the master's IR2. Register {@link master} at `Ports.PIC_MASTER` (0x20),
 * {@link slave} at `Ports.PIC_SLAVE` (0xa0), 2 ports each, and {@link elcr} at 0x4d0 (2 ports).
 *
 * IRQ2 cannot be a device line (it is the cascade); a request on it is routed to IRQ9, as the
 * PC/AT bus wires its IRQ2 pin. The ELCR can make IRQ3-7, 9-12 and 14-15 level-triggered; IRQ0-2,
 * 8 and 13 stay edge-triggered, as on a PIIX.
 */
export class DualPic implements InterruptSource {
  /** The master chip (IRQ0-7, ports 0x20/0x21). */
  readonly master = new Pic8259({ cascadeInput: PIC_CASCADE_INPUT, elcrMask: 0xf8 });
  /** The slave chip (IRQ8-15, ports 0xa0/0xa1). */
  readonly slave = new Pic8259({ elcrMask: 0xde });
  /** The edge/level control registers (ports 0x4d0/0x4d1). */
  readonly elcr: PioDevice = new ElcrPorts([this.master, this.slave]);
  /** I/O port of {@link elcr}. */
  static readonly ELCR_PORT = 0x4d0;
  /** Number of ports {@link elcr} decodes. */
  static readonly ELCR_PORT_COUNT = 2;

  private readonly lines: IrqLine[] = [];

  onInterruptChange: ((asserted: boolean) => void) | undefined;

  constructor() {
    this.slave.onInterruptChange = (level) => this.master.setIrq(PIC_CASCADE_INPUT, level);
    this.master.onInterruptChange = (level) => this.onInterruptChange?.(level);
  }

  /** Drives ISA interrupt line `irq` (0-15; 2 goes to 9). */
  setIrq(irq: number, level: boolean): void {
    const n = irq === PIC_CASCADE_INPUT ? 9 : irq & 15;
    if (n < 8) this.master.setIrq(n, level);
    else this.slave.setIrq(n - 8, level);
  }

  /** An {@link IrqLine} driving ISA line `irq`, for a device model (the same object each time). */
  irqLine(irq: number): IrqLine {
    const n = irq & 15;
    let line = this.lines[n];
    if (!line) {
      line = { raise: () => this.setIrq(n, true), lower: () => this.setIrq(n, false) };
      this.lines[n] = line;
    }
    return line;
  }

  hasPendingInterrupt(): boolean {
    return this.master.hasPendingInterrupt();
  }

  /**
   * The cascaded INTA cycle. A request on the master returns its vector; one from the slave
   * (master IR2) returns the slave's vector and puts IR2 in service on the master too. A request
   * that vanished returns the master's IR7 (spurious IRQ7, nothing put in service); one that
   * vanished from the slave after the master chose IR2 returns the slave's IR7 (spurious IRQ15,
   * with IR2 in service on the master: the guest's handler sends the master its EOI).
   */
  acknowledge(): number {
    const line = this.master.pendingLine();
    if (line < 0) {
      this.master.countSpurious();
      return this.master.vectorBase + 7;
    }
    if (line !== PIC_CASCADE_INPUT) {
      this.master.acknowledgeLine(line);
      return this.master.vectorBase + line;
    }
    const slaveLine = this.slave.pendingLine();
    let vector: number;
    if (slaveLine < 0) {
      this.slave.countSpurious();
      vector = this.slave.vectorBase + 7;
    } else {
      this.slave.acknowledgeLine(slaveLine);
      vector = this.slave.vectorBase + slaveLine;
    }
    this.master.acknowledgeLine(PIC_CASCADE_INPUT);
    return vector;
  }
}
