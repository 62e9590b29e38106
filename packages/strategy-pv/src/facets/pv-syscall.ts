/**
 * The PV CPU facet: system calls bounce through the hypervisor, as on x86-64 Xen PV. The guest
 * kernel's system-call entry makes one `SYSCALL_ENTRY` hypercall, and its return to user mode
 * goes through `IRET(frame_gpa)`, which validates the frame before the guest's `iretq`. All
 * hypercalls reach the VMM through the port doorbell, which this facet installs.
 * @module
 */
import { FacetBase, FeatureBits, Hypercall, defineFacet, type CpuFacet, type FacetState, type MachineContext } from '@hyvisor/core';
import { IretReject, checkIretFrame, iretResult, type GdtLocation } from '../cpu/iret-frame.js';
import { PV_DOMAIN } from '../pv-domain.js';

/** CPU facet `pv-syscall`: registers `SYSCALL_ENTRY` (counted) and `IRET` (frame validation). */
export class PvSyscallCpu extends FacetBase<'cpu'> implements CpuFacet {
  static readonly info = defineFacet({
    facet: 'cpu',
    name: 'pv-syscall',
    description: 'system calls bounce through the hypervisor: SYSCALL_ENTRY on entry, a validated IRET on the way back; hypercalls via the port doorbell',
    requires: ['cpuid', 'run-deadline'],
    needs: [PV_DOMAIN],
  });

  readonly featureBits = FeatureBits.PV_SYSCALL;

  /** Nothing to save: the GDT locations it keeps are a cache, read again after a restore. */
  saveState(): FacetState {
    return { version: 1 };
  }

  restoreState(state: FacetState): void {
    if (state?.version !== 1) throw new Error(`pv-syscall state version ${JSON.stringify(state?.version)} is not supported (expected 1)`);
    this.gdts.length = 0;
  }

  /** Per vCPU, the guest's GDTR as last read. */
  private readonly gdts: ({ base: number; limit: number } | undefined)[] = [];

  attach(ctx: MachineContext): void {
    ctx.services.get(PV_DOMAIN);
    const counters = ctx.telemetry.counters;
    const entrySlot = counters.define('pv.syscall.entries', 'system calls bounced through SYSCALL_ENTRY');
    const rejectSlots = [
      0,
      counters.define('pv.iret.rejected.fault', 'IRET frames outside guest RAM'),
      counters.define('pv.iret.rejected.rip', 'IRET frames with a RIP outside the canonical user half'),
      counters.define('pv.iret.rejected.cs', 'IRET frames whose CS is not a selector with RPL 3 naming a DPL-3 64-bit code descriptor'),
      counters.define('pv.iret.rejected.ss', 'IRET frames whose SS is not a selector with RPL 3'),
      counters.define('pv.iret.rejected.if', 'IRET frames with interrupts disabled (IF clear)'),
      counters.define('pv.iret.rejected.flags', 'IRET frames with RFLAGS IOPL 3, NT or VM set'),
    ];
    // The guest's GDTR per vCPU, read once (on KVM an ioctl: not on every system call) and again
    // when a frame's CS fails against it, so a GDT the kernel moved is seen before a refusal.
    const gdts = this.gdts as (GdtLocation | undefined)[];
    const readGdt = (i: number): GdtLocation | undefined => {
      try {
        const g = ctx.vcpus[i]!.getSpecialRegisters().gdt;
        return (gdts[i] = { base: Number(g.base), limit: g.limit });
      } catch {
        return undefined;
      }
    };
    const memory = ctx.vm.memory;
    const ramSize = ctx.ramSize;
    ctx.hypercalls.register(Hypercall.SYSCALL_ENTRY, 'SYSCALL_ENTRY', () => {
      counters.values[entrySlot]!++;
      return 0;
    });
    ctx.hypercalls.register(Hypercall.IRET, 'IRET', (a) => {
      let r = checkIretFrame(memory, ramSize, a.a0, gdts[a.vcpu] ?? readGdt(a.vcpu));
      if (r === IretReject.CS) r = checkIretFrame(memory, ramSize, a.a0, readGdt(a.vcpu));
      if (r !== IretReject.NONE) counters.values[rejectSlots[r]!]!++;
      return iretResult(r);
    });
  }
}
