/**
 * Shared by this package's tests (not exported from the package): tiny 64-bit guests booted
 * from core's long-mode state, and the skip-with-a-reason wrapper for tests that need /dev/kvm.
 * @module
 */
import test, { type ExecutionContext } from 'ava';
import { bootRegisters, longModeSpecialRegisters, writeBootTables } from '@hyvisor/core';
import { kvmAvailable } from './host.js';
import { KvmBackend } from './kvm-backend.js';
import type { KvmVcpu } from './kvm-vcpu.js';
import type { KvmVm } from './kvm-vm.js';

/** Whether /dev/kvm is usable here, checked once per test file. */
export const kvm = kvmAvailable();

/**
 * Declares a test that needs /dev/kvm. Without KVM it still runs, logs why it did nothing and
 * passes, so the reason shows up in the test output instead of a silent skip.
 */
export function kvmTest(title: string, fn: (t: ExecutionContext) => void | Promise<void>): void {
  test(`${title} (needs /dev/kvm)`, kvm.ok ? fn : (t) => {
    t.log(`not run: ${kvm.reason}`);
    t.pass();
  });
}

/** Same as {@link kvmTest}, but serial (for tests that count process-wide resources). */
export function kvmSerialTest(title: string, fn: (t: ExecutionContext) => void | Promise<void>): void {
  test.serial(`${title} (needs /dev/kvm)`, kvm.ok ? fn : (t) => {
    t.log(`not run: ${kvm.reason}`);
    t.pass();
  });
}

let shared: KvmBackend | undefined;
/** One backend per test file (opening /dev/kvm once). */
export function backend(): KvmBackend {
  shared ??= new KvmBackend();
  return shared;
}

/** Guest code is loaded here (core's `BootLayout.KERNEL_MIN`). */
export const CODE = 0x100000;
/** RAM: [0, 2 MiB) covers the boot tables and the code page. */
export const RAM_SIZE = 2 << 20;

/** A VM with RAM, boot tables, `code` at {@link CODE} and vCPU 0 in 64-bit long mode at it. */
export interface Guest {
  vm: KvmVm;
  cpu: KvmVcpu;
}

/**
 * Boots `code` (raw x86-64 machine code, ring 0) in a fresh VM; the VM is disposed when the
 * test ends.
 */
export function bootGuest(t: ExecutionContext, code: readonly number[], setup?: (vm: KvmVm) => void): Guest {
  const vm = backend().createVm({ name: t.title });
  t.teardown(() => vm.dispose());
  vm.addRegion('ram', 0, RAM_SIZE);
  writeBootTables(vm.memory);
  vm.memory.write(CODE, Uint8Array.from(code));
  setup?.(vm);
  const cpu = vm.createVcpu(0);
  cpu.setSpecialRegisters(longModeSpecialRegisters(cpu.getSpecialRegisters()));
  cpu.setRegisters(bootRegisters(BigInt(CODE)));
  return { vm, cpu };
}

/** Little-endian bytes of a 32-bit immediate. */
export function imm32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}

/** Hand-assembled instructions used by the tests (64-bit mode). */
export const asm = {
  hlt: [0xf4],
  /** `jmp $`: spins forever. */
  spin: [0xeb, 0xfe],
  movEax: (v: number) => [0xb8, ...imm32(v)],
  movEcx: (v: number) => [0xb9, ...imm32(v)],
  movEsi: (v: number) => [0xbe, ...imm32(v)],
  movDx: (v: number) => [0x66, 0xba, v & 0xff, (v >>> 8) & 0xff],
  outAl: (port: number) => [0xe6, port],
  outEax: (port: number) => [0xe7, port],
  inEax: (port: number) => [0xe5, port],
  outDxAl: [0xee],
  repOutsb: [0xf3, 0x6e],
  /** `mov rbx, imm64` (`v` below 2^53). */
  movRbx: (v: number) => [0x48, 0xbb, ...imm32(v % 0x1_0000_0000), ...imm32(Math.floor(v / 0x1_0000_0000))],
  /** `mov [rbx], eax`. */
  storeEaxAtRbx: [0x89, 0x03],
  /** `mov eax, [rbx]`. */
  loadEaxAtRbx: [0x8b, 0x03],
  /** `mov [abs32], eax` (SIB form: not RIP-relative; disp32 is sign-extended, so keep it below 2 GiB). */
  storeEax: (addr: number) => [0x89, 0x04, 0x25, ...imm32(addr)],
  /** `mov eax, [abs32]`. */
  loadEax: (addr: number) => [0x8b, 0x04, 0x25, ...imm32(addr)],
  /** `mov dword [abs32], imm32`. */
  storeImm: (addr: number, v: number) => [0xc7, 0x04, 0x25, ...imm32(addr), ...imm32(v)],
  /** `lidt [abs32]`. */
  lidt: (addr: number) => [0x0f, 0x01, 0x1c, 0x25, ...imm32(addr)],
  sti: [0xfb],
  nop: [0x90],
  iretq: [0x48, 0xcf],
  cpuid: [0x0f, 0xa2],
  decEcx: [0xff, 0xc9],
  /** `jnz rel8`. */
  jnz: (rel: number) => [0x75, rel & 0xff],
} as const;
