/**
 * The backend's own interrupt controllers and PIT (KVM's in-kernel irqchip): the faithful
 * equivalent of Xen's in-hypervisor vLAPIC/vPIC. Interrupt controller and PIT accesses, EOIs and
 * HLT are handled inside the host kernel, so they cost no userspace exit.
 * @module
 */
import { CompositionError, type InKernelIrqchip, type InterruptFacet, type IrqLine, type TimerFacet, type Vm } from '@hyvisor/core';

/** Interrupt facet over the backend's in-kernel PIC + IOAPIC + local APIC. */
export class KvmIrqchipInterrupts implements InterruptFacet {
  readonly facet = 'interrupt';
  readonly name = 'kvm-irqchip';
  readonly description = "the backend's in-kernel 8259 PICs, IOAPIC and local APIC; device lines are raised with one system call, EOI and HLT never exit";
  readonly requires = ['in-kernel-irqchip'] as const;
  readonly featureBits = 0;
  private chip: InKernelIrqchip | undefined;
  private readonly lines = new Map<number, IrqLine>();

  /** @param withPit also create the in-kernel PIT (the `kvm-pit` timer facet relies on it). */
  constructor(private readonly withPit: boolean) {}

  prepareVm(vm: Vm): void {
    // assertComposable has checked 'in-kernel-irqchip', so vm.irqchip is present; a VM that
    // disagrees with its capability list is a backend bug worth a clear message.
    const chip = vm.irqchip;
    if (chip === undefined) throw new CompositionError(`interrupt facet '${this.name}': VM ${vm.name} has no in-kernel irqchip (backend ${vm.info.name} lacks capability in-kernel-irqchip)`);
    chip.create({ pit: this.withPit });
    this.chip = chip;
  }

  irqLine(irq: number): IrqLine {
    let line = this.lines.get(irq);
    if (!line) {
      const chip = (): InKernelIrqchip => {
        if (!this.chip) throw new Error(`irq ${irq}: the in-kernel irqchip is not created yet`);
        return this.chip;
      };
      line = { raise: () => chip().setLine(irq, true), lower: () => chip().setLine(irq, false) };
      this.lines.set(irq, line);
    }
    return line;
  }
}

/** Timer facet: the backend's in-kernel 8254 PIT (ports 0x40-0x43 and 0x61), ticking in the host kernel. */
export class KvmPitTimer implements TimerFacet {
  readonly facet = 'timer';
  readonly name = 'kvm-pit';
  readonly description = "the backend's in-kernel 8254 PIT; lost ticks are re-injected by the host kernel";
  readonly requires = ['in-kernel-irqchip'] as const;
  readonly featureBits = 0;

  check(strategy: { interrupt: { name: string } }): string | undefined {
    return strategy.interrupt.name === 'kvm-irqchip'
      ? undefined
      : `the in-kernel PIT raises IRQ 0 on the in-kernel PIC, so it needs the interrupt facet 'kvm-irqchip', not '${strategy.interrupt.name}'`;
  }
}
