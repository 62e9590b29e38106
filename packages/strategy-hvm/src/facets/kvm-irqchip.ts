/**
 * The backend's own interrupt controllers and PIT (KVM's in-kernel irqchip): the faithful
 * equivalent of Xen's in-hypervisor vLAPIC/vPIC. Interrupt controller and PIT accesses, EOIs and
 * HLT are handled inside the host kernel, so they cost no userspace exit.
 * @module
 */
import { CompositionError, FacetBase, IN_KERNEL_PIT, defineFacet, type InKernelIrqchip, type InterruptFacet, type IrqLine, type TimerFacet, type Vm } from '@hyvisor/core';

/**
 * Interrupt facet over the backend's in-kernel PIC + IOAPIC + local APIC. With the in-kernel PIT
 * (as `hvm` and the facet registry create it) it provides `IN_KERNEL_PIT`.
 */
export class KvmIrqchipInterrupts extends FacetBase<'interrupt'> implements InterruptFacet {
  /** As registered: with the in-kernel PIT. */
  static readonly info = defineFacet({
    facet: 'interrupt',
    name: 'kvm-irqchip',
    description: "the backend's in-kernel 8259 PICs, IOAPIC and local APIC; device lines are raised with one system call, EOI and HLT never exit",
    requires: ['in-kernel-irqchip'],
    provides: [IN_KERNEL_PIT],
  });

  readonly featureBits = 0;
  private chip: InKernelIrqchip | undefined;
  private readonly lines = new Map<number, IrqLine>();

  /** @param withPit also create the in-kernel PIT (the `kvm-pit` timer facet relies on it). */
  constructor(private readonly withPit: boolean) {
    super(withPit ? KvmIrqchipInterrupts.info : { ...KvmIrqchipInterrupts.info, provides: [] });
  }

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

  /** A PCI device's MSI/MSI-X message goes to the backend's in-kernel local APIC. */
  signalMsi(address: number, data: number): boolean {
    return this.chip?.signalMsi(address, data) ?? false;
  }
}

/**
 * Timer facet: the backend's in-kernel 8254 PIT (ports 0x40-0x43 and 0x61), ticking in the host
 * kernel. The PIT is created with the in-kernel irqchip, so it needs `IN_KERNEL_PIT`.
 */
export class KvmPitTimer extends FacetBase<'timer'> implements TimerFacet {
  static readonly info = defineFacet({
    facet: 'timer',
    name: 'kvm-pit',
    description: "the backend's in-kernel 8254 PIT; lost ticks are re-injected by the host kernel",
    requires: ['in-kernel-irqchip'],
    needs: [IN_KERNEL_PIT],
  });

  readonly featureBits = 0;
}
