/**
 * The services core defines: contracts between facets of different packages (and third-party
 * ones). A facet lists the ones it provides and needs in its {@link FacetInfo}; see
 * docs/strategies.md, "Facets as services".
 * @module
 */
import { serviceToken, type ServiceToken } from './service.js';

/**
 * Event-channel delivery (PV ABI, docs/pv-abi.md): what a facet needs to signal the guest through
 * event channels. The shared-info page is the guest's; the methods never throw on guest state.
 */
export interface EventChannelDelivery {
  /** Sends the event bound to VIRQ `virq` (`Virq.*`); false (counted) if unbound or undeliverable. Hot path: no allocation. */
  sendVirq(virq: number): boolean;
  /** Binds a port for a VMM device; `onClose` runs if the guest closes it. The port, or a negative errno. */
  bindDevice(onClose: () => void): number;
  /** Sends on a port from {@link bindDevice}; false (counted) if it is no longer that device's. Hot path: no allocation. */
  sendDevice(port: number): boolean;
  /** Calls `listener` with the page's bytes each time the guest registers a shared-info page (the pvclock record lives there). */
  onSharedInfo(listener: (page: { readonly bytes: Uint8Array }) => void): void;
  /** True if an upcall is raised and not yet taken by the guest. */
  readonly eventPending: boolean;
  /**
   * After a snapshot restore: gives device port `port` (bound with {@link bindDevice} before the
   * snapshot) its close callback again. False if the restored table has no device port there.
   */
  restoreDevicePort(port: number, onClose: () => void): boolean;
  /** The registered shared-info page, if any (a clock facet rewrites its record after a snapshot restore). */
  readonly page: { readonly bytes: Uint8Array } | undefined;
}

/** A guest clock: the time the guest reads without an exit (pvclock, kvm-clock). */
export interface GuestClockSource {
  /** Guest system time now, in ns (what the guest would read at this moment). */
  nowNs(): number;
}

/**
 * Figures of a timer facet, read when telemetry samples (never on the tick path): the dashboard's
 * timer events and drift come from here, whatever facet keeps the time.
 */
export interface TimerStats {
  /** Timer interrupts (or events) delivered to the guest so far. */
  readonly events: number;
  /** Periods that ended while the VMM was late and were coalesced (0 for a timer that cannot lose ticks). */
  readonly lostTicks: number;
  /** The period the guest programmed, in ns (0: not periodic). Lost ticks × period = drift. */
  periodNs(): number;
}

/** Provided by the `event-channel` interrupt facet; needed by `pvclock` (VIRQ_TIMER) and `pv-blk` (completions). */
export const EVENT_CHANNELS: ServiceToken<EventChannelDelivery> = serviceToken('hyvisor.event-channels', 'event-channel delivery');

/** Provided by the `pvclock` timer facet: the guest's clock. */
export const GUEST_CLOCK: ServiceToken<GuestClockSource> = serviceToken('hyvisor.guest-clock', 'guest clock source');

/** Provided by timer facets that count what they deliver (`emulated-pit`, `pvclock`); read by telemetry. */
export const TIMER_STATS: ServiceToken<TimerStats> = serviceToken('hyvisor.timer-stats', 'timer statistics');

/**
 * The backend's in-kernel 8254 PIT exists (created with the in-kernel irqchip): it owns ports
 * 0x40-0x43 and 0x61 and raises IRQ 0 on the in-kernel PIC. A fact about the composition, with
 * nothing to call: provided (declared) by `kvm-irqchip` as `hvm` creates it, needed by `kvm-pit`,
 * excluded by `emulated-pit`.
 */
export const IN_KERNEL_PIT: ServiceToken<void> = serviceToken('hyvisor.in-kernel-pit', 'in-kernel PIT (the backend\'s 8254 on ports 0x40-0x43, ticking IRQ 0 on the in-kernel PIC)');
