/**
 * What kind of KVM this host has. The flavour decides the host hint guests get and explains
 * measured costs in `hyvisor info`: kvm_pvm emulates guest ring-0 code in software, hardware KVM
 * does not.
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { BackendError } from '@hyvisor/core';
import { loadNative } from './native.js';

/** The KVM implementation found on this host. */
export type KvmFlavour = 'kvm_pvm' | 'kvm-vmx' | 'kvm-svm' | 'kvm';

/** The device node KVM is opened through. */
export const KVM_DEVICE = '/dev/kvm';

/** Where the kvm_pvm module shows up when loaded (`/proc/modules` may be missing on such hosts). */
export const KVM_PVM_SYSFS = '/sys/module/kvm_pvm';

/**
 * Detects the flavour: `/sys/module/kvm_pvm` present → `kvm_pvm` (it wins even on a CPU with
 * VMX, because it is what serves /dev/kvm then); otherwise the CPU flags: `vmx` → `kvm-vmx`,
 * `svm` → `kvm-svm`; otherwise plain `kvm`.
 */
export function detectFlavour(): KvmFlavour {
  if (existsSync(KVM_PVM_SYSFS)) return 'kvm_pvm';
  let flags = '';
  try {
    const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
    flags = /^flags\s*:(.*)$/m.exec(cpuinfo)?.[1] ?? '';
  } catch {
    // No /proc (unusual container): fall through to the generic flavour.
  }
  const set = new Set(flags.trim().split(/\s+/));
  if (set.has('vmx')) return 'kvm-vmx';
  if (set.has('svm')) return 'kvm-svm';
  return 'kvm';
}

/**
 * Opens /dev/kvm and returns its fd, or throws a {@link BackendError} that says what to do:
 * missing device, no permission, or an addon that was not built.
 */
export function openKvmDevice(): number {
  const native = loadNative();
  if (!existsSync(KVM_DEVICE)) {
    throw new BackendError(
      `${KVM_DEVICE} not found: this host has no KVM (load kvm_intel/kvm_amd/kvm_pvm, or pass /dev/kvm into the container); use the emulator backend instead`,
      { operation: 'open', values: { path: KVM_DEVICE } },
    );
  }
  const fd = native.open(KVM_DEVICE);
  if (fd < 0) {
    const errno = -fd;
    if (errno === 13 /* EACCES */ || errno === 1 /* EPERM */) {
      throw new BackendError(
        `${KVM_DEVICE}: permission denied: add your user to the group that owns it (usually 'kvm') or run with access to it`,
        { operation: 'open', errno, values: { path: KVM_DEVICE } },
      );
    }
    throw new BackendError(`open ${KVM_DEVICE} failed: ${native.strerror(errno)}`, { operation: 'open', errno, values: { path: KVM_DEVICE } });
  }
  return fd;
}

/** Whether KVM can be used here, and if not, why (for tests that skip with a reason). */
export interface KvmAvailability {
  readonly ok: boolean;
  readonly reason: string;
}

/**
 * Checks that the addon loads and /dev/kvm opens with API version 12. Never throws.
 */
export function kvmAvailable(): KvmAvailability {
  try {
    const native = loadNative();
    const fd = openKvmDevice();
    try {
      const version = native.ioctlInt(fd, native.ioctls['KVM_GET_API_VERSION']!, 0);
      if (version !== native.constants['KVM_API_VERSION']) {
        return { ok: false, reason: `${KVM_DEVICE} has KVM API version ${version}, Hyvisor needs ${native.constants['KVM_API_VERSION']}` };
      }
    } finally {
      native.close(fd);
    }
    return { ok: true, reason: `${KVM_DEVICE} available (${detectFlavour()})` };
  } catch (err) {
    return { ok: false, reason: err instanceof Error ? err.message : String(err) };
  }
}
