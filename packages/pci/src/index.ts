/**
 * PCI for Hyvisor machines: configuration space with guest-assigned BARs, bus 0 behind a type-1
 * host bridge (the `pci-host` device), and MSI-X.
 * @module
 */
export { BAR_COUNT, PciCommand, PciConfig, PciConfigSpace, PciStatus, type PciBarSpec, type PciIdentity } from './config-space.js';
export { PciFunctionBase, type PciFunction } from './function.js';
export { PCI_CONFIG_ADDRESS_PORT, PCI_CONFIG_DATA_PORT, PCI_MAX_ADDRESS, PCI_SLOTS, PciBus, PciConfigIo, type PciBusStats } from './bus.js';
export { MSIX_CAPABILITY_ID, MSIX_ENABLE, MSIX_ENTRY_MASKED, MSIX_ENTRY_SIZE, MSIX_FUNCTION_MASK, MSIX_MAX_VECTORS, Msix } from './msix.js';
export { PCI_CLASS_HOST_BRIDGE, PCI_VENDOR_REDHAT, PciHostBridge, pciHostDevice } from './host-bridge.js';
