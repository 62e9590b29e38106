/**
 * The guest ABI: every constant a guest and the VMM must agree on, defined once here. The C
 * header the guests include (`hyvisor_abi.h`) is generated from this file at build time by
 * {@link renderCHeader}, so the two languages cannot drift apart. Documented in docs/guest-abi.md.
 * @module
 */

/** Guest-physical layout the VMM sets up before the first instruction (after Firecracker's). */
export const BootLayout = {
  /** GDT the VMM builds for long mode. */
  GDT: 0x500,
  /** PVH `hvm_start_info` (boot-information page). */
  START_INFO: 0x6000,
  /** E820-style memory map referenced by the start info. */
  MEMMAP: 0x6100,
  /** Most memory-map entries the VMM writes. */
  MEMMAP_MAX_ENTRIES: 8,
  /** NUL-terminated command line. */
  CMDLINE: 0x7000,
  /** Room for the command line including its NUL. */
  CMDLINE_MAX: 0x800,
  /** Initial stack top (grows down to 0x7800). */
  BOOT_STACK_TOP: 0x8ff0,
  /** Level-4 page table. */
  PML4: 0x9000,
  /** Level-3 page table (covers 512 GiB). */
  PDPT: 0xa000,
  /** Level-2 page tables, 4 pages (2 MiB pages, identity-mapping the first 4 GiB). */
  PD: 0xb000,
  /** Number of level-2 tables. */
  PD_COUNT: 4,
  /** Lowest guest-physical address an ELF segment may use: below it is the VMM's boot area. */
  KERNEL_MIN: 0x100000,
} as const;

/** PVH start-info (`struct hvm_start_info`, Xen's `arch-x86/hvm/start_info.h`, version 1). */
export const StartInfo = {
  MAGIC: 0x336ec578,
  VERSION: 1,
  SIZE: 56,
  OFF_MAGIC: 0,
  OFF_VERSION: 4,
  OFF_FLAGS: 8,
  OFF_NR_MODULES: 12,
  OFF_MODLIST_PADDR: 16,
  OFF_CMDLINE_PADDR: 24,
  OFF_RSDP_PADDR: 32,
  OFF_MEMMAP_PADDR: 40,
  OFF_MEMMAP_ENTRIES: 48,
  /** Size of one `hvm_memmap_table_entry` (addr u64, size u64, type u32, reserved u32). */
  MEMMAP_ENTRY_SIZE: 24,
  /** Memory-map entry type: usable RAM. */
  MEMMAP_TYPE_RAM: 1,
  /** Memory-map entry type: reserved. */
  MEMMAP_TYPE_RESERVED: 2,
} as const;

/** I/O ports of the devices every Hyvisor machine has. */
export const Ports = {
  /** 16550 UART (COM1), 8 registers. */
  COM1: 0x3f8,
  /** Exit port compatible with QEMU's `isa-debug-exit` (iobase=0xf4, iosize=4). */
  DEBUG_EXIT: 0xf4,
  /** Benchmark port: a write is handled by a device that only counts it. BENCH+1 is the marker port (1 = start, 2 = end). */
  BENCH: 0x510,
  /** Interrupt test device: a write asks it to raise its line; a read acknowledges (lowers it) and returns the count raised. */
  IRQ_TEST: 0x512,
  /** Stall device: a 32-bit write of N makes the VMM hold the vCPU for N ms before resuming it (at most 250 ms in any second; testbed board only). */
  STALL: 0x514,
  /** 8259 PIC, master (command, data). */
  PIC_MASTER: 0x20,
  /** 8259 PIC, slave (command, data). */
  PIC_SLAVE: 0xa0,
  /** 8254 PIT: channels 0-2 at 0x40-0x42, mode/command at 0x43. */
  PIT: 0x40,
  /** Port B (0x61): PIT channel 2 gate (bit 0) and output (bit 5). */
  PORT_B: 0x61,
  /** ATA primary channel command block (data, error/features, count, LBA 0-7, 8-15, 16-23, drive/head, status/command). */
  ATA_PRIMARY: 0x1f0,
  /** ATA primary channel control block (alternate status / device control). */
  ATA_CONTROL: 0x3f6,
  /**
   * Hypercall doorbell (PV ABI): `outl %eax, (%dx)` with DX = this port, EAX = hypercall number,
   * arguments in RDI, RSI, R10, R8, R9; the result comes back in RAX. See docs/pv-abi.md.
   */
  HYPERCALL: 0x520,
  /** PV block ring notification (a write of the queue index; an ioeventfd where the backend has one). */
  PV_BLK_NOTIFY: 0x524,
} as const;

/** Hypercall numbers (PV ABI). Modelled on Xen's; the semantics are in docs/pv-abi.md. */
export const Hypercall = {
  /** (reqs_gpa, count): apply `count` ≤ MMU_UPDATE_MAX {u64 ptr, u64 val} page-table updates, all or none. */
  MMU_UPDATE: 1,
  /** (cmd, gpa, arg): table life cycle: MmuExt.* */
  MMUEXT_OP: 2,
  /** (deadline_ns): one-shot timer at pvclock system time; fires VIRQ_TIMER. 0 cancels. */
  SET_TIMER_OP: 3,
  /** (cmd, arg): EvtchnOp.* */
  EVENT_CHANNEL_OP: 4,
  /** (cmd, arg): SchedOp.* */
  SCHED_OP: 5,
  /** (): the system-call bounce: the guest kernel's entry from user mode reports here first. */
  SYSCALL_ENTRY: 6,
  /** (frame_gpa): validates the return-to-user frame {rip, cs, rflags, rsp, ss} before the guest's iretq. */
  IRET: 7,
  /** (gpa): the page-aligned RAM page the VMM shares with the guest (vcpu info, pvclock, event bitmaps). */
  REGISTER_SHARED_INFO: 8,
  /** (vector): the upcall vector events are delivered on (32..255). */
  SET_CALLBACK: 9,
  /** (desc_gpa, avail_gpa, used_gpa, queue_size): set up the PV block ring; returns its completion event port. */
  BLK_SETUP: 10,
  /** (): the PV block device's capacity in 512-byte sectors (virtio-blk's config `capacity`). */
  BLK_INFO: 11,
  /** Most updates one MMU_UPDATE call takes. */
  MMU_UPDATE_MAX: 512,
} as const;

/** MMUEXT_OP commands. */
export const MmuExt = {
  /** (gpa, level 1..4): make a free pool page a page table of that level (the VMM zeroes it). */
  DECLARE_TABLE: 1,
  /** (gpa): give a table page back to the pool (must be unreferenced and unpinned). */
  RELEASE_TABLE: 2,
  /** (gpa): validate an L4 table and everything below it, and pin it (it may become a base pointer). */
  PIN_L4: 3,
  /** (gpa): unpin an L4 table. */
  UNPIN_L4: 4,
  /** (gpa): the pinned L4 the guest is about to load into CR3 (cooperative on KVM, enforced on the emulator). */
  NEW_BASEPTR: 5,
} as const;

/** EVENT_CHANNEL_OP commands. */
export const EvtchnOp = {
  /** (virq): bind a virtual interrupt (Virq.*); returns the port. */
  BIND_VIRQ: 1,
  /** (irq): bind a device interrupt line (ISA numbering, Irq.*); returns the port. */
  BIND_PIRQ: 2,
  /** (port): raise an event on the guest's own port (loopback; tests and self-notification). */
  SEND: 3,
  /** (port): clear the mask bit and deliver the event if it is pending. */
  UNMASK: 4,
  /** (port): unbind. */
  CLOSE: 5,
  /** (port): set the mask bit (the guest may also set it in shared memory). */
  MASK: 6,
} as const;

/** SCHED_OP commands. */
export const SchedOp = {
  /** Give up the rest of the time slice. */
  YIELD: 0,
  /** Sleep until an event is pending (the PV idle loop; replaces sti;hlt). */
  BLOCK: 1,
} as const;

/** Virtual interrupts (VIRQs) an event channel can be bound to. */
export const Virq = {
  /** The one-shot timer set by SET_TIMER_OP. */
  TIMER: 0,
} as const;

/**
 * The shared-info page (PV ABI), Xen-like. A `vcpu_info` at offset 0 (upcall flags, pending
 * selector, pvclock), then the event-channel pending and mask bitmaps.
 */
export const SharedInfo = {
  /** u8: set by the VMM when an event is pending; the guest clears it in its upcall handler. */
  UPCALL_PENDING: 0x00,
  /** u8: the guest sets it to hold off upcalls (like clearing IF). */
  UPCALL_MASK: 0x01,
  /** u64: bit i set = word i of the pending bitmap may have events. */
  PENDING_SEL: 0x08,
  /** vcpu_time_info (32 bytes), the layout Linux's pvclock and Xen share. */
  TIME: 0x20,
  /** Pending bitmap: NR_EVENT_CHANNELS bits. */
  EVTCHN_PENDING: 0x800,
  /** Mask bitmap: NR_EVENT_CHANNELS bits (a masked port keeps its pending bit). */
  EVTCHN_MASK: 0xa00,
  /** Event channel ports 0..NR_EVENT_CHANNELS-1 (port 0 is never bound). */
  NR_EVENT_CHANNELS: 1024,
} as const;

/** `struct pvclock_vcpu_time_info` field offsets (within SharedInfo.TIME), 32 bytes. */
export const PvClock = {
  /** u32: odd while the VMM updates the record (a seqlock). */
  VERSION: 0,
  /** u64: TSC value at which system_time was taken. */
  TSC_TIMESTAMP: 8,
  /** u64: ns since the VM started, at tsc_timestamp. */
  SYSTEM_TIME: 16,
  /** u32: time = system_time + (((tsc - tsc_timestamp) << shift) * mul) >> 32 (shift < 0: >>). */
  TSC_TO_SYSTEM_MUL: 24,
  /** i8. */
  TSC_SHIFT: 28,
  /** u8: bit 0 = TSC stable. */
  FLAGS: 29,
  SIZE: 32,
} as const;

/** The page-table pool of PV direct paging: a read-only region; tables live only here. */
export const PtPool = {
  /** Guest-physical base (above guest RAM, inside the first 4 GiB). */
  BASE: 0xc0000000,
  /** Size: 1024 tables of 4 KiB. */
  SIZE: 0x400000,
} as const;

/** Virtio split-ring and virtio-blk constants used by the PV block ring. */
export const Virtq = {
  /** Descriptor: {u64 addr, u32 len, u16 flags, u16 next}. */
  DESC_SIZE: 16,
  DESC_F_NEXT: 1,
  DESC_F_WRITE: 2,
  /** avail.flags bit: the guest does not want a completion event. */
  AVAIL_F_NO_INTERRUPT: 1,
  /** Largest queue the VMM accepts (a power of two). */
  MAX_QUEUE_SIZE: 256,
  /** Request header {u32 type, u32 reserved, u64 sector}. */
  BLK_HEADER_SIZE: 16,
  BLK_T_IN: 0,
  BLK_T_OUT: 1,
  BLK_T_FLUSH: 4,
  BLK_S_OK: 0,
  BLK_S_IOERR: 1,
  BLK_S_UNSUPP: 2,
} as const;

/** Hypercall error results (negated errno values, as Xen and Linux return them). */
export const HypercallErrno = {
  EPERM: 1,
  EFAULT: 14,
  EBUSY: 16,
  EINVAL: 22,
  ENOSPC: 28,
  ENOSYS: 38,
} as const;

/** ISA interrupt lines (PIC inputs, IOAPIC GSIs) of the standard devices. */
export const Irq = {
  PIT: 0,
  COM1: 4,
  IRQ_TEST: 5,
  ATA_PRIMARY: 14,
} as const;

/** Fixed guest-physical addresses of emulated platform devices. */
export const PlatformMmio = {
  /** Local APIC (xAPIC) register page. */
  LAPIC: 0xfee00000,
  /** Size of the local APIC page. */
  LAPIC_SIZE: 0x1000,
} as const;

/** Storage device geometry. */
export const Storage = {
  /** Bytes per sector. */
  SECTOR_SIZE: 512,
} as const;

/** Exit codes the testbed guest writes to the debug-exit port. */
export const GuestExitCode = {
  /** Every workload ran and its result checked out. */
  OK: 0,
  /** A workload ran but its self-check failed (e.g. a CRC mismatch). */
  CHECK_FAILED: 1,
  /** The command line was wrong. */
  BAD_ARGS: 2,
  /** The boot information was missing or wrong. */
  BAD_BOOT_INFO: 3,
  /** An unexpected exception or a kernel panic. */
  PANIC: 4,
} as const;

/** Hyvisor's CPUID leaves in the hypervisor range. */
export const Cpuid = {
  /** eax = highest Hyvisor leaf (LEAF_TIMING); ebx, ecx, edx = signature "HyvisorVMM\0\0". */
  LEAF_SIGNATURE: 0x40000000,
  /** eax = feature bits ({@link FeatureBits}), ebx = host hint ({@link HostHint}), ecx = ABI version. */
  LEAF_FEATURES: 0x40000001,
  /** eax = TSC frequency in kHz (0 if unknown); the guest's `rdtsc` runs at this rate. */
  LEAF_TIMING: 0x40000002,
  /** Signature words as the guest reads them from ebx, ecx, edx ("Hyvi", "sorV", "MM\0\0"). */
  SIGNATURE_EBX: 0x69767948,
  SIGNATURE_ECX: 0x56726f73,
  SIGNATURE_EDX: 0x00004d4d,
  /** Version of this ABI. */
  ABI_VERSION: 1,
} as const;

/** Feature bits in leaf 0x40000001 eax: which facets use the PV interface. */
export const FeatureBits = {
  /** System calls bounce through the hypervisor. */
  PV_SYSCALL: 1 << 0,
  /** Page tables are updated through validated hypercalls (direct paging). */
  PV_MMU: 1 << 1,
  /** Interrupts arrive as event channels. */
  PV_EVTCHN: 1 << 2,
  /** Time from the pvclock page plus a one-shot timer hypercall. */
  PV_CLOCK: 1 << 3,
  /** I/O through shared rings. */
  PV_IO: 1 << 4,
} as const;

/** Host hint in leaf 0x40000001 ebx: what kind of CPU the guest runs on. */
export const HostHint = {
  /** Hardware virtualization (VT-x / AMD-V): everything works as on bare metal. */
  HARDWARE: 0,
  /** kvm_pvm: ring-0 code emulated; `syscall` from ring 3 misbehaves, use the int3 gate. */
  KVM_PVM: 1,
  /** Hyvisor's software emulator. */
  EMULATOR: 2,
} as const;

/**
 * PCI configuration mechanism #1 and the type-0 header fields a driver needs (PCI Local Bus
 * Specification 3.0): the `pci` package's model and the testbed's probe both use these.
 */
export const Pci = {
  CONFIG_ADDRESS: 0xcf8,
  CONFIG_DATA: 0xcfc,
  /** CONFIG_ADDRESS bit 31: the data port reaches configuration space. */
  CONFIG_ENABLE: 0x8000_0000,
  VENDOR_ID: 0x00,
  COMMAND: 0x04,
  BAR0: 0x10,
  CAPABILITIES_POINTER: 0x34,
  INTERRUPT_LINE: 0x3c,
  /** Command register: memory space decoding. */
  COMMAND_MEMORY: 0x2,
  /** Capability ID of vendor-specific capabilities (virtio's structures). */
  CAP_VENDOR: 0x09,
  CAP_MSIX: 0x11,
} as const;

/**
 * The virtio 1.x PCI transport (virtio 1.2, 4.1), modern interface: IDs, the `cfg_type`s of the
 * vendor capabilities, the common configuration layout, device status bits, the features the
 * transport uses. The `virtio` package's transport and the testbed's driver both use these.
 */
export const VirtioPci = {
  VENDOR: 0x1af4,
  /** Modern device ID = DEVICE_BASE + virtio device type. */
  DEVICE_BASE: 0x1040,
  TYPE_BLOCK: 2,
  TYPE_ENTROPY: 4,
  CAP_COMMON: 1,
  CAP_NOTIFY: 2,
  CAP_ISR: 3,
  CAP_DEVICE: 4,
  /** Offsets in a vendor capability: cfg_type, bar, offset, length, notify_off_multiplier. */
  CAP_TYPE: 3,
  CAP_BAR: 4,
  CAP_OFFSET: 8,
  CAP_LENGTH: 12,
  CAP_NOTIFY_MULTIPLIER: 16,
  COMMON_DEVICE_FEATURE_SELECT: 0,
  COMMON_DEVICE_FEATURE: 4,
  COMMON_DRIVER_FEATURE_SELECT: 8,
  COMMON_DRIVER_FEATURE: 12,
  COMMON_CONFIG_MSIX_VECTOR: 16,
  COMMON_NUM_QUEUES: 18,
  COMMON_DEVICE_STATUS: 20,
  COMMON_CONFIG_GENERATION: 21,
  COMMON_QUEUE_SELECT: 22,
  COMMON_QUEUE_SIZE: 24,
  COMMON_QUEUE_MSIX_VECTOR: 26,
  COMMON_QUEUE_ENABLE: 28,
  COMMON_QUEUE_NOTIFY_OFF: 30,
  COMMON_QUEUE_DESC: 32,
  COMMON_QUEUE_DRIVER: 40,
  COMMON_QUEUE_DEVICE: 48,
  COMMON_SIZE: 56,
  STATUS_ACKNOWLEDGE: 1,
  STATUS_DRIVER: 2,
  STATUS_DRIVER_OK: 4,
  STATUS_FEATURES_OK: 8,
  STATUS_DEVICE_NEEDS_RESET: 0x40,
  STATUS_FAILED: 0x80,
  /** Feature bits as bit numbers. */
  F_RING_INDIRECT_DESC: 28,
  F_RING_EVENT_IDX: 29,
  F_VERSION_1: 32,
  /** No MSI-X vector. */
  NO_VECTOR: 0xffff,
  /** virtio-blk configuration: capacity (le64, sectors) at 0. */
  BLK_CFG_CAPACITY: 0,
} as const;

/** Every group of constants, in the order the C header lists them. */
export const ABI_GROUPS = {
  BootLayout, StartInfo, Ports, Irq, PlatformMmio, Storage, GuestExitCode, Cpuid, FeatureBits, HostHint,
  Hypercall, MmuExt, EvtchnOp, SchedOp, Virq, SharedInfo, PvClock, PtPool, Virtq, HypercallErrno, Pci, VirtioPci,
} as const;
