/**
 * `SCHED_OP`: the PV idle loop. `BLOCK` first lets the PV devices finish what they can (e.g. the
 * block ring drains its ioeventfd), then, only if no event is pending and nothing was completed,
 * puts the vCPU to sleep with {@link MachineContext.block} until a wake condition holds (the
 * event-channel facet adds "an upcall is pending", {@link SchedOps.addWakeCondition}): the
 * hypercall returns only then (or when the machine stops). Without wake conditions the vCPU
 * sleeps until the interrupt facet has an interrupt pending. `YIELD` returns at once.
 * @module
 */
import { HypercallError, SchedOp, type Counters, type Disposable, type HypercallArgs } from '@hyvisor/core';

/** Work to do before the vCPU sleeps; returns how many requests it completed. */
export type BeforeBlockHook = () => number;

/** The SCHED_OP handler of one machine. */
export class SchedOps {
  private readonly hooks: BeforeBlockHook[] = [];
  private readonly wakeConditions: (() => boolean)[] = [];
  /** True if any wake condition holds. Created once: BLOCK hands this very function to the run loop, allocation-free. */
  private readonly anyWake = (): boolean => {
    const c = this.wakeConditions;
    for (let i = 0; i < c.length; i++) if (c[i]!()) return true;
    return false;
  };
  private readonly yieldSlot: number;
  private readonly blockSlot: number;
  private readonly sleepSlot: number;

  /** @param block puts the vCPU to sleep until `wakeWhen()` ({@link MachineContext.block}). */
  constructor(private readonly block: (wakeWhen?: () => boolean) => void, private readonly counters: Counters) {
    this.yieldSlot = counters.define('pv.sched.yield', 'SCHED_OP(YIELD) calls');
    this.blockSlot = counters.define('pv.sched.block', 'SCHED_OP(BLOCK) calls');
    this.sleepSlot = counters.define('pv.sched.sleeps', 'SCHED_OP(BLOCK) calls that put the vCPU to sleep (nothing was pending)');
  }

  /** Runs `hook` at every BLOCK, before deciding to sleep. */
  addBeforeBlock(hook: BeforeBlockHook): Disposable {
    this.hooks.push(hook);
    return { dispose: () => { const i = this.hooks.indexOf(hook); if (i >= 0) this.hooks.splice(i, 1); } };
  }

  /**
   * Adds a condition that keeps BLOCK from sleeping and ends its sleep (e.g. "an upcall is
   * pending"). Called on the block path: no allocation in it. Dispose to remove it.
   */
  addWakeCondition(pending: () => boolean): Disposable {
    this.wakeConditions.push(pending);
    return { dispose: () => { const i = this.wakeConditions.indexOf(pending); if (i >= 0) this.wakeConditions.splice(i, 1); } };
  }

  /** The hypercall handler: (cmd) → 0, or -EINVAL for an unknown command. */
  readonly handle = (args: HypercallArgs): number => {
    const v = this.counters.values;
    switch (args.a0) {
      case SchedOp.YIELD:
        v[this.yieldSlot]!++;
        return 0;
      case SchedOp.BLOCK: {
        v[this.blockSlot]!++;
        let completed = 0;
        const hooks = this.hooks;
        for (let i = 0; i < hooks.length; i++) completed += hooks[i]!();
        const pending = this.wakeConditions.length > 0 ? this.anyWake : undefined;
        if (completed === 0 && !(pending !== undefined && pending())) {
          this.counters.values[this.sleepSlot]!++;
          this.block(pending);
        }
        return 0;
      }
      default:
        return HypercallError.EINVAL;
    }
  };
}
