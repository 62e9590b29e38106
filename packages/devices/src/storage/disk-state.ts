/**
 * A disk in a machine's saved state: a file disk is named by path and size (its contents are not
 * copied: the file is the disk, as in Firecracker's snapshots), a memory disk's sectors travel as
 * a blob beside the state record. Shared by the disk-owning facets (ATA, pv-blk).
 * @module
 */
import { FileBlockStore, MemoryBlockStore, SECTOR_SIZE, type BlockStore } from './block-store.js';

/** How a disk is recorded in a state record. */
export type DiskState =
  | { readonly kind: 'file'; readonly path: string; readonly sectors: number }
  | { readonly kind: 'memory'; readonly sectors: number; readonly blob: string };

/**
 * Records `store`: a file disk is flushed (so the file holds every write the guest completed) and
 * named by `path`; a memory disk's bytes are put in `blobs` under `blob`. Another kind of store
 * cannot be saved: `Error`.
 */
export function diskStateOf(store: BlockStore, path: string | undefined, blobs: Map<string, Uint8Array>, blob: string): DiskState {
  if (store instanceof FileBlockStore) {
    store.flush();
    return { kind: 'file', path: path ?? store.path, sectors: store.sectorCount };
  }
  if (store instanceof MemoryBlockStore) {
    blobs.set(blob, store.data);
    return { kind: 'memory', sectors: store.sectorCount, blob };
  }
  throw new Error(`a disk of type ${store.constructor.name} cannot be saved in a snapshot (only file and memory disks)`);
}

/**
 * Checks that `store` is the disk `state` recorded and, for a memory disk, loads its sectors from
 * `blobs`. A file disk must be the same path with the same number of sectors; throws `Error`
 * naming `owner` and what differs (nothing is changed then).
 */
export function restoreDiskState(store: BlockStore, path: string | undefined, state: DiskState, blobs: Map<string, Uint8Array>, blob: string, owner: string): void {
  if (state?.kind === 'file') {
    const here = store instanceof FileBlockStore ? path ?? store.path : undefined;
    if (here === undefined) throw new Error(`${owner}: the snapshot's disk is the file ${state.path}, but this machine has a memory disk; configure storage.path: ${state.path}`);
    if (here !== state.path) throw new Error(`${owner}: the snapshot's disk is ${state.path}, but this machine's is ${here}`);
    if (store.sectorCount !== state.sectors) {
      throw new Error(`${owner}: disk ${here} has ${store.sectorCount * SECTOR_SIZE} bytes, the snapshot was taken with ${state.sectors * SECTOR_SIZE}`);
    }
    return;
  }
  if (state?.kind === 'memory') {
    if (!(store instanceof MemoryBlockStore)) throw new Error(`${owner}: the snapshot's disk was in memory, but this machine's is a file; remove storage: from the config`);
    const bytes = blobs.get(state.blob ?? blob);
    if (bytes === undefined) throw new Error(`${owner}: the snapshot lacks its memory disk (${blob})`);
    if (bytes.length !== store.data.length || state.sectors !== store.sectorCount) {
      throw new Error(`${owner}: the snapshot's memory disk has ${bytes.length} bytes, this machine's ${store.data.length}`);
    }
    store.data.set(bytes);
    return;
  }
  throw new Error(`${owner}: disk state kind ${JSON.stringify((state as { kind?: unknown })?.kind)} is not valid`);
}
