/**
 * The small interfaces through which device models meet the rest of the VMM (after rust-vmm's
 * `vm-superio`). A device knows its registers; it does not know buses, backends or threads.
 * @module
 */

/** A device on the port-I/O bus. `offset` is relative to the base port it was registered at. */
export interface PioDevice {
  /** Returns the value read; `size` is 1, 2 or 4 bytes. */
  read(offset: number, size: number): number;
  write(offset: number, size: number, value: number): void;
}

/** A device on the MMIO bus. `offset` is relative to the base address it was registered at. */
export interface MmioDevice {
  read(offset: number, size: number): number;
  write(offset: number, size: number, value: number): void;
}

/** Raises or lowers a device's interrupt line; the VM decides what that means (PIC pin, MSI, event channel). */
export interface IrqLine {
  raise(): void;
  lower(): void;
}

/**
 * Sends a message-signalled interrupt: what a PCI device's MSI or MSI-X write to 0xFEExxxxx is
 * on x86 (address: destination and mode; data: vector, delivery and trigger mode). The machine
 * hands it to the interrupt facet; a message nobody can deliver is dropped and counted.
 */
export interface MsiTrigger {
  signalMsi(address: number, data: number): void;
}

/** Where a device's output goes (a terminal, a file, a test buffer). */
export interface ByteSink {
  write(byte: number): void;
}

/**
 * Lets a device reset the machine: the guest asked for a reboot (the i8042's 0xFE command, a
 * reset control register). The VMM decides what a reset means; Hyvisor ends the run with reason
 * `reset` (exit code 0), since it has no firmware to boot the guest again.
 */
export interface ResetTrigger {
  requestReset(): void;
}

/** Lets a device end the run (e.g. the guest wrote an exit code). */
export interface ExitTrigger {
  requestExit(code: number): void;
  /**
   * Ends the run as failed (exit code 1) with `message`: a failure of the VMM's side of a device
   * (its host stream closed, …), not the guest's doing. Optional: without it a device ends the
   * run with {@link requestExit}(1).
   */
  fail?(message: string): void;
}
