/**
 * The typed face of the C addon (`native/kvm.c`). The addon only issues syscalls; this module
 * types them, loads the `.node` file from ESM, and turns `-errno` results into
 * {@link BackendError}s whose message names the operation and the strerror text.
 *
 * Struct layouts come from the addon ({@link KvmNative.layout}, computed with offsetof/sizeof
 * from `<linux/kvm.h>`), so nothing here hard-codes a C layout.
 * @module
 */
import { createRequire } from 'node:module';
import { constants as osConstants } from 'node:os';
import { BackendError } from '@hyvisor/core';

/** Field offsets (bytes) of one C struct, plus `size` where the addon exports it. */
export type StructLayout = Readonly<Record<string, number>>;

/** Struct layouts exported by the addon. */
export interface KvmLayout {
  /** `struct kvm_run` (exit record shared with the kernel) including `s.regs` offsets. */
  readonly run: StructLayout;
  /** `struct kvm_regs`. */
  readonly regs: StructLayout;
  /** `struct kvm_segment`. */
  readonly segment: StructLayout;
  /** `struct kvm_dtable`. */
  readonly dtable: StructLayout;
  /** `struct kvm_sregs`. */
  readonly sregs: StructLayout;
  /** `struct kvm_userspace_memory_region`. */
  readonly memoryRegion: StructLayout;
  /** `struct kvm_cpuid2` header and `struct kvm_cpuid_entry2`. */
  readonly cpuid: StructLayout;
  /** `struct kvm_msrs` header and `struct kvm_msr_entry`. */
  readonly msrs: StructLayout;
  /** `struct kvm_ioeventfd`. */
  readonly ioeventfd: StructLayout;
  /** `struct kvm_interrupt`. */
  readonly interrupt: StructLayout;
  /** `struct kvm_vcpu_events` (the fields Hyvisor reads). */
  readonly vcpuEvents: StructLayout;
  /** `struct kvm_msi` (KVM_SIGNAL_MSI). */
  readonly msi: StructLayout;
  /** `struct kvm_irq_level` (KVM_IRQ_LINE). */
  readonly irqLevel: StructLayout;
  /** `struct kvm_pit_config` (KVM_CREATE_PIT2). */
  readonly pitConfig: StructLayout;
  /** `struct kvm_irqchip` with the `kvm_pic_state` and IOAPIC fields Hyvisor reads (KVM_GET_IRQCHIP). */
  readonly irqchip: StructLayout;
  /** `struct kvm_pit_state2` and `struct kvm_pit_channel_state` (KVM_GET_PIT2). */
  readonly pitState2: StructLayout;
  /** `struct kvm_lapic_state`: the local APIC's 1 KiB register page (KVM_GET_LAPIC). */
  readonly lapicState: StructLayout;
  /** `struct kvm_mp_state` (KVM_GET_MP_STATE). */
  readonly mpState: StructLayout;
  /** `struct kvm_xsave` (KVM_GET_XSAVE / KVM_SET_XSAVE): its first 512 bytes are an FXSAVE64 image. */
  readonly xsave: StructLayout;
  /** `struct kvm_clock_data` (KVM_GET_CLOCK / KVM_SET_CLOCK). */
  readonly clock: StructLayout;
}

/**
 * The addon's functions. Integer results are `>= 0` on success and `-errno` on failure; use
 * {@link check} to turn a failure into a {@link BackendError}.
 */
export interface KvmNative {
  /** `open(path, O_RDWR|O_CLOEXEC)` → fd. */
  open(path: string): number;
  /** `close(fd)`. */
  close(fd: number): number;
  /** `strerror(errno)`. */
  strerror(errno: number): string;
  /** `ioctl(fd, request, arg)` for the integer-argument KVM ioctls (an allow-list in C). */
  ioctlInt(fd: number, request: number, arg: number): number;
  /**
   * `ioctl(fd, request, buffer)` for the pointer-argument KVM ioctls (an allow-list in C that
   * checks `buffer` is as large as the kernel will access).
   */
  ioctlBuf(fd: number, request: number, buffer: ArrayBufferView | ArrayBuffer): number;
  /** `mmap(length, MAP_SHARED)`, anonymous if `fd < 0`, as an external ArrayBuffer (no copy), or -errno. */
  mmap(length: number, fd: number): ArrayBuffer | number;
  /**
   * `KVM_SET_USER_MEMORY_REGION` for slot `slot` at `gpa`, backed by a whole buffer from
   * {@link mmap} (the host address stays in C); `buffer` null deletes the slot.
   */
  setMemoryRegion(vmFd: number, slot: number, flags: number, gpa: number, buffer: ArrayBuffer | null): number;
  /** Detaches `buffer` (its views become empty) and unmaps it. */
  munmap(buffer: ArrayBuffer): number;
  /** `eventfd(0, EFD_NONBLOCK|EFD_CLOEXEC)`. */
  eventfd(): number;
  /** Reads and resets an eventfd counter; 0 if nothing was counted (never blocks). */
  eventfdRead(fd: number): number;
  /** Registers a vCPU (fd + kvm_run) for run/deadline/kick; creates its timer aimed at this thread. */
  vcpuAttach(vcpuFd: number, kvmRun: ArrayBuffer): number;
  /** Deletes the vCPU's timer and forgets it. */
  vcpuDetach(handle: number): number;
  /** `KVM_RUN` → 0 or -errno (-EINTR after a deadline, kick or other signal). */
  vcpuRun(handle: number): number;
  /** Arms the vCPU's one-shot deadline timer `ms` from now (0 disarms). */
  vcpuSetDeadline(handle: number, ms: number): number;
  /** Makes the current or next `vcpuRun` return -EINTR. */
  vcpuKick(handle: number): number;
  /** KVM ioctl request numbers. */
  readonly ioctls: Readonly<Record<string, number>>;
  /** `KVM_CAP_*` numbers. */
  readonly caps: Readonly<Record<string, number>>;
  /** Other constants (`KVM_MEM_READONLY`, `KVM_SYNC_X86_*`, `KICK_SIGNAL`, …). */
  readonly constants: Readonly<Record<string, number>>;
  /** `KVM_EXIT_*` numbers. */
  readonly exitReasons: Readonly<Record<string, number>>;
  /** Struct layouts. */
  readonly layout: KvmLayout;
}

/** Where the addon is built (`node scripts/build-native.mjs`, run by the package's install script). */
const ADDON_PATH = '../build/Release/hyvisor_kvm.node';

let cached: KvmNative | undefined;
let loadError: string | undefined;

/**
 * Loads the addon once. Throws {@link BackendError} with the fix if it has not been built.
 */
export function loadNative(): KvmNative {
  if (cached) return cached;
  if (loadError === undefined) {
    try {
      cached = createRequire(import.meta.url)(ADDON_PATH) as KvmNative;
      return cached;
    } catch (err) {
      loadError = err instanceof Error ? err.message.split('\n')[0]! : String(err);
    }
  }
  throw new BackendError(
    `KVM native addon not loadable (${loadError}); build it with: node packages/backend-kvm/scripts/build-native.mjs`,
    { operation: 'loadNative' },
  );
}

/** errno number → symbolic name (`22` → `EINVAL`), from Node's own table. */
const ERRNO_NAMES = new Map<number, string>(Object.entries(osConstants.errno).map(([k, v]) => [v, k]));

/** `"Invalid argument (EINVAL)"` for errno 22. */
export function describeErrno(errno: number): string {
  const text = cached ? cached.strerror(errno) : `errno ${errno}`;
  const name = ERRNO_NAMES.get(errno);
  return name ? `${text} (${name})` : text;
}

/** The error for a failed operation: `"KVM_CREATE_VCPU failed: Invalid argument (EINVAL)"`. */
export function errnoError(operation: string, result: number): BackendError {
  const errno = -result;
  return new BackendError(`${operation} failed: ${describeErrno(errno)}`, { operation, errno });
}

/** Returns `result` if it is not an error (>= 0); otherwise throws {@link errnoError}. */
export function check(operation: string, result: number): number {
  if (result < 0) throw errnoError(operation, result);
  return result;
}

/** Unwraps an mmap result: the buffer, or a {@link BackendError} naming the operation. */
export function checkBuffer(operation: string, result: ArrayBuffer | number): ArrayBuffer {
  if (typeof result === 'number') throw errnoError(operation, result);
  return result;
}
