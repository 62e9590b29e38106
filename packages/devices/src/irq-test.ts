/**
 * The interrupt test port: the VMM half of the testbed's `irq` workload. The guest writes to ask
 * for an interrupt, takes it, reads to acknowledge and sends EOI to its interrupt controller, so
 * one round trip costs what an interrupt costs under the strategy being measured.
 * @module
 */
import { checkStateRecord, stateBool, stateInt, type DeviceState, type IrqLine, type PioDevice, type StatefulDevice } from '@hyvisor/core';

/** The interrupt test device's state record (version 1). */
export interface IrqTestState extends DeviceState {
  readonly version: 1;
  readonly raised: number;
  readonly acknowledged: number;
  /** The line's level. */
  readonly asserted: boolean;
}

/**
 * A level-triggered interrupt source on 2 ports at `Ports.IRQ_TEST` (its line is `Irq.IRQ_TEST`).
 *
 * - A write of any value and size to offset 0 asserts the line and adds one to {@link raised}.
 * - A read of offset 0 acknowledges: it deasserts the line and returns {@link raised} (low 32
 *   bits, truncated to the access size).
 * - Offset 1 reads 0 and ignores writes (reserved).
 *
 * The line is a level: a second request before the acknowledgement leaves it asserted and makes
 * no new edge, so an edge-triggered controller sees one interrupt for both. The {@link IrqLine}
 * is called only when the level changes.
 */
export class IrqTestDevice implements PioDevice, StatefulDevice<IrqTestState> {
  /** Number of ports the device decodes. */
  static readonly PORT_COUNT = 2;

  /** Requests (writes to offset 0) since creation. */
  raised = 0;
  /** Acknowledgements (reads of offset 0) since creation. */
  acknowledged = 0;
  private level = false;

  constructor(private readonly irq: IrqLine) {}

  /** True while the interrupt line is asserted. */
  get asserted(): boolean {
    return this.level;
  }

  read(offset: number, size: number): number {
    if (offset !== 0) return 0;
    this.acknowledged++;
    if (this.level) {
      this.level = false;
      this.irq.lower();
    }
    const n = this.raised >>> 0;
    return size >= 4 ? n : n & ((1 << (size * 8)) - 1);
  }

  write(offset: number, _size: number, _value: number): void {
    if (offset !== 0) return;
    this.raised++;
    if (!this.level) {
      this.level = true;
      this.irq.raise();
    }
  }

  saveState(): IrqTestState {
    return { version: 1, raised: this.raised, acknowledged: this.acknowledged, asserted: this.level };
  }

  /**
   * Takes the counters and the level from `state`; the line is driven to the restored level (raised
   * if it was asserted and is not now, lowered in the opposite case).
   */
  restoreState(state: IrqTestState): void {
    const r = checkStateRecord('irq-test', state, 1);
    const raised = stateInt('irq-test', r, 'raised', 0, Number.MAX_SAFE_INTEGER);
    const acknowledged = stateInt('irq-test', r, 'acknowledged', 0, Number.MAX_SAFE_INTEGER);
    const asserted = stateBool('irq-test', r, 'asserted');
    this.raised = raised;
    this.acknowledged = acknowledged;
    if (asserted !== this.level) {
      this.level = asserted;
      if (asserted) this.irq.raise();
      else this.irq.lower();
    }
  }
}
