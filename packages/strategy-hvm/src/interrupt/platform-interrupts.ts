/**
 * How the HVM machine's two interrupt controllers share the vCPU's one INTR input.
 * @module
 */
import type { InterruptSource } from './interrupt-source.js';
import type { Lapic } from './lapic.js';
import type { DualPic } from './pic8259.js';

/**
 * The CPU-facing interrupt logic of a one-vCPU PC: a {@link DualPic} and a {@link Lapic}
 * combined into the single {@link InterruptSource} the run loop talks to.
 *
 * The rule, kept simple:
 * 1. A vector the local APIC can deliver (IRR above PPR) goes first.
 * 2. Otherwise the PIC's INT output reaches the CPU when the APIC lets it through: the APIC is
 *    hardware-disabled, or LVT LINT0 is unmasked in ExtINT mode (virtual-wire mode; the APIC's
 *    reset state in this model, as in KVM). The vector then comes from the PIC's INTA cycle and
 *    bypasses the APIC's IRR, ISR and TPR; the guest sends its EOI to the PIC.
 *
 * (KVM gives the ExtINT path precedence instead; with a guest that uses one controller at a time,
 * as the testbed and Linux do after boot, the two orders behave the same.)
 *
 * The router takes over the `onInterruptChange` of the PIC and the APIC and the APIC's
 * `onExtIntChange`; the VMM listens to the router's {@link onInterruptChange} instead (to kick
 * the vCPU when INTR rises) and asks {@link hasPendingInterrupt} / {@link acknowledge} when the
 * vCPU can take an interrupt.
 *
 * @example
 * ```ts
 * const pic = new DualPic();
 * const lapic = new Lapic(timers);
 * const irqs = new PlatformInterrupts(pic, lapic);
 * pio.register(Ports.PIC_MASTER, Pic8259.PORT_COUNT, pic.master);
 * pio.register(Ports.PIC_SLAVE, Pic8259.PORT_COUNT, pic.slave);
 * mmio.register(PlatformMmio.LAPIC, PlatformMmio.LAPIC_SIZE, lapic);
 * const pit = new Pit8254(timers, pic.irqLine(Irq.PIT));
 * irqs.onInterruptChange = (up) => { if (up) vcpu.kick(); };
 * // in the run loop, before entering the vCPU:
 * if (vcpu.canInjectInterrupt() && irqs.hasPendingInterrupt()) vcpu.injectInterrupt(irqs.acknowledge());
 * else if (irqs.hasPendingInterrupt()) vcpu.requestInterruptWindow();
 * ```
 * (The bus and vCPU calls are illustrative; their real names live in core and the backends.)
 */
export class PlatformInterrupts implements InterruptSource {
  /** Vectors acknowledged from the local APIC. */
  fromApic = 0;
  /** Vectors acknowledged from the PIC through LINT0 (spurious IRQ7/15 included). */
  fromPic = 0;
  private level = false;

  onInterruptChange: ((asserted: boolean) => void) | undefined;

  constructor(
    readonly pic: DualPic,
    readonly lapic: Lapic,
  ) {
    const update = () => this.update();
    pic.onInterruptChange = update;
    lapic.onInterruptChange = update;
    lapic.onExtIntChange = update;
    this.level = this.hasPendingInterrupt();
  }

  /** True when the PIC's output currently reaches the CPU (see the class comment, rule 2). */
  picConnected(): boolean {
    return this.lapic.passesExtInt();
  }

  hasPendingInterrupt(): boolean {
    return this.lapic.hasPendingInterrupt() || (this.picConnected() && this.pic.hasPendingInterrupt());
  }

  /**
   * The INTA cycle: the APIC's vector if it has one to deliver, else the PIC's (when connected).
   * With nothing pending it asks the PIC if connected (spurious IRQ7) and the APIC otherwise
   * (its spurious vector), so a late call still gets the answer the hardware would give.
   */
  acknowledge(): number {
    if (this.lapic.hasPendingInterrupt()) {
      this.fromApic++;
      return this.lapic.acknowledge();
    }
    if (this.picConnected()) {
      this.fromPic++;
      return this.pic.acknowledge();
    }
    return this.lapic.acknowledge();
  }

  private update(): void {
    const level = this.hasPendingInterrupt();
    if (level === this.level) return;
    this.level = level;
    this.onInterruptChange?.(level);
  }
}
