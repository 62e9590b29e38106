/**
 * Port 0x80, the POST-code port: firmware writes its progress codes there, and Linux writes to
 * it as an I/O delay after slow port accesses (`io_delay=0x80`, the default), thousands of times
 * per boot. A sink that remembers the last code and counts writes; it allocates nothing.
 * @module
 */
import type { PioDevice } from '@hyvisor/core';

/** The port on a PC. */
export const POST_CODE_PORT = 0x80;

/** The POST-code sink. Reads return 0xff, as with nothing driving the bus. */
export class PostCode implements PioDevice {
  /** Last value written (the low byte); -1 before the first write. */
  last = -1;
  /** Writes seen. */
  writes = 0;

  /** `onCode`, if given, sees every code written (a debugging aid; keep it cheap). */
  constructor(private readonly onCode?: (code: number) => void) {}

  read(_offset: number, _size: number): number {
    return 0xff;
  }

  write(_offset: number, _size: number, value: number): void {
    this.last = value & 0xff;
    this.writes++;
    this.onCode?.(this.last);
  }
}
