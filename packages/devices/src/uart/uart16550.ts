/**
 * A 16550A UART register model after the National Semiconductor PC16550D datasheet, shaped like
 * rust-vmm's `vm-superio` serial device: it knows its eight registers and meets the world through
 * an {@link IrqLine}, a {@link SerialOutput} and {@link Uart16550.enqueueInput}.
 *
 * Transmission is instantaneous while the host side takes bytes (a byte written to THR is in
 * the output before the write returns, THRE and TEMT stay set). When the output reports itself
 * full ({@link SerialOutput.full}: stdout piped into a reader that does not read), the
 * transmitter is busy as on a slow line: bytes wait in THR (16450 mode) or the 16-byte transmit
 * FIFO (FIFO mode), THRE and TEMT read clear and no THRE interrupt is raised; when the output
 * drains ({@link SerialOutput.onWritable}) the bytes leave, THRE is set and, if enabled, the THRE
 * interrupt is raised. A byte written while THR/the FIFO is full is lost, as on the real part,
 * and counted ({@link Uart16550.txDropped}). Reception is modelled faithfully: a 16-byte RX FIFO
 * in FIFO mode, a single holding register in 16450 mode, overrun, trigger levels and the
 * interrupt priorities of IIR.
 * @module
 */
import type { IrqLine, PioDevice, StatefulDevice } from '@hyvisor/core';
import { uartStateFrom, type UartState } from './uart-state.js';
import type { SerialOutput, SerialReceiver } from './serial-io.js';

/** Register offsets from the UART's base port (DLAB = LCR bit 7 switches 0 and 1 to the divisor latch). */
export const UartReg = {
  /** Read: receiver buffer (RBR); write: transmitter holding (THR); DLAB=1: divisor latch low (DLL). */
  DATA: 0,
  /** Interrupt enable (IER); DLAB=1: divisor latch high (DLM). */
  IER: 1,
  /** Read: interrupt identification (IIR); write: FIFO control (FCR). */
  IIR_FCR: 2,
  /** Line control. */
  LCR: 3,
  /** Modem control. */
  MCR: 4,
  /** Line status. */
  LSR: 5,
  /** Modem status. */
  MSR: 6,
  /** Scratch. */
  SCR: 7,
} as const;

/** IER bits. */
export const Ier = {
  /** Received data available (and, in FIFO mode, character timeout). */
  ERBFI: 0x01,
  /** Transmitter holding register empty. */
  ETBEI: 0x02,
  /** Receiver line status (overrun, parity, framing, break). */
  ELSI: 0x04,
  /** Modem status (any MSR delta bit). */
  EDSSI: 0x08,
} as const;

/** IIR values (bits 0..3); bits 6..7 are {@link Iir.FIFO_ENABLED} in FIFO mode. */
export const Iir = {
  /** Bit 0 set: no interrupt pending. */
  NONE: 0x01,
  /** Priority 1: receiver line status (cleared by reading LSR). */
  LINE_STATUS: 0x06,
  /** Priority 2: received data available (cleared by reading RBR below the trigger level). */
  RX_DATA: 0x04,
  /** Priority 2 (FIFO mode): data below the trigger level waits (cleared by reading RBR). */
  RX_TIMEOUT: 0x0c,
  /** Priority 3: THR empty (cleared by reading IIR while it is the source, or by writing THR). */
  THR_EMPTY: 0x02,
  /** Priority 4: modem status (cleared by reading MSR). */
  MODEM_STATUS: 0x00,
  /** Bits 6..7 when FCR bit 0 has enabled the FIFOs. */
  FIFO_ENABLED: 0xc0,
} as const;

/** FCR bits (write-only register). */
export const Fcr = {
  /** Enables both FIFOs; changing it clears them. Other bits are only programmed while it is written as 1. */
  ENABLE: 0x01,
  /** Clears the receive FIFO. */
  CLEAR_RX: 0x02,
  /** Clears the transmit FIFO (bytes still waiting for a busy output are discarded). */
  CLEAR_TX: 0x04,
  /** Receive trigger level: bits 6..7 select 1, 4, 8 or 14 bytes. */
  TRIGGER_MASK: 0xc0,
} as const;

/** LCR bits the model acts on (the rest, word length, stop bits and parity, read back unchanged). */
export const Lcr = {
  /** Divisor latch access bit. */
  DLAB: 0x80,
} as const;

/** MCR bits (bits 5..7 are zero on a 16550A). */
export const Mcr = {
  DTR: 0x01,
  RTS: 0x02,
  OUT1: 0x04,
  /** On a PC, OUT2 enables the UART's interrupt onto the ISA bus. */
  OUT2: 0x08,
  /** Local loopback. */
  LOOP: 0x10,
} as const;

/** LSR bits. */
export const Lsr = {
  /** Data ready: the RX FIFO (or holding register) is not empty. */
  DR: 0x01,
  /** Overrun error: a byte arrived with no room for it. Cleared by reading LSR. */
  OE: 0x02,
  PE: 0x04,
  FE: 0x08,
  BI: 0x10,
  /** Transmitter holding register (FIFO mode: transmit FIFO) empty. Clear while bytes wait for a busy output. */
  THRE: 0x20,
  /** Transmitter empty (holding register and shift register): clear while bytes wait for a busy output. */
  TEMT: 0x40,
} as const;

/** MSR bits: deltas in 0..3 (cleared by reading MSR), line states in 4..7. */
export const Msr = {
  DCTS: 0x01,
  DDSR: 0x02,
  /** Trailing edge of RI (RI went from 1 to 0). */
  TERI: 0x04,
  DDCD: 0x08,
  CTS: 0x10,
  DSR: 0x20,
  RI: 0x40,
  DCD: 0x80,
} as const;

/** Depth of the receive FIFO in FIFO mode. */
export const UART_FIFO_SIZE = 16;

/** Trigger levels selected by FCR bits 6..7. */
const TRIGGER_LEVELS = [1, 4, 8, 14] as const;

/** Options of {@link Uart16550}. */
export interface Uart16550Options {
  /**
   * Gate the interrupt output with MCR.OUT2, as a PC's serial port does (default true). A guest
   * that wants interrupts sets OUT2; one that polls never sees its line move. In loopback mode
   * the OUT2 pin is forced inactive, so a PC sees no interrupt then either.
   */
  readonly out2GatesIrq?: boolean;
}

/**
 * A 16550A UART on the port-I/O bus (8 ports; register it at `Ports.COM1`).
 *
 * Accesses wider than one byte act on the addressed register's low byte, as on a PC's 8-bit
 * ISA bus; reads return that byte zero-extended.
 */
export class Uart16550 implements PioDevice, SerialReceiver, StatefulDevice<UartState> {
  /** Number of ports the UART decodes. */
  static readonly PORT_COUNT = 8;

  private ier = 0;
  private lcr = 0;
  private mcr = 0;
  private scr = 0;
  // 115200 / 12 = 9600 baud, the divisor a BIOS leaves behind; the value has no effect here.
  private dll = 12;
  private dlm = 0;
  private fifoEnabled = false;
  private rxTrigger = 1;
  private readonly rx = new Uint8Array(UART_FIFO_SIZE);
  private rxHead = 0;
  private rxCount = 0;
  /** What RBR reads when the FIFO is empty: the last byte read, as a real holding register keeps it. */
  private lastRx = 0;
  private overrun = false;
  private thrInterrupt = false;
  private msrDelta = 0;
  private irqLevel = false;
  /** Set when {@link enqueueInput} refused bytes; the next time room appears, {@link onRxSpace} fires. */
  private rxRefused = false;
  /** Bytes waiting for a busy output: THR (16450 mode) or the transmit FIFO. */
  private readonly tx = new Uint8Array(UART_FIFO_SIZE);
  private txHead = 0;
  private txCount = 0;
  private txLost = 0;
  private readonly out2GatesIrq: boolean;

  /** Called (synchronously) when the receiver has room again after {@link enqueueInput} refused bytes. */
  onRxSpace: (() => void) | undefined;

  constructor(
    private readonly irq: IrqLine,
    private readonly out: SerialOutput,
    options: Uart16550Options = {},
  ) {
    this.out2GatesIrq = options.out2GatesIrq ?? true;
    out.onWritable = () => this.txDrain();
  }

  /** Bytes waiting in THR / the transmit FIFO for the output to take them. */
  get txPending(): number {
    return this.txCount;
  }

  /** Bytes the guest wrote to a full THR / transmit FIFO (lost, as on the real part). */
  get txDropped(): number {
    return this.txLost;
  }

  /** True while the interrupt output is asserted. */
  get irqAsserted(): boolean {
    return this.irqLevel;
  }

  /** Bytes waiting in the receive FIFO (or holding register). */
  get rxPending(): number {
    return this.rxCount;
  }

  read(offset: number, _size: number): number {
    switch (offset) {
      case UartReg.DATA:
        return this.lcr & Lcr.DLAB ? this.dll : this.readRbr();
      case UartReg.IER:
        return this.lcr & Lcr.DLAB ? this.dlm : this.ier;
      case UartReg.IIR_FCR:
        return this.readIir();
      case UartReg.LCR:
        return this.lcr;
      case UartReg.MCR:
        return this.mcr;
      case UartReg.LSR:
        return this.readLsr();
      case UartReg.MSR:
        return this.readMsr();
      case UartReg.SCR:
        return this.scr;
      default:
        // Not decoded: a floating bus.
        return 0xff;
    }
  }

  write(offset: number, _size: number, value: number): void {
    const v = value & 0xff;
    switch (offset) {
      case UartReg.DATA:
        if (this.lcr & Lcr.DLAB) this.dll = v;
        else this.writeThr(v);
        return;
      case UartReg.IER:
        if (this.lcr & Lcr.DLAB) this.dlm = v;
        else this.writeIer(v);
        return;
      case UartReg.IIR_FCR:
        this.writeFcr(v);
        return;
      case UartReg.LCR:
        this.lcr = v;
        return;
      case UartReg.MCR:
        this.writeMcr(v);
        return;
      case UartReg.SCR:
        this.scr = v;
        return;
      default:
        // LSR and MSR are read-only (writes are factory test modes on real parts).
        return;
    }
  }

  /**
   * Offers received bytes (what the user typed). Takes as many as fit in the receive FIFO (16 in
   * FIFO mode, 1 in 16450 mode, none in loopback mode where the serial input is disconnected)
   * and returns that number; the caller keeps the rest and offers them again when
   * {@link onRxSpace} fires ({@link SerialInputQueue} does this). Input offered this way never
   * overruns: the bytes wait, as with hardware flow control.
   */
  enqueueInput(bytes: Uint8Array): number {
    const room = this.mcr & Mcr.LOOP ? 0 : this.rxCapacity() - this.rxCount;
    const n = Math.min(room, bytes.length);
    for (let i = 0; i < n; i++) this.rxPush(bytes[i]!);
    if (n < bytes.length) this.rxRefused = true;
    if (n > 0) this.updateIrq();
    return n;
  }

  /** Flushes the output (call when the vCPU yields or stops, so a partial line is shown). */
  flush(): void {
    this.out.flush?.();
  }

  /** The registers, the receive FIFO and the pending interrupt sources as a plain record (see {@link UartState}). */
  saveState(): UartState {
    const rx: number[] = [];
    for (let i = 0; i < this.rxCount; i++) rx.push(this.rx[(this.rxHead + i) % UART_FIFO_SIZE]!);
    const tx: number[] = [];
    for (let i = 0; i < this.txCount; i++) tx.push(this.tx[(this.txHead + i) % UART_FIFO_SIZE]!);
    return {
      version: 1, ier: this.ier, lcr: this.lcr, mcr: this.mcr, scr: this.scr, dll: this.dll, dlm: this.dlm,
      fifoEnabled: this.fifoEnabled, rxTrigger: this.rxTrigger, rx, lastRx: this.lastRx, overrun: this.overrun,
      thrInterrupt: this.thrInterrupt, msrDelta: this.msrDelta, tx,
    };
  }

  /**
   * Replaces the registers and the receive FIFO with `state` (checked whole before anything
   * changes: a bad record leaves the UART as it was), then drives the interrupt line to what the
   * restored registers say. Input the host was holding back is offered again if there is room.
   */
  restoreState(state: UartState): void {
    const s = uartStateFrom(state);
    this.ier = s.ier;
    this.lcr = s.lcr;
    this.mcr = s.mcr;
    this.scr = s.scr;
    this.dll = s.dll;
    this.dlm = s.dlm;
    this.fifoEnabled = s.fifoEnabled;
    this.rxTrigger = s.rxTrigger;
    this.rx.fill(0);
    this.rx.set(s.rx);
    this.rxHead = 0;
    this.rxCount = s.rx.length;
    this.lastRx = s.lastRx;
    this.overrun = s.overrun;
    this.thrInterrupt = s.thrInterrupt;
    this.msrDelta = s.msrDelta;
    this.tx.fill(0);
    this.tx.set(s.tx ?? []);
    this.txHead = 0;
    this.txCount = s.tx?.length ?? 0;
    this.updateIrq();
    this.notifyRxSpace();
    this.txDrain(); // the output this UART is restored onto may take them now
  }

  private rxCapacity(): number {
    return this.fifoEnabled ? UART_FIFO_SIZE : 1;
  }

  private rxPush(byte: number): void {
    this.rx[(this.rxHead + this.rxCount) % UART_FIFO_SIZE] = byte;
    this.rxCount++;
  }

  private rxClear(): void {
    this.rxHead = 0;
    this.rxCount = 0;
  }

  /** A byte arriving at the receiver from the line (here only from loopback). */
  private receive(byte: number): void {
    if (this.rxCount < this.rxCapacity()) {
      this.rxPush(byte);
    } else {
      // Datasheet: in FIFO mode the FIFO keeps its bytes and the new one is lost; in 16450
      // mode the new byte overwrites the holding register. Either way OE is set.
      this.overrun = true;
      if (!this.fifoEnabled) this.rx[this.rxHead] = byte;
    }
  }

  private readRbr(): number {
    if (this.rxCount > 0) {
      this.lastRx = this.rx[this.rxHead]!;
      this.rxHead = (this.rxHead + 1) % UART_FIFO_SIZE;
      this.rxCount--;
      this.updateIrq();
      this.notifyRxSpace();
    }
    return this.lastRx;
  }

  private writeThr(v: number): void {
    // Writing THR clears a pending THRE interrupt. While the output takes bytes the byte leaves
    // at once, so THR is empty again and the interrupt pending again before the write returns.
    this.thrInterrupt = false;
    if (this.mcr & Mcr.LOOP) {
      this.receive(v);
    } else if (this.txCount === 0 && this.out.full !== true) {
      this.out.write(v);
    } else {
      // The line is busy: the byte waits in THR / the FIFO; with no room it is lost (counted).
      if (this.txCount < this.txCapacity()) this.txPush(v);
      else this.txLost++;
      this.updateIrq();
      return;
    }
    this.thrInterrupt = true;
    this.updateIrq();
  }

  private txCapacity(): number {
    return this.fifoEnabled ? UART_FIFO_SIZE : 1;
  }

  private txPush(byte: number): void {
    this.tx[(this.txHead + this.txCount) % UART_FIFO_SIZE] = byte;
    this.txCount++;
  }

  /** The output has room again: the waiting bytes leave; THR empty raises the THRE interrupt. */
  private txDrain(): void {
    if (this.txCount === 0) return;
    const out = this.out;
    while (this.txCount > 0 && out.full !== true) {
      out.write(this.tx[this.txHead]!);
      this.txHead = (this.txHead + 1) % UART_FIFO_SIZE;
      this.txCount--;
    }
    if (this.txCount === 0) {
      this.txHead = 0;
      this.thrInterrupt = true;
      this.updateIrq();
    }
  }

  private txClear(): void {
    this.txHead = 0;
    this.txCount = 0;
    this.thrInterrupt = true;
  }

  private writeIer(v: number): void {
    const changed = (this.ier ^ v) & 0x0f;
    this.ier = v & 0x0f;
    // Setting ETBEI while THR is empty raises the THRE interrupt even if an IIR read had cleared
    // it before: Linux's and Windows' drivers rely on it (QEMU does the same). Clearing ETBEI
    // forgets it.
    if (changed & Ier.ETBEI) this.thrInterrupt = (this.ier & Ier.ETBEI) !== 0 && this.txCount === 0;
    this.updateIrq();
  }

  private writeFcr(v: number): void {
    const enable = (v & Fcr.ENABLE) !== 0;
    if (enable !== this.fifoEnabled) {
      // Changing the FIFO mode clears the FIFOs (and changes the capacity).
      this.fifoEnabled = enable;
      this.rxClear();
      if (this.txCount > 0) this.txClear();
    }
    if (enable) {
      if (v & Fcr.CLEAR_RX) this.rxClear();
      if (v & Fcr.CLEAR_TX && this.txCount > 0) this.txClear();
      this.rxTrigger = TRIGGER_LEVELS[v >>> 6]!;
    }
    this.updateIrq();
    this.notifyRxSpace();
  }

  private writeMcr(v: number): void {
    const before = this.lines();
    const wasLoop = (this.mcr & Mcr.LOOP) !== 0;
    this.mcr = v & 0x1f;
    const after = this.lines();
    const changed = before ^ after;
    if (changed & Msr.CTS) this.msrDelta |= Msr.DCTS;
    if (changed & Msr.DSR) this.msrDelta |= Msr.DDSR;
    if (changed & Msr.DCD) this.msrDelta |= Msr.DDCD;
    if (before & Msr.RI && !(after & Msr.RI)) this.msrDelta |= Msr.TERI;
    this.updateIrq();
    // Leaving loopback reconnects the serial input: input held back may come in now.
    if (wasLoop && !(this.mcr & Mcr.LOOP)) this.notifyRxSpace();
  }

  private readIir(): number {
    const id = this.interruptId();
    // Reading IIR acknowledges the THRE interrupt, but only when it is the one reported.
    if (id === Iir.THR_EMPTY) {
      this.thrInterrupt = false;
      this.updateIrq();
    }
    return id | (this.fifoEnabled ? Iir.FIFO_ENABLED : 0);
  }

  private readLsr(): number {
    const v = (this.rxCount > 0 ? Lsr.DR : 0) | (this.overrun ? Lsr.OE : 0) | (this.txCount === 0 ? Lsr.THRE | Lsr.TEMT : 0);
    if (this.overrun) {
      this.overrun = false;
      this.updateIrq();
    }
    return v;
  }

  private readMsr(): number {
    const v = this.lines() | this.msrDelta;
    if (this.msrDelta !== 0) {
      this.msrDelta = 0;
      this.updateIrq();
    }
    return v;
  }

  /** The modem input lines (MSR bits 4..7). */
  private lines(): number {
    const m = this.mcr;
    if (!(m & Mcr.LOOP)) return Msr.CTS | Msr.DSR | Msr.DCD; // a terminal is connected and ready
    // Loopback wires the outputs to the inputs: DTR→DSR, RTS→CTS, OUT1→RI, OUT2→DCD.
    return (
      (m & Mcr.DTR ? Msr.DSR : 0) |
      (m & Mcr.RTS ? Msr.CTS : 0) |
      (m & Mcr.OUT1 ? Msr.RI : 0) |
      (m & Mcr.OUT2 ? Msr.DCD : 0)
    );
  }

  /** The highest-priority enabled pending source, as IIR bits 0..3. */
  private interruptId(): number {
    const ier = this.ier;
    if (ier & Ier.ELSI && this.overrun) return Iir.LINE_STATUS;
    if (ier & Ier.ERBFI && this.rxCount > 0) {
      // Time is not modelled, so bytes below the trigger level report the character timeout
      // at once, as if four character times had passed.
      return this.fifoEnabled && this.rxCount < this.rxTrigger ? Iir.RX_TIMEOUT : Iir.RX_DATA;
    }
    if (ier & Ier.ETBEI && this.thrInterrupt) return Iir.THR_EMPTY;
    if (ier & Ier.EDSSI && this.msrDelta !== 0) return Iir.MODEM_STATUS;
    return Iir.NONE;
  }

  /** Drives the interrupt line; calls the {@link IrqLine} only when the level changes. */
  private updateIrq(): void {
    const gate = !this.out2GatesIrq || (this.mcr & (Mcr.OUT2 | Mcr.LOOP)) === Mcr.OUT2;
    const level = gate && this.interruptId() !== Iir.NONE;
    if (level === this.irqLevel) return;
    this.irqLevel = level;
    if (level) this.irq.raise();
    else this.irq.lower();
  }

  private notifyRxSpace(): void {
    if (!this.rxRefused || this.mcr & Mcr.LOOP || this.rxCount >= this.rxCapacity()) return;
    this.rxRefused = false;
    this.onRxSpace?.();
  }
}
