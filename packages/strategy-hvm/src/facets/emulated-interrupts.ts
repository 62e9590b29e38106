/**
 * Interrupts emulated in the VMM: two 8259 PICs and a local APIC, with vectors injected through
 * the backend's primitive when the guest can take them. Portable (any backend with
 * `interrupt-injection`, the emulator included); every PIC/APIC access and every EOI is an exit.
 * @module
 */
import {
  DisposableStore, FacetBase, PlatformMmio, Ports, defineFacet,
  type CpuidEntry, type Disposable, type InterruptFacet, type IrqLine, type MachineContext, type TelemetryProbes, type Vcpu,
} from '@hyvisor/core';
import { DualPic, Pic8259 } from '../interrupt/pic8259.js';
import { Lapic } from '../interrupt/lapic.js';
import { PlatformInterrupts } from '../interrupt/platform-interrupts.js';

/** CPUID leaf 1 EDX: the CPU has an on-chip APIC. */
const CPUID_1_EDX_APIC = 1 << 9;

/** Interrupt facet: userspace PICs + local APIC. */
export class EmulatedInterrupts extends FacetBase<'interrupt'> implements InterruptFacet {
  static readonly info = defineFacet({
    facet: 'interrupt',
    name: 'emulated-pic-apic',
    description: 'dual 8259 PIC and xAPIC emulated in the VMM; vectors injected at interrupt windows, every EOI is an exit',
    requires: ['interrupt-injection'],
  });

  readonly featureBits = 0;
  /** Created up front so devices can be wired to its lines before the facet is attached. */
  readonly pic = new DualPic();
  private router: PlatformInterrupts | undefined;
  private lapic: Lapic | undefined;
  /** Mirrors the router's INTR output, so the hot path tests a field instead of asking the chips. */
  private asserted = false;
  private windowRequested = false;
  private probes: TelemetryProbes | undefined;

  attach(ctx: MachineContext): Disposable {
    const store = new DisposableStore();
    const lapic = store.add(new Lapic(ctx.clock));
    const router = new PlatformInterrupts(this.pic, lapic);
    ctx.pio.register('pic-master', Ports.PIC_MASTER, Pic8259.PORT_COUNT, this.pic.master);
    ctx.pio.register('pic-slave', Ports.PIC_SLAVE, Pic8259.PORT_COUNT, this.pic.slave);
    ctx.pio.register('pic-elcr', DualPic.ELCR_PORT, DualPic.ELCR_PORT_COUNT, this.pic.elcr);
    ctx.mmio.register('lapic', PlatformMmio.LAPIC, PlatformMmio.LAPIC_SIZE, lapic);
    this.probes = ctx.telemetry.probes;
    router.onInterruptChange = (up) => {
      this.asserted = up;
      if (up) this.probes!.interruptRaised();
    };
    this.asserted = router.hasPendingInterrupt();
    this.router = router;
    this.lapic = lapic;
    return store;
  }

  /**
   * The guest's CPU gets a local APIC (CPUID leaf 1 EDX bit 9): without it Linux prints "No local
   * APIC present" and never programs this one. At its reset base 0xFEE00000 (IA32_APIC_BASE).
   */
  adjustCpuid(leaves: CpuidEntry[]): void {
    for (const l of leaves) if (l.function === 1) l.edx = (l.edx | CPUID_1_EDX_APIC) >>> 0;
  }

  /** The PIC input for ISA IRQ `irq` (the APIC sees them through LINT0 ExtINT, as on a PC). */
  irqLine(irq: number): IrqLine {
    return this.pic.irqLine(irq);
  }

  /**
   * Hot path, before each entry: acknowledge (the INTA cycle) only when the guest can take the
   * vector now, otherwise ask for an interrupt-window exit; cancel the request once nothing is
   * pending so an open window does not exit for nothing.
   */
  beforeRun(vcpu: Vcpu): void {
    if (this.asserted) {
      if (vcpu.interruptWindowOpen) {
        if (vcpu.queueInterrupt(this.router!.acknowledge())) this.probes!.interruptInjected();
        this.setWindow(vcpu, false);
      } else {
        this.setWindow(vcpu, true);
      }
    } else if (this.windowRequested) {
      this.setWindow(vcpu, false);
    }
  }

  interruptPending(): boolean {
    return this.asserted;
  }

  /** A PCI device's MSI/MSI-X message goes to the local APIC (see {@link Lapic.acceptMessage}). */
  signalMsi(address: number, data: number): boolean {
    return this.lapic?.acceptMessage(address, data) ?? false;
  }

  /** A halted guest with IF=1 can be woken by a device or timer interrupt. */
  canWake(): boolean {
    return true;
  }

  private setWindow(vcpu: Vcpu, on: boolean): void {
    if (this.windowRequested === on) return;
    this.windowRequested = on;
    vcpu.setInterruptWindowRequest(on);
  }
}
