/**
 * The exit port: a guest ends the run by writing its exit code, the same way it does under QEMU
 * with `-device isa-debug-exit,iobase=0xf4,iosize=0x04`, so one guest binary runs on both.
 * @module
 */
import { checkStateRecord, type DeviceState, type ExitTrigger, type PioDevice, type StatefulDevice } from '@hyvisor/core';

/** The debug-exit port's state record (version 1): it has no state beyond being there. */
export interface DebugExitState extends DeviceState {
  readonly version: 1;
}

/**
 * A port device compatible with QEMU's `isa-debug-exit` (4 ports at `Ports.DEBUG_EXIT`, 0xf4).
 *
 * A write of value `V` of any size at any of its ports calls `requestExit(V)`, `V` masked to the
 * access size. Hyvisor then exits with `V` itself; QEMU exits with `(V << 1) | 1`, so a test
 * runner that compares the two must translate. Reads return 0, as QEMU's `debug_exit_read`
 * does (a guest can tell the device is there only by that).
 */
export class DebugExit implements PioDevice, StatefulDevice<DebugExitState> {
  /** Number of ports the device decodes (QEMU's `iosize`). */
  static readonly PORT_COUNT = 4;

  constructor(private readonly exit: ExitTrigger) {}

  read(_offset: number, _size: number): number {
    return 0;
  }

  write(_offset: number, size: number, value: number): void {
    const code = size >= 4 ? value >>> 0 : value & ((1 << (size * 8)) - 1);
    this.exit.requestExit(code);
  }

  saveState(): DebugExitState {
    return { version: 1 };
  }

  restoreState(state: DebugExitState): void {
    checkStateRecord('debug-exit', state, 1);
  }
}
