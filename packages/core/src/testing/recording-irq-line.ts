/**
 * An {@link IrqLine} that remembers what a device did with it, for register-level device tests.
 * @module
 */
import type { IrqLine } from '../bus/device.js';

/** Records every raise and lower, in order, and the current level. */
export class RecordingIrqLine implements IrqLine {
  /** The line's level now (raised = true). */
  level = false;
  /** Every call, in order. */
  readonly edges: ('raise' | 'lower')[] = [];

  raise(): void {
    this.level = true;
    this.edges.push('raise');
  }

  lower(): void {
    this.level = false;
    this.edges.push('lower');
  }

  /** How many times the device raised the line (a raise while already raised counts too). */
  get rises(): number {
    let n = 0;
    for (const e of this.edges) if (e === 'raise') n++;
    return n;
  }
}
