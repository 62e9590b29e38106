/**
 * `EmuBackend`: the {@link Backend} that needs no /dev/kvm. Every VM it creates runs on an x86-64
 * emulator written in TypeScript, deterministically: the same guest and inputs give the same
 * instruction count and exit sequence, and the TSC counts retired instructions.
 * @module
 */
import { BackendError, type Backend, type BackendInfo, type Capability, type VmOptions } from '@hyvisor/core';
import { NS_PER_INSTRUCTION, TSC_KHZ, TSC_PER_INSTRUCTION } from './cpu/msr.js';
import { CHECK_INTERVAL } from './emu-vcpu.js';
import { EmuVm, MAX_VCPUS } from './emu-vm.js';

const CAPABILITIES: readonly Capability[] = [
  'guest-memory', 'readonly-memory', 'run-deadline', 'interrupt-injection', 'cpuid', 'msr', 'sync-regs',
  'virtual-clock', 'cr3-policy', 'region-refresh',
];

export class EmuBackend implements Backend {
  readonly info: BackendInfo = {
    name: 'emu',
    flavour: 'emu',
    description: 'x86-64 emulator (TypeScript; deterministic, no /dev/kvm needed)',
    capabilities: new Set(CAPABILITIES),
    host: 'emulator',
    tscKhz: TSC_KHZ,
    deterministic: true,
    maxVcpus: MAX_VCPUS,
    details: Object.freeze({
      tscPerInstruction: TSC_PER_INSTRUCTION,
      nsPerInstruction: NS_PER_INSTRUCTION,
      deadlineCheckInstructions: CHECK_INTERVAL,
    }),
  };
  private readonly vms = new Set<EmuVm>();
  private disposed = false;

  createVm(options: VmOptions = {}): EmuVm {
    if (this.disposed) throw new BackendError('EmuBackend.createVm: the backend is disposed', { operation: 'EmuBackend.createVm' });
    const vm = new EmuVm(this.info, options.name ?? `vm${this.vms.size}`, () => this.vms.delete(vm));
    this.vms.add(vm);
    return vm;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const vm of [...this.vms].reverse()) vm.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
