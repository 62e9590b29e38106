/**
 * The 16550's state as a plain record (rust-vmm vm-superio's `SerialState` idea): what a snapshot
 * saves and a restore rebuilds the UART from, checked field by field.
 * @module
 */
import { DeviceStateError, checkStateRecord, stateBool, stateInt, type DeviceState } from '@hyvisor/core';

/** A {@link Uart16550}'s state, version 1. The interrupt level is not stored: it follows from the registers. */
export interface UartState extends DeviceState {
  readonly version: 1;
  /** Interrupt enable (low 4 bits). */
  readonly ier: number;
  readonly lcr: number;
  /** Modem control (low 5 bits). */
  readonly mcr: number;
  readonly scr: number;
  /** Divisor latch, low and high byte. */
  readonly dll: number;
  readonly dlm: number;
  /** FCR bit 0: FIFO mode. */
  readonly fifoEnabled: boolean;
  /** Receive trigger level: 1, 4, 8 or 14. */
  readonly rxTrigger: number;
  /** Received bytes not read yet, oldest first (at most 16 in FIFO mode, 1 in 16450 mode). */
  readonly rx: readonly number[];
  /** What RBR reads when the FIFO is empty. */
  readonly lastRx: number;
  /** LSR.OE pending. */
  readonly overrun: boolean;
  /** A THR-empty interrupt is pending. */
  readonly thrInterrupt: boolean;
  /** MSR delta bits (0..3) not read yet. */
  readonly msrDelta: number;
  /**
   * Bytes waiting in THR / the transmit FIFO for a busy output, oldest first (at most 16 in FIFO
   * mode, 1 in 16450 mode). Absent in records written before the transmitter could be busy: none.
   */
  readonly tx?: readonly number[];
}

const NAME = 'uart16550';

/** Checks `state` as a {@link UartState}; throws {@link DeviceStateError} naming the bad field. */
export function uartStateFrom(state: unknown): UartState {
  const r = checkStateRecord(NAME, state, 1);
  const byte = (k: string) => stateInt(NAME, r, k, 0, 0xff);
  const fifoEnabled = stateBool(NAME, r, 'fifoEnabled');
  const rxTrigger = stateInt(NAME, r, 'rxTrigger', 1, 14);
  if (![1, 4, 8, 14].includes(rxTrigger)) throw new DeviceStateError(NAME, `rxTrigger: expected 1, 4, 8 or 14, got ${rxTrigger}`);
  const rx = r.rx;
  const capacity = fifoEnabled ? 16 : 1;
  if (!Array.isArray(rx) || rx.length > capacity || !rx.every((b) => Number.isInteger(b) && b >= 0 && b <= 0xff)) {
    throw new DeviceStateError(NAME, `rx: expected a list of at most ${capacity} bytes, got ${JSON.stringify(rx)}`);
  }
  const tx = r.tx ?? [];
  if (!Array.isArray(tx) || tx.length > capacity || !tx.every((b) => Number.isInteger(b) && b >= 0 && b <= 0xff)) {
    throw new DeviceStateError(NAME, `tx: expected a list of at most ${capacity} bytes, got ${JSON.stringify(tx)}`);
  }
  return {
    version: 1,
    tx: [...(tx as number[])],
    ier: stateInt(NAME, r, 'ier', 0, 0x0f),
    lcr: byte('lcr'),
    mcr: stateInt(NAME, r, 'mcr', 0, 0x1f),
    scr: byte('scr'),
    dll: byte('dll'),
    dlm: byte('dlm'),
    fifoEnabled,
    rxTrigger,
    rx: [...(rx as number[])],
    lastRx: byte('lastRx'),
    overrun: stateBool(NAME, r, 'overrun'),
    thrInterrupt: stateBool(NAME, r, 'thrInterrupt'),
    msrDelta: stateInt(NAME, r, 'msrDelta', 0, 0x0f),
  };
}
