/**
 * A third-party interrupt facet: the built-in emulated PIC/APIC (`EmulatedInterrupts`, a public
 * export of `@hyvisor/strategy-hvm`) with a count of every raise of every ISA line, so a test or
 * a dashboard can see which device interrupts how often. It wraps the built-in facet and forwards
 * everything else to it, so composition rules and the run loop see the same behaviour.
 *
 * A config replaces the interrupt facet of a strategy with it:
 * `strategy: { base: hvm-userspace, interrupt: { module: …, export: createCountingInterrupts } }`.
 * @module
 */
import type { BackendInfo, FacetSet, InterruptFacet, IrqLine, MachineContext, Vcpu, Vm, Disposable } from '@hyvisor/core';
import { EmulatedInterrupts } from '@hyvisor/strategy-hvm';

/** ISA interrupt lines counted (0..23, the IOAPIC's range). */
export const COUNTED_LINES = 24;

/** An interrupt facet that counts line raises and otherwise is the facet it wraps. */
export class CountingInterrupts implements InterruptFacet {
  readonly facet = 'interrupt';
  readonly name: string;
  readonly description: string;
  readonly requires: InterruptFacet['requires'];
  readonly provides: InterruptFacet['provides'];
  readonly needs: InterruptFacet['needs'];
  readonly excludes: InterruptFacet['excludes'];
  readonly featureBits: number;
  /** Raises per ISA line (a level already high raised again counts too: what the device asked). */
  readonly raises = new Float64Array(COUNTED_LINES);
  private readonly lines = new Map<number, IrqLine>();

  constructor(private readonly inner: InterruptFacet) {
    this.name = `counting-${inner.name}`;
    this.description = `${inner.description}; counts raises per line`;
    this.requires = inner.requires;
    // The services too: wrapping event channels still provides EVENT_CHANNELS to pvclock and pv-blk.
    this.provides = inner.provides ?? [];
    this.needs = inner.needs ?? [];
    this.excludes = inner.excludes ?? [];
    this.featureBits = inner.featureBits;
    // Forward the hot-path hooks only if the inner facet has them (absent means "nothing to do").
    if (inner.beforeRun) this.beforeRun = (vcpu: Vcpu) => inner.beforeRun!(vcpu);
    if (inner.canWake) this.canWake = () => inner.canWake!();
    if (inner.interruptPending) this.interruptPending = () => inner.interruptPending!();
  }

  beforeRun?: (vcpu: Vcpu) => void;
  canWake?: () => boolean;
  interruptPending?: () => boolean;

  check(strategy: FacetSet): string | undefined {
    return this.inner.check?.(strategy);
  }

  prepareVm(vm: Vm): void {
    this.inner.prepareVm?.(vm);
  }

  attach(ctx: MachineContext): Disposable | void {
    return this.inner.attach?.(ctx);
  }

  /** The inner facet's line for `irq`, counted; one wrapper per line, made on first use. */
  irqLine(irq: number): IrqLine {
    let line = this.lines.get(irq);
    if (line === undefined) {
      const innerLine = this.inner.irqLine(irq);
      const raises = this.raises;
      const slot = irq >= 0 && irq < COUNTED_LINES ? irq : -1;
      line = {
        raise() {
          if (slot >= 0) raises[slot]!++;
          innerLine.raise();
        },
        lower() {
          innerLine.lower();
        },
      };
      this.lines.set(irq, line);
    }
    return line;
  }
}

/** The factory a config names: the emulated PIC/APIC, counted. */
export function createCountingInterrupts(_backend: BackendInfo): CountingInterrupts {
  return new CountingInterrupts(new EmulatedInterrupts());
}
