/**
 * The PC's system control port B (0x61), as the AT defined it and chipsets keep it: the gate of
 * PIT channel 2 and that channel's output, the speaker enable, the parity/channel-check enables,
 * and the DRAM refresh toggle that old code times short delays with. Linux calibrates the TSC
 * with it (gate channel 2, poll bit 5 — tens of thousands of reads per boot).
 *
 * It owns no timer: channel 2 comes in through {@link TimerChannel2}, which the 8254 model
 * implements, so the port works with any PIT (or none: the output then reads 0).
 * @module
 */
import type { Clock, PioDevice } from '@hyvisor/core';

/** The port on a PC. */
export const SYSTEM_CONTROL_PORT = 0x61;

/** Port B bits. */
export const PortB = {
  /** R/W: PIT channel 2 gate. */
  GATE2: 0x01,
  /** R/W: speaker data enable (stored only). */
  SPEAKER: 0x02,
  /** R/W: parity and channel check enables (stored only). */
  CHECKS: 0x0c,
  /** Read: toggles with each DRAM refresh request (every 15.085 µs). */
  REFRESH: 0x10,
  /** Read: PIT channel 2 output. */
  OUT2: 0x20,
  /** Read: I/O channel check (NMI source); never set here. */
  IOCHK: 0x40,
  /** Read: parity error / SERR (NMI source); never set here. */
  SERR: 0x80,
} as const;

/** PIT channel 2 as port B sees it. */
export interface TimerChannel2 {
  /** Drives the channel's gate. */
  setGate(level: boolean): void;
  /** The channel's output now. */
  output(): boolean;
}

/** DRAM refresh period the refresh bit toggles at, in ns. */
const REFRESH_NS = 15_085;

/** Port B on the port-I/O bus (1 port at {@link SYSTEM_CONTROL_PORT}). At reset every writable bit is 0. */
export class SystemControlPort implements PioDevice {
  private bits = 0;

  constructor(private readonly clock: Clock, private readonly channel2?: TimerChannel2) {}

  read(_offset: number, _size: number): number {
    const now = this.clock.now();
    return this.bits |
      (Math.floor(now / REFRESH_NS) & 1 ? PortB.REFRESH : 0) |
      (this.channel2?.output() ? PortB.OUT2 : 0);
  }

  write(_offset: number, _size: number, value: number): void {
    this.bits = value & (PortB.GATE2 | PortB.SPEAKER | PortB.CHECKS);
    this.channel2?.setGate((value & PortB.GATE2) !== 0);
  }
}
