/**
 * The PV I/O facet: the block ring. Requests travel in a virtio split virtqueue in guest RAM; the
 * guest notifies once per batch on `Ports.PV_BLK_NOTIFY` (an ioeventfd where the backend has
 * one: no exit) and gets one completion event per batch. Backed by the same host file as the
 * HVM disk.
 * @module
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  DisposableStore, EVENT_CHANNELS, FacetBase, FeatureBits, Hypercall, Ports, Storage, defineFacet,
  type Disposable, type EventChannelDelivery, type FacetState, type FacetStateContext, type IoEventFd, type IoFacet, type MachineContext, type PioDevice,
} from '@hyvisor/core';
import { FileBlockStore, MemoryBlockStore, diskStateOf, restoreDiskState, type BlockStore, type DiskState } from '@hyvisor/devices';
import { BlkRing, checkRingSetup, type BlkRingState } from '../io/blk-ring.js';

import { PV_DOMAIN } from '../pv-domain.js';

/** Size of the memory-backed disk used when the config has no `storage` (as the HVM disk). */
const DEFAULT_DISK_BYTES = 16 * 1024 * 1024;
/** The only queue: the value the guest writes to the notify port. */
export const BLK_QUEUE_INDEX = 0;
/** Width of the notify write the ioeventfd matches: 16 bits (`outw`), as virtio's queue notify. */
export const BLK_NOTIFY_SIZE = 2;

/** Options of {@link PvBlkIo}. */
export interface PvBlkOptions {
  /** Use an ioeventfd for notifications when the backend offers one (default true). */
  readonly ioeventfd?: boolean;
  /** The disk (default: the configured storage file, or 16 MiB of memory). For tests and embedding. */
  readonly store?: BlockStore;
}

/** The notify port when every write exits: processes the ring at once. */
class NotifyPort implements PioDevice {
  constructor(private readonly ring: BlkRing) {}

  read(): number {
    return 0xffff;
  }

  write(_offset: number, _size: number, value: number): void {
    if (value !== BLK_QUEUE_INDEX || !this.ring.active) {
      this.ring.ignoredNotify();
      return;
    }
    this.ring.process();
  }
}

/**
 * I/O facet `pv-blk`: registers `BLK_SETUP` (returns the completion event port), `BLK_INFO`
 * (the disk's capacity in sectors, callable before or after setup), the notify port
 * (an ioeventfd drained at the run loop's poll points and at `SCHED_OP(BLOCK)` when the backend
 * has `ioeventfd`; else a port device that processes the ring at once), and the ring processor.
 * Completions are events on a device port of `EVENT_CHANNELS`, whichever facet provides them.
 */
export class PvBlkIo extends FacetBase<'io'> implements IoFacet {
  static readonly info = defineFacet({
    facet: 'io',
    name: 'pv-blk',
    description: 'virtio-blk requests on a shared split ring: one notification (ioeventfd where available) and one completion event per batch',
    requires: [],
    needs: [EVENT_CHANNELS, PV_DOMAIN],
  });

  readonly featureBits = FeatureBits.PV_IO;
  /** The ring, once attached. */
  ring: BlkRing | undefined;
  /** The completion event port (0 until BLK_SETUP). */
  port = 0;
  /** True if notifications arrive through an ioeventfd. */
  usesIoEventFd = false;

  private store: BlockStore | undefined;
  private events: EventChannelDelivery | undefined;
  private storagePath: string | undefined;
  private drain: () => void = () => {};

  constructor(private readonly options: PvBlkOptions = {}) {
    super();
  }

  /**
   * The ring's indices, the completion port and the disk: a file disk by path and size (not
   * copied), a memory disk's sectors as the blob `io.disk`. A notification still waiting in the
   * ioeventfd is served first, so none is lost.
   */
  saveState(ctx: FacetStateContext): PvBlkState {
    this.drain();
    return { version: 1, port: this.port, ring: this.ring!.saveState(), disk: diskStateOf(this.store!, this.storagePath, ctx.blobs, 'io.disk') };
  }

  restoreState(state: FacetState, ctx: FacetStateContext): void {
    const s = state as PvBlkState;
    if (s?.version !== 1) throw new Error(`pv-blk state version ${JSON.stringify(s?.version)} is not supported (expected 1)`);
    if (!Number.isInteger(s.port) || s.port < 0) throw new Error('pv-blk state port is not valid');
    restoreDiskState(this.store!, this.storagePath, s.disk, ctx.blobs, 'io.disk', 'pv-blk');
    this.ring!.restoreState(s.ring);
    this.port = s.port;
    if (s.port !== 0 && this.events?.restoreDevicePort(s.port, () => { this.port = 0; }) !== true) {
      throw new Error(`pv-blk state: event-channel port ${s.port} is not a device port in the restored event channels`);
    }
  }

  attach(ctx: MachineContext): Disposable {
    const domain = ctx.services.get(PV_DOMAIN);
    const events = ctx.services.get(EVENT_CHANNELS);
    const owned = new DisposableStore();
    const store = this.options.store ?? openStore(ctx, owned);
    this.store = store;
    this.events = events;
    this.storagePath = this.options.store === undefined ? ctx.config?.storage?.path : undefined;
    const ring = new BlkRing(ctx.vm.memory, ctx.ramSize, store, () => events.sendDevice(this.port), ctx.telemetry.counters);
    this.ring = ring;
    ctx.hypercalls.register(Hypercall.BLK_SETUP, 'BLK_SETUP', (a) => {
      const bad = checkRingSetup(ctx.ramSize, a.a0, a.a1, a.a2, a.a3);
      if (bad !== 0) return bad;
      if (this.port === 0) {
        const port = events.bindDevice(() => { this.port = 0; });
        if (port < 0) return port;
        this.port = port;
      }
      ring.setup(a.a0, a.a1, a.a2, a.a3);
      return this.port;
    });
    ctx.hypercalls.register(Hypercall.BLK_INFO, 'BLK_INFO', () => ring.capacity);
    // Every notify that exits (any width, or no ioeventfd) is handled at once.
    ctx.pio.register('pv-blk-notify', Ports.PV_BLK_NOTIFY, 1, new NotifyPort(ring));
    let efd: IoEventFd | undefined;
    const ioEvents = ctx.vm.ioEvents;
    if ((this.options.ioeventfd ?? true) && ioEvents !== undefined) {
      efd = owned.add(ioEvents.add({ space: 'pio', address: Ports.PV_BLK_NOTIFY, size: BLK_NOTIFY_SIZE, match: BLK_QUEUE_INDEX }));
      const fd = efd;
      owned.add(ctx.addPollHook(() => {
        if (fd.take() > 0) ring.process();
      }));
    }
    this.usesIoEventFd = efd !== undefined;
    this.drain = () => { if (efd !== undefined && efd.take() > 0) ring.process(); };
    // Before the vCPU sleeps, finish what the guest queued.
    const fd = efd;
    owned.add(domain.sched.addBeforeBlock(() => {
      if (fd !== undefined) fd.take();
      return ring.process();
    }));
    return owned;
  }
}

/** The configured storage file (created if missing), or a 16 MiB memory disk. */
function openStore(ctx: MachineContext, owned: DisposableStore): BlockStore {
  const storage = ctx.config?.storage;
  if (!storage) return new MemoryBlockStore(DEFAULT_DISK_BYTES / Storage.SECTOR_SIZE);
  fs.mkdirSync(path.dirname(storage.path), { recursive: true });
  const file = FileBlockStore.open(storage.path, { createSizeBytes: storage.size });
  owned.add(file);
  return file;
}

/** {@link PvBlkIo.saveState}'s record (version 1). */
export interface PvBlkState {
  readonly version: 1;
  /** The completion event-channel port (0: none bound). */
  readonly port: number;
  readonly ring: BlkRingState;
  readonly disk: DiskState;
}
