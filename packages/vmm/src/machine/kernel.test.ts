import test from 'ava';
import { CompositionError, GuestImageError, GuestMemory, type BackendInfo, type HostKind } from '@hyvisor/core';
import { LINUX_MAX_RAM, assertLinuxCanRun, loadLinuxImage } from './kernel.js';

const info = (host: HostKind | undefined, name = 'kvm'): BackendInfo =>
  ({ name, flavour: 'x', capabilities: new Set(), ...(host !== undefined ? { host } : {}) }) as unknown as BackendInfo;

test('a Linux guest on a kvm_pvm host is refused before anything is built, with one line naming the way out', (t) => {
  const err = t.throws(() => assertLinuxCanRun(info('kvm_pvm')), { instanceOf: CompositionError });
  t.is(err.message.split('\n').length, 1);
  t.regex(err.message, /^guest\.linux: the kvm backend runs on kvm_pvm here .*cannot boot a stock Linux kernel.*; use --backend emu$/);
  t.regex(t.throws(() => assertLinuxCanRun(info('kvm_pvm', 'my-kvm')))!.message, /the my-kvm backend/, 'decided on the host fact, not the backend name');
});

test('hardware KVM, the emulator and a backend that reports no host kind may boot Linux', (t) => {
  for (const host of ['hardware', 'emulator', undefined] as const) t.notThrows(() => assertLinuxCanRun(info(host)));
});

test('a Linux guest with RAM over the 32-bit MMIO hole is refused before memory is touched', (t) => {
  const vm = { memory: new GuestMemory() } as never;
  const vcpu = {} as never;
  t.throws(() => loadLinuxImage(vm, vcpu, LINUX_MAX_RAM + 4096, { kernel: new Uint8Array(0), kernelName: 'vmlinuz', cmdline: '' }), {
    instanceOf: GuestImageError, message: /^vmlinuz: a Linux guest gets at most 3 GiB of RAM so far .*the VM has 3072 MiB$/,
  });
});
