/**
 * Emulated storage: an ATA-PIO disk on the primary channel whose data moves through its data
 * register, one trap per access, as emulated HVM devices do. Backed by the configured host file
 * (created if missing), or by 16 MiB of memory when the config names none.
 * @module
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FacetBase, Irq, Ports, Storage, defineFacet, type Disposable, type IoFacet, type MachineContext } from '@hyvisor/core';
import { AtaDisk } from '../io/ata-disk.js';
import { FileBlockStore, MemoryBlockStore, type BlockStore } from '@hyvisor/devices';

/** Size of the memory-backed disk used when the config has no `storage`. */
const DEFAULT_DISK_BYTES = 16 * 1024 * 1024;

/** I/O facet: register-level devices (the console UART is a standard device; this adds the disk). */
export class EmulatedAta extends FacetBase<'io'> implements IoFacet {
  static readonly info = defineFacet({
    facet: 'io',
    name: 'emulated-ata',
    description: 'ATA-PIO disk at 0x1f0 moving data through its data register: one exit per access',
    requires: [],
  });

  readonly featureBits = 0;
  /** The disk, once attached. */
  disk: AtaDisk | undefined;

  attach(ctx: MachineContext): Disposable {
    const storage = ctx.config?.storage;
    let store: BlockStore & Partial<Disposable>;
    if (storage) {
      fs.mkdirSync(path.dirname(storage.path), { recursive: true });
      store = FileBlockStore.open(storage.path, { createSizeBytes: storage.size });
    } else {
      store = new MemoryBlockStore(DEFAULT_DISK_BYTES / Storage.SECTOR_SIZE);
    }
    const disk = new AtaDisk(store, ctx.irqLine(Irq.ATA_PRIMARY));
    ctx.pio.register('ata', Ports.ATA_PRIMARY, AtaDisk.PORT_COUNT, disk);
    ctx.pio.register('ata-control', Ports.ATA_CONTROL, AtaDisk.CONTROL_PORT_COUNT, disk.control);
    this.disk = disk;
    return { dispose: () => store.dispose?.() };
  }
}
