/**
 * `@hyvisor/vmm`: builds and runs a Hyvisor machine: x86-64 boot state, the ELF loader and boot
 * information, the run loop, composition from config, and the built-in `minimal` strategy.
 * @packageDocumentation
 */
export * from './loader/elf.js';
export * from './loader/start-info.js';
export * from './loader/bzimage.js';
export * from './loader/linux.js';
export * from './machine/cpuid.js';
export * from './machine/machine.js';
export * from './strategy/minimal.js';
export * from './compose.js';
export * from './devices/attach.js';
