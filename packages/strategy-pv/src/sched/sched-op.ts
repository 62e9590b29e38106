/**
 * `SCHED_OP`: the PV idle loop. `BLOCK` first lets the PV devices finish what they can (e.g. the
 * block ring drains its ioeventfd), then puts the vCPU to sleep with {@link MachineContext.block}
 * only if no event is pending and nothing was completed; `YIELD` returns at once.
 * @module
 */
import { HypercallError, SchedOp, type Counters, type Disposable, type HypercallArgs } from '@hyvisor/core';

/** Work to do before the vCPU sleeps; returns how many requests it completed. */
export type BeforeBlockHook = () => number;

/** The SCHED_OP handler of one machine. */
export class SchedOps {
  /** True if an event is pending for the guest (set by the event-channel facet). */
  eventPending: () => boolean = () => false;
  private readonly hooks: BeforeBlockHook[] = [];
  private readonly yieldSlot: number;
  private readonly blockSlot: number;
  private readonly sleepSlot: number;

  constructor(private readonly block: () => void, private readonly counters: Counters) {
    this.yieldSlot = counters.define('pv.sched.yield', 'SCHED_OP(YIELD) calls');
    this.blockSlot = counters.define('pv.sched.block', 'SCHED_OP(BLOCK) calls');
    this.sleepSlot = counters.define('pv.sched.sleeps', 'SCHED_OP(BLOCK) calls that put the vCPU to sleep (nothing was pending)');
  }

  /** Runs `hook` at every BLOCK, before deciding to sleep. */
  addBeforeBlock(hook: BeforeBlockHook): Disposable {
    this.hooks.push(hook);
    return { dispose: () => { const i = this.hooks.indexOf(hook); if (i >= 0) this.hooks.splice(i, 1); } };
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
        if (completed === 0 && !this.eventPending()) {
          this.counters.values[this.sleepSlot]!++;
          this.block();
        }
        return 0;
      }
      default:
        return HypercallError.EINVAL;
    }
  };
}
