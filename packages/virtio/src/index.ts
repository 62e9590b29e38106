/**
 * virtio for Hyvisor: split virtqueues over hostile guest memory and the virtio-blk request
 * server (shared by the PV block ring and virtio-blk).
 * @module
 */
export {
  AVAIL_F_NO_INTERRUPT, DESC_SIZE, DescFlag, DescriptorChain, MAX_CHAIN_BYTES, MAX_QUEUE_SIZE, QueueFault, SplitQueue, USED_F_NO_NOTIFY,
  type MemoryCheck, type QueueLayout, type SplitQueueState,
} from './queue/split-queue.js';
export { BlkRequest, BlkRequestError, BlkRequestServer, MAX_REQUEST_BYTES, type BlkServerOptions } from './blk/blk-request.js';
export {
  CommonCfg, Isr, NO_VECTOR, VIRTIO_PCI_DEVICE_BASE, VIRTIO_PCI_VENDOR, VirtioBarLayout, VirtioFeature, VirtioPciCap, VirtioPciFunction,
  VirtioStatus, type VirtioDevice, type VirtioPciStats, type VirtioPciWiring,
} from './pci/virtio-pci.js';
export { RNG_MAX_BYTES_PER_REQUEST, VIRTIO_ID_RNG, VirtioRng, hostEntropy, seededEntropy, type EntropySource } from './rng/virtio-rng.js';
export { VIRTIO_DEFAULT_IRQ, VIRTIO_DEVICES, addVirtioDevices, plugVirtioPci, registerVirtioDevices, virtioBlkDevice, virtioRngDevice } from './devices.js';
export { VIRTIO_ID_BLOCK, VirtioBlk, VirtioBlkConfig, VirtioBlkFeature } from './blk/virtio-blk.js';
