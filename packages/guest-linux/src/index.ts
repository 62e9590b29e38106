/**
 * `@hyvisor/guest-linux`: the stock Linux guest. Fetches Debian's cloud kernel and
 * busybox-static, builds the initramfs (our own newc cpio writer) around the `init` kept in this
 * package, and boots the pair under QEMU TCG as the reference Hyvisor is measured against.
 * @packageDocumentation
 */
export * from './cpio.js';
export * from './debian.js';
export * from './guest.js';
export * from './exec.js';
export * from './qemu.js';
