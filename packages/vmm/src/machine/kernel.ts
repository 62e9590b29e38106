/**
 * Putting a guest kernel into a built machine: read the ELF (a file or bytes), validate it, copy
 * its segments into guest memory, write the start info with the command line and point the vCPU
 * at the entry.
 * @module
 */
import * as fs from 'node:fs';
import { GuestImageError, bootRegisters, type Vcpu, type Vm } from '@hyvisor/core';
import { loadElf, parseElf } from '../loader/elf.js';
import { writeStartInfo } from '../loader/start-info.js';

/** Reads a guest kernel file; a missing or unreadable file is a {@link GuestImageError} that says what to do. */
export function readKernelFile(file: string): Uint8Array {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const hint = code === 'ENOENT' ? ' (build the guests with `pnpm build`)' : '';
    throw new GuestImageError(`${file}: cannot read guest kernel: ${code ?? String(err)}${hint}`, { image: file });
  }
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
