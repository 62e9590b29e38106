/**
 * The CPU side of an emulated interrupt controller: what the run loop asks before it enters the
 * vCPU, and the INTA cycle it performs when it injects.
 * @module
 */

/**
 * An interrupt controller as the vCPU sees it (the INTR pin and the INTA cycle).
 *
 * The run loop, when the vCPU can take an external interrupt (RFLAGS.IF set, no interrupt
 * shadow, no event already being injected), asks {@link hasPendingInterrupt}; if true it calls
 * {@link acknowledge} and injects the vector it returns. If the vCPU cannot take it yet, the run
 * loop asks for an interrupt window exit and tries again then; it never acknowledges early,
 * because acknowledging moves the request into service.
 */
export interface InterruptSource {
  /** True while the controller asserts its interrupt output (INTR). */
  hasPendingInterrupt(): boolean;
  /**
   * The interrupt acknowledge cycle: returns the vector to inject and moves the request from
   * "requested" to "in service". Called when nothing is pending it returns the controller's
   * spurious vector (as the hardware does when a request vanished before INTA).
   */
  acknowledge(): number;
  /**
   * Called synchronously each time {@link hasPendingInterrupt} changes, with its new value, so
   * the VMM can kick a halted or running vCPU when the output rises without polling.
   */
  onInterruptChange: ((asserted: boolean) => void) | undefined;
}
