/**
 * Event channels: the port table (VIRQ, PIRQ and VMM-device bindings, ports allocated from 1
 * upwards), the shared-info page they signal through, and delivery: pending bit → (unless masked)
 * `PENDING_SEL` bit → `UPCALL_PENDING` → one upcall vector, injected by the interrupt facet when
 * the guest can take it. No interrupt controller, no EOI: the guest acknowledges in shared memory.
 * See docs/pv-abi.md, "Shared info page and event channels".
 * @module
 */
import {
  EvtchnOp, HypercallError, SharedInfo, Virq,
  type Counters, type GuestMemory, type HypercallArgs, type IrqLine,
} from '@hyvisor/core';
import { SharedInfoPage, checkSharedInfoGpa } from './shared-info.js';

/** What a port is bound to. */
export const PortKind = {
  FREE: 0,
  /** A virtual interrupt (`Virq.*`). */
  VIRQ: 1,
  /** A device interrupt line (ISA IRQ). */
  PIRQ: 2,
  /** A PV device of the VMM (the block ring's completion port). */
  DEVICE: 3,
} as const;
export type PortKind = (typeof PortKind)[keyof typeof PortKind];

/** Number of VIRQs defined by the ABI. */
export const NR_VIRQS = Object.keys(Virq).length;
/** Device interrupt lines a port can be bound to (ISA IRQs 0..15). */
export const NR_PIRQS = 16;
/** Lowest and highest upcall vectors SET_CALLBACK accepts. */
export const UPCALL_VECTOR_MIN = 32;
export const UPCALL_VECTOR_MAX = 255;

const NR = SharedInfo.NR_EVENT_CHANNELS;

/** The event channels of one machine. */
export class EventChannels {
  private readonly kinds = new Uint8Array(NR);
  private readonly virqPorts = new Uint16Array(NR_VIRQS);
  private readonly pirqPorts = new Uint16Array(NR_PIRQS);
  private readonly onDeviceClose: ((() => void) | undefined)[] = new Array(NR).fill(undefined);
  private readonly lines: (IrqLine | undefined)[] = new Array(NR_PIRQS).fill(undefined);
  /** Level of each device line (1 = raised): a raise while raised sends nothing. */
  private readonly lineLevels = new Uint8Array(NR_PIRQS);
  private readonly sharedInfoListeners: ((page: SharedInfoPage) => void)[] = [];
  private memory: GuestMemory | undefined;
  private ramSize = 0;
  private counters: Counters | undefined;
  private slotSent = 0;
  private slotDropped = 0;
  private slotMasked = 0;

  /** The registered shared-info page, if any. */
  page: SharedInfoPage | undefined;
  /** The upcall vector (SET_CALLBACK); 0 until set. */
  vector = 0;
  /**
   * True when this side raised `UPCALL_PENDING` and the upcall vector is still to be injected
   * (read and cleared by the interrupt facet's `beforeRun`).
   */
  upcallWanted = false;

  /** Connects the table to guest memory and telemetry (at attach). */
  connect(memory: GuestMemory, ramSize: number, counters: Counters): void {
    this.memory = memory;
    this.ramSize = ramSize;
    this.counters = counters;
    this.slotSent = counters.define('pv.evtchn.sent', 'events sent (pending bit set)');
    this.slotDropped = counters.define('pv.evtchn.dropped', 'events dropped: no shared-info page yet, or an unbound VIRQ/PIRQ/device port');
    this.slotMasked = counters.define('pv.evtchn.masked', 'events left pending on a masked port');
  }

  /** Calls `listener` each time the guest registers a shared-info page (the pvclock record lives there). */
  onSharedInfo(listener: (page: SharedInfoPage) => void): void {
    this.sharedInfoListeners.push(listener);
  }

  /** True if an upcall is waiting: raised, not yet injected (whatever the guest's mask). */
  get eventPending(): boolean {
    return this.page !== undefined && this.page.upcallPending;
  }

  // ---- state (snapshots) -------------------------------------------------------------------

  /**
   * The table as a plain record: port bindings, the shared-info page's address (its bitmaps are
   * guest memory and travel with it), the upcall vector and whether an upcall is still to be
   * injected, and the device lines' levels.
   */
  saveState(): EventChannelsState {
    return {
      version: 1,
      kinds: [...this.kinds], virqPorts: [...this.virqPorts], pirqPorts: [...this.pirqPorts], lineLevels: [...this.lineLevels],
      sharedInfoGpa: this.page?.gpa ?? null, vector: this.vector, upcallWanted: this.upcallWanted,
    };
  }

  /**
   * Restores a record from {@link saveState} after guest memory (the shared-info page is not
   * cleared: it is the guest's). Device ports come back bound without their close callbacks:
   * their owner re-attaches one with {@link restoreDevicePort}. Checks everything before changing
   * anything; throws `Error` naming the field.
   */
  restoreState(state: EventChannelsState): void {
    const bad = (field: string): never => { throw new Error(`event-channel state ${field} is not valid`); };
    if (state?.version !== 1) bad(`version ${JSON.stringify(state?.version)}`);
    const arr = (v: unknown, n: number, max: number, field: string): number[] => {
      if (!Array.isArray(v) || v.length !== n || !v.every((x) => Number.isInteger(x) && x >= 0 && x <= max)) bad(field);
      return v as number[];
    };
    const kinds = arr(state.kinds, NR, PortKind.DEVICE, 'kinds');
    const virq = arr(state.virqPorts, NR_VIRQS, NR - 1, 'virqPorts');
    const pirq = arr(state.pirqPorts, NR_PIRQS, NR - 1, 'pirqPorts');
    const levels = arr(state.lineLevels, NR_PIRQS, 1, 'lineLevels');
    if (state.vector !== 0 && (!Number.isInteger(state.vector) || state.vector < UPCALL_VECTOR_MIN || state.vector > UPCALL_VECTOR_MAX)) bad('vector');
    if (typeof state.upcallWanted !== 'boolean') bad('upcallWanted');
    let page: SharedInfoPage | undefined;
    if (state.sharedInfoGpa !== null) {
      if (this.memory === undefined || checkSharedInfoGpa(this.ramSize, state.sharedInfoGpa) !== 0) bad('sharedInfoGpa');
      page = SharedInfoPage.attach(this.memory!, state.sharedInfoGpa);
      if (page === undefined) bad('sharedInfoGpa');
    }
    this.kinds.set(kinds);
    this.virqPorts.set(virq);
    this.pirqPorts.set(pirq);
    this.lineLevels.set(levels);
    this.onDeviceClose.fill(undefined);
    this.page = page;
    this.vector = state.vector;
    this.upcallWanted = state.upcallWanted;
  }

  /** After {@link restoreState}: gives device port `port` its owner's close callback again. */
  restoreDevicePort(port: number, onClose: () => void): boolean {
    if (this.kindOf(port) !== PortKind.DEVICE) return false;
    this.onDeviceClose[port] = onClose;
    return true;
  }

  // ---- hypercalls -------------------------------------------------------------------------

  /** REGISTER_SHARED_INFO(gpa): 0, -EINVAL (not page aligned), -EFAULT (not a RAM page). */
  registerSharedInfo(gpa: number): number {
    const memory = this.memory;
    if (memory === undefined) return HypercallError.EINVAL;
    const bad = checkSharedInfoGpa(this.ramSize, gpa);
    if (bad !== 0) return bad;
    const page = SharedInfoPage.register(memory, gpa);
    if (page === undefined) return HypercallError.EFAULT;
    this.page = page;
    this.upcallWanted = false;
    for (const l of this.sharedInfoListeners) l(page);
    return 0;
  }

  /** SET_CALLBACK(vector): 0, or -EINVAL outside 32..255. */
  setCallback(vector: number): number {
    if (!Number.isInteger(vector) || vector < UPCALL_VECTOR_MIN || vector > UPCALL_VECTOR_MAX) return HypercallError.EINVAL;
    this.vector = vector;
    return 0;
  }

  /** EVENT_CHANNEL_OP(cmd, arg). */
  readonly handleOp = (args: HypercallArgs): number => {
    const arg = args.a1;
    switch (args.a0) {
      case EvtchnOp.BIND_VIRQ: return this.bindVirq(arg);
      case EvtchnOp.BIND_PIRQ: return this.bindPirq(arg);
      case EvtchnOp.SEND: return this.isBound(arg) ? (this.send(arg), 0) : HypercallError.EINVAL;
      case EvtchnOp.UNMASK: return this.unmask(arg);
      case EvtchnOp.MASK: return this.mask(arg);
      case EvtchnOp.CLOSE: return this.close(arg);
      default: return HypercallError.EINVAL;
    }
  };

  /** BIND_VIRQ: the new port, -EINVAL (no such VIRQ), -EBUSY (already bound), -ENOSPC. */
  bindVirq(virq: number): number {
    if (!Number.isInteger(virq) || virq < 0 || virq >= NR_VIRQS) return HypercallError.EINVAL;
    if (this.virqPorts[virq] !== 0) return HypercallError.EBUSY;
    const port = this.allocate(PortKind.VIRQ);
    if (port > 0) this.virqPorts[virq] = port;
    return port;
  }

  /** BIND_PIRQ: the new port, -EINVAL (not an ISA IRQ), -EBUSY (already bound), -ENOSPC. */
  bindPirq(irq: number): number {
    if (!Number.isInteger(irq) || irq < 0 || irq >= NR_PIRQS) return HypercallError.EINVAL;
    if (this.pirqPorts[irq] !== 0) return HypercallError.EBUSY;
    const port = this.allocate(PortKind.PIRQ);
    if (port > 0) this.pirqPorts[irq] = port;
    return port;
  }

  /**
   * Binds a port for a VMM device (its completion events); `onClose` runs if the guest closes
   * it. Returns the port or -ENOSPC.
   */
  bindDevice(onClose: () => void): number {
    const port = this.allocate(PortKind.DEVICE);
    if (port > 0) this.onDeviceClose[port] = onClose;
    return port;
  }

  /** MASK(port): 0 or -EINVAL (unbound). */
  mask(port: number): number {
    if (!this.isBound(port)) return HypercallError.EINVAL;
    this.page?.setMasked(port, true);
    return 0;
  }

  /** UNMASK(port): clears the mask bit and delivers the event if it is pending. 0 or -EINVAL. */
  unmask(port: number): number {
    if (!this.isBound(port)) return HypercallError.EINVAL;
    const page = this.page;
    if (page !== undefined) {
      page.setMasked(port, false);
      if (page.isPending(port)) this.signal(page, port);
    }
    return 0;
  }

  /** CLOSE(port): unbinds; the port's pending bit is cleared and its mask bit set (a later bind starts masked). */
  close(port: number): number {
    if (!this.isBound(port)) return HypercallError.EINVAL;
    const kind = this.kinds[port]!;
    if (kind === PortKind.VIRQ) this.virqPorts[this.virqPorts.indexOf(port)] = 0;
    else if (kind === PortKind.PIRQ) this.pirqPorts[this.pirqPorts.indexOf(port)] = 0;
    else if (kind === PortKind.DEVICE) {
      const cb = this.onDeviceClose[port];
      this.onDeviceClose[port] = undefined;
      cb?.();
    }
    this.kinds[port] = PortKind.FREE;
    if (this.page !== undefined) {
      this.page.clearPending(port);
      this.page.setMasked(port, true);
    }
    return 0;
  }

  // ---- sending (hot path: no allocation) --------------------------------------------------

  /** Sends the event bound to VIRQ `virq`; false (counted) if unbound or undeliverable. */
  sendVirq(virq: number): boolean {
    const port = virq >= 0 && virq < NR_VIRQS ? this.virqPorts[virq]! : 0;
    return port !== 0 ? this.send(port) : this.drop();
  }

  /** Sends the event bound to device line `irq`; false (counted) if unbound or undeliverable. */
  sendPirq(irq: number): boolean {
    const port = irq >= 0 && irq < NR_PIRQS ? this.pirqPorts[irq]! : 0;
    return port !== 0 ? this.send(port) : this.drop();
  }

  /** Sends on a device port from {@link bindDevice}; false (counted) if it is no longer a device port. */
  sendDevice(port: number): boolean {
    return port > 0 && port < NR && this.kinds[port] === PortKind.DEVICE ? this.send(port) : this.drop();
  }

  /**
   * Sets pending bit `port`; unless masked, its `PENDING_SEL` bit, and `UPCALL_PENDING` if it was
   * clear (the upcall is then wanted). False (counted) without a shared-info page.
   */
  send(port: number): boolean {
    const page = this.page;
    if (page === undefined) return this.drop();
    this.bump(this.slotSent);
    page.setPending(port);
    if (page.isMasked(port)) {
      this.bump(this.slotMasked);
      return true;
    }
    this.signal(page, port);
    return true;
  }

  /** The interrupt line for ISA IRQ `irq`: a rising edge sends the event of the port bound to it. */
  irqLine(irq: number): IrqLine {
    if (!Number.isInteger(irq) || irq < 0 || irq >= NR_PIRQS) {
      throw new RangeError(`event-channel: IRQ ${irq} is not an ISA interrupt line (0..${NR_PIRQS - 1})`);
    }
    let line = this.lines[irq];
    if (line === undefined) {
      const levels = this.lineLevels;
      line = {
        raise: () => {
          if (levels[irq] !== 0) return;
          levels[irq] = 1;
          this.sendPirq(irq);
        },
        lower: () => { levels[irq] = 0; },
      };
      this.lines[irq] = line;
    }
    return line;
  }

  /** The kind of binding of `port`. */
  kindOf(port: number): PortKind {
    return port > 0 && port < NR ? (this.kinds[port]! as PortKind) : PortKind.FREE;
  }

  private signal(page: SharedInfoPage, port: number): void {
    page.selectWord(port >> 6);
    if (!page.upcallPending) {
      page.upcallPending = true;
      this.upcallWanted = true;
    }
  }

  private isBound(port: number): boolean {
    return Number.isInteger(port) && port > 0 && port < NR && this.kinds[port] !== PortKind.FREE;
  }

  private allocate(kind: PortKind): number {
    const kinds = this.kinds;
    for (let p = 1; p < NR; p++) {
      if (kinds[p] === PortKind.FREE) {
        kinds[p] = kind;
        return p;
      }
    }
    return HypercallError.ENOSPC;
  }

  private drop(): false {
    this.bump(this.slotDropped);
    return false;
  }

  private bump(slot: number): void {
    const c = this.counters;
    if (c !== undefined) c.values[slot]!++;
  }
}

/** {@link EventChannels.saveState}'s record (version 1). */
export interface EventChannelsState {
  readonly version: 1;
  /** Per port, its {@link PortKind}. */
  readonly kinds: number[];
  readonly virqPorts: number[];
  readonly pirqPorts: number[];
  readonly lineLevels: number[];
  readonly sharedInfoGpa: number | null;
  readonly vector: number;
  readonly upcallWanted: boolean;
}
