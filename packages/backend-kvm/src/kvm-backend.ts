/**
 * `KvmBackend`: the {@link Backend} on Linux KVM. It opens /dev/kvm, checks the API version,
 * probes what this KVM can do (KVM_CHECK_EXTENSION) and creates {@link KvmVm}s.
 * @module
 */
import { KVM_CAP_SET_GUEST_DEBUG } from './kvm-debug.js';
import { BackendError, type Backend, type BackendInfo, type Capability, type VmOptions } from '@hyvisor/core';
import { detectFlavour, openKvmDevice, type KvmFlavour } from './host.js';
import { check, loadNative, type KvmNative } from './native.js';
import { KvmVm } from './kvm-vm.js';

/** What a VM and its vCPUs need from the backend that created them. */
export interface KvmHost {
  readonly native: KvmNative;
  /** The /dev/kvm fd (system ioctls such as KVM_GET_SUPPORTED_CPUID). */
  readonly kvmFd: number;
  readonly info: BackendInfo;
  readonly flavour: KvmFlavour;
  /** Size of the kvm_run mapping (KVM_GET_VCPU_MMAP_SIZE), including the PIO data page. */
  readonly vcpuMmapSize: number;
  /** Highest vCPU id + 1 (KVM_CAP_MAX_VCPU_ID, else KVM_CAP_MAX_VCPUS). */
  readonly maxVcpuId: number;
  /** Memory slots per VM (KVM_CAP_NR_MEMSLOTS). */
  readonly memslots: number;
  /** True if KVM_CAP_SYNC_REGS covers regs, sregs and events. */
  readonly syncRegs: boolean;
  readonly readonlyMemory: boolean;
  readonly ioeventfd: boolean;
  /** KVM_CAP_IRQCHIP: KVM_CREATE_IRQCHIP (PIC + IOAPIC + LAPIC in the kernel) and KVM_IRQ_LINE. */
  readonly irqchip: boolean;
  /** KVM_CAP_PIT2: KVM_CREATE_PIT2 (the in-kernel 8254). */
  readonly pit2: boolean;
  /** KVM_CAP_SET_GUEST_DEBUG: breakpoints, watchpoints and single steps for a debugger (`vcpu.debug`). */
  readonly guestDebug: boolean;
}

/** The sync-regs fields Hyvisor uses: REGS | SREGS | EVENTS. */
const SYNC_ALL = 7;

/** Builds `info.description` from the probed facts. */
function describe(flavour: KvmFlavour): string {
  switch (flavour) {
    case 'kvm_pvm':
      return 'Linux KVM (kvm_pvm: software nested virtualization; guest ring 0 is emulated, ring 3 runs natively)';
    case 'kvm-vmx':
      return 'Linux KVM on Intel VT-x';
    case 'kvm-svm':
      return 'Linux KVM on AMD-V';
    default:
      return 'Linux KVM';
  }
}

/**
 * The KVM backend. Creating it opens /dev/kvm (so registering it in a registry costs nothing
 * until a VMM actually chooses `kvm`); {@link dispose} disposes every VM still alive and closes
 * the device.
 */
export class KvmBackend implements Backend {
  /** What this KVM offers; capabilities are probed, never assumed. */
  readonly info: BackendInfo;
  private readonly host: KvmHost;
  private readonly vms = new Set<KvmVm>();
  private disposed = false;

  constructor() {
    const native = loadNative();
    const kvmFd = openKvmDevice();
    try {
      const ioc = native.ioctls;
      const version = check('KVM_GET_API_VERSION', native.ioctlInt(kvmFd, ioc['KVM_GET_API_VERSION']!, 0));
      if (version !== native.constants['KVM_API_VERSION']) {
        throw new BackendError(`/dev/kvm has KVM API version ${version}, Hyvisor needs ${native.constants['KVM_API_VERSION']}`, { operation: 'KVM_GET_API_VERSION', values: { version } });
      }
      const cap = (name: string): number => {
        const r = native.ioctlInt(kvmFd, ioc['KVM_CHECK_EXTENSION']!, native.caps[name]!);
        return r < 0 ? 0 : r;
      };
      const flavour = detectFlavour();
      const syncMask = cap('KVM_CAP_SYNC_REGS');
      const syncRegs = (syncMask & SYNC_ALL) === SYNC_ALL;
      const readonlyMemory = cap('KVM_CAP_READONLY_MEM') > 0;
      const ioeventfd = cap('KVM_CAP_IOEVENTFD') > 0;
      const immediateExit = cap('KVM_CAP_IMMEDIATE_EXIT') > 0;
      const irqchip = cap('KVM_CAP_IRQCHIP') > 0;
      const pit2 = irqchip && cap('KVM_CAP_PIT2') > 0;
      const maxVcpus = cap('KVM_CAP_MAX_VCPUS') || cap('KVM_CAP_NR_VCPUS') || 4;
      const maxVcpuId = cap('KVM_CAP_MAX_VCPU_ID') || maxVcpus;
      const memslots = cap('KVM_CAP_NR_MEMSLOTS') || 32;
      const vcpuMmapSize = check('KVM_GET_VCPU_MMAP_SIZE', native.ioctlInt(kvmFd, ioc['KVM_GET_VCPU_MMAP_SIZE']!, 0));

      const capabilities = new Set<Capability>();
      if (cap('KVM_CAP_USER_MEMORY')) capabilities.add('guest-memory');
      if (readonlyMemory) capabilities.add('readonly-memory');
      // The deadline relies on immediate_exit so that a kick landing just before KVM_RUN is kept.
      if (immediateExit) capabilities.add('run-deadline');
      // KVM_INTERRUPT and interrupt-window exits are part of the base x86 API. They serve VMs
      // without an in-kernel irqchip; a VM that calls irqchip.create() switches to irqchip.setLine().
      capabilities.add('interrupt-injection');
      if (cap('KVM_CAP_EXT_CPUID')) capabilities.add('cpuid');
      // KVM_GET/SET_MSRS are base x86 API as well.
      capabilities.add('msr');
      if (ioeventfd) capabilities.add('ioeventfd');
      if (syncRegs) capabilities.add('sync-regs');
      // Both interrupt modes are per VM: userspace injection until vm.irqchip.create() is called,
      // the in-kernel PIC/IOAPIC/LAPIC afterwards. vm.irqchip.offersPit says whether the PIT comes too.
      if (irqchip) capabilities.add('in-kernel-irqchip');
      // Deleting and re-adding a memory slot is base API; it matters where KVM shadows guest page tables.
      capabilities.add('region-refresh');

      const guestDebug = native.ioctlInt(kvmFd, ioc['KVM_CHECK_EXTENSION']!, KVM_CAP_SET_GUEST_DEBUG) > 0;
      const base = {
        native, kvmFd, flavour, vcpuMmapSize, maxVcpuId, memslots, syncRegs, readonlyMemory, ioeventfd, irqchip, pit2, guestDebug,
      };
      const tscKhz = probeTscKhz(native, kvmFd);
      this.info = {
        name: 'kvm',
        flavour,
        description: describe(flavour),
        capabilities,
        host: flavour === 'kvm_pvm' ? 'kvm_pvm' : 'hardware',
        tscKhz,
        deterministic: false,
        maxVcpus,
        details: Object.freeze({
          apiVersion: version,
          recommendedVcpus: cap('KVM_CAP_NR_VCPUS'),
          maxVcpuId,
          memslots,
          syncRegs: syncMask,
          immediateExit,
          irqchip,
          pit2,
          guestDebug,
          vcpuMmapSize,
        }),
      };
      this.host = { ...base, info: this.info };
    } catch (err) {
      native.close(kvmFd);
      throw err;
    }
  }

  /** Creates an empty VM. Throws {@link BackendError} after {@link dispose}. */
  createVm(options: VmOptions = {}): KvmVm {
    if (this.disposed) throw new BackendError('KvmBackend.createVm: the backend is disposed', { operation: 'KvmBackend.createVm' });
    const vm = new KvmVm(this.host, options.name ?? `vm${this.vms.size}`, () => this.vms.delete(vm));
    this.vms.add(vm);
    return vm;
  }

  /** Disposes every VM still alive, then closes /dev/kvm. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    let first: unknown;
    for (const vm of [...this.vms].reverse()) {
      try {
        vm.dispose();
      } catch (err) {
        first ??= err;
      }
    }
    this.host.native.close(this.host.kvmFd);
    if (first !== undefined) throw first;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/**
 * The TSC rate guests see, in kHz. KVM_GET_TSC_KHZ is a vCPU ioctl (the VM-wide one reports the
 * default rate, which differs on kvm_pvm), so a throw-away VM and vCPU are created once.
 * Returns 0 if it cannot be read.
 */
function probeTscKhz(native: KvmNative, kvmFd: number): number {
  const ioc = native.ioctls;
  const vmFd = native.ioctlInt(kvmFd, ioc['KVM_CREATE_VM']!, 0);
  if (vmFd < 0) return 0;
  try {
    const vcpuFd = native.ioctlInt(vmFd, ioc['KVM_CREATE_VCPU']!, 0);
    if (vcpuFd < 0) return 0;
    try {
      const khz = native.ioctlInt(vcpuFd, ioc['KVM_GET_TSC_KHZ']!, 0);
      return khz < 0 ? 0 : khz;
    } finally {
      native.close(vcpuFd);
    }
  } finally {
    native.close(vmFd);
  }
}
