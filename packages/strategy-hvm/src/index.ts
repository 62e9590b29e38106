/**
 * `@hyvisor/strategy-hvm`: the trap-and-emulate facets' device models. Each is a small
 * register-level class that meets the VMM through core's tiny interfaces (`PioDevice`,
 * `MmioDevice`, `IrqLine`, `Clock`):
 *
 * - interrupts: the 8259A pair ({@link DualPic}), the local APIC ({@link Lapic}) and the router
 *   that presents both to the vCPU ({@link PlatformInterrupts});
 * - time: the 8254 PIT ({@link Pit8254}) with port B; the APIC timer lives in {@link Lapic};
 * - I/O: an ATA PIO disk ({@link AtaDisk}) over a {@link BlockStore}.
 *
 * The run loop's side of interrupts is {@link InterruptSource}: `hasPendingInterrupt()`, then
 * `acknowledge()` for the vector to inject, and `onInterruptChange` to learn when INTR rises.
 *
 * The entry exports what composing a VMM or writing a plugin needs: the facets, the `hvm` and
 * `hvm-userspace` strategies and their registration, and the device models for reuse. Register and
 * command constants (PIC ICWs, APIC registers, PIT modes, ATA commands) stay internal.
 * The runtime names are pinned in `docs/public-surface.json` (a test fails on any change).
 * @packageDocumentation
 */
export * from './interrupt/interrupt-source.js';
export { DualPic, Pic8259, type Pic8259Options } from './interrupt/pic8259.js';
export { Lapic, type LapicOptions } from './interrupt/lapic.js';
export * from './interrupt/platform-interrupts.js';
export { PIT_HZ, Pit8254, type Pit8254Options } from './timer/pit8254.js';
export { AtaDisk, type AtaDiskOptions } from './io/ata-disk.js';
export * from './facets/native.js';
export * from './facets/kvm-irqchip.js';
export * from './facets/emulated-interrupts.js';
export * from './facets/emulated-pit.js';
export * from './facets/emulated-ata.js';
export * from './strategies.js';
