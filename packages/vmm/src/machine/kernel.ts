/**
 * Putting a guest kernel into a built machine. A Hyvisor guest ELF: validate it, copy its
 * segments into guest memory, write the start info with the command line and point the vCPU at
 * the entry. A Linux kernel (bzImage or vmlinux): the Linux 64-bit boot protocol through
 * `loadLinux` — zero page with the e820 map of the machine's RAM, command line, initrd, and
 * Linux's own boot GDT and segments instead of Hyvisor's; no start info.
 * @module
 */
import * as fs from 'node:fs';
import { CompositionError, GuestImageError, bootRegisters, type BackendInfo, type Vcpu, type Vm } from '@hyvisor/core';
import { loadElf, parseElf } from '../loader/elf.js';
import { loadLinux, type LinuxBoot } from '../loader/linux.js';
import { writeStartInfo } from '../loader/start-info.js';

/**
 * Reads a guest file (`what`: "guest kernel", "initrd"); a missing or unreadable file is a
 * {@link GuestImageError} that says what to do (`hint` is added when the file does not exist).
 */
export function readKernelFile(file: string, what = 'guest kernel', hint = ' (build the guests with `pnpm build`)'): Uint8Array {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new GuestImageError(`${file}: cannot read ${what}: ${code ?? String(err)}${code === 'ENOENT' ? hint : ''}`, { image: file });
  }
}

/**
 * Highest RAM a Linux guest gets: below the 32-bit MMIO hole, so RAM never covers the xAPIC at
 * 0xfee00000 (there is no RAM above 4 GiB in the e820 map yet).
 */
export const LINUX_MAX_RAM = 3 * 1024 ** 3;

/**
 * Refuses, before anything is built, a Linux guest on a host that cannot run a stock kernel's
 * ring 0: kvm_pvm emulates guest ring 0 in the host and stops on the kernel's FPU set-up
 * (`xrstor`, an internal error) after about a minute. Decided on the typed host fact, so any
 * backend reporting `host: kvm_pvm` gets the same answer. Throws {@link CompositionError}.
 */
export function assertLinuxCanRun(info: BackendInfo): void {
  if (info.host === 'kvm_pvm') {
    throw new CompositionError(`guest.linux: the ${info.name} backend runs on kvm_pvm here (guest ring 0 emulated by the host, no VT-x/AMD-V), which cannot boot a stock Linux kernel (it stops at the kernel's FPU set-up); use --backend emu`, [], [], 'guest.linux');
  }
}

/** What {@link loadLinuxImage} boots. */
export interface LinuxImages {
  /** The bzImage or ELF vmlinux, and its name for messages. */
  readonly kernel: Uint8Array;
  readonly kernelName: string;
  readonly initrd?: Uint8Array;
  readonly initrdName?: string;
  readonly cmdline: string;
}

/**
 * Loads a Linux kernel through the 64-bit boot protocol into `vm`'s RAM of `ramSize` bytes and
 * sets `vcpu` to the protocol's entry state (long mode, `__BOOT_CS`/`__BOOT_DS`, RSI = zero page,
 * IF = 0). Throws {@link GuestImageError} before writing anything if the images or RAM do not fit.
 */
export function loadLinuxImage(vm: Vm, vcpu: Vcpu, ramSize: number, images: LinuxImages): LinuxBoot {
  if (ramSize > LINUX_MAX_RAM) {
    throw new GuestImageError(`${images.kernelName}: a Linux guest gets at most 3 GiB of RAM so far (more would cover the xAPIC at 0xfee00000); the VM has ${Math.round(ramSize / 2 ** 20)} MiB`, { image: images.kernelName });
  }
  const boot = loadLinux(vm.memory, ramSize, {
    kernel: images.kernel, kernelName: images.kernelName, cmdline: images.cmdline,
    ...(images.initrd ? { initrd: images.initrd, initrdName: images.initrdName ?? 'initrd' } : {}),
  });
  vcpu.setSpecialRegisters(boot.specialRegisters(vcpu.getSpecialRegisters()));
  vcpu.setRegisters(boot.registers);
  return boot;
}

/**
 * Loads ELF image `bytes` (validated first: hostile headers are a {@link GuestImageError}) into
 * `vm`'s RAM of `ramSize` bytes, writes the start info with `cmdline` and sets `vcpu`'s boot
 * registers at the entry.
 */
export function loadKernelImage(vm: Vm, vcpu: Vcpu, ramSize: number, bytes: Uint8Array, cmdline: string, name: string): void {
  const image = parseElf(bytes, ramSize, name);
  loadElf(vm.memory, bytes, image, name);
  writeStartInfo(vm.memory, ramSize, cmdline);
  vcpu.setRegisters(bootRegisters(image.entry));
}
