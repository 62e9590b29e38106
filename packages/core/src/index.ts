/**
 * `@hyvisor/core`: the contracts and machinery every Hyvisor VMM shares. No device, backend or
 * strategy lives here; those are plugins that depend on this package.
 *
 * The entry exports what a user composing a VMM or writing a plugin (backend, facet, strategy,
 * device, board) needs, in the groups below; helpers of core's own checks stay internal. The
 * runtime names are pinned in `docs/public-surface.json` (a test fails on any change until that
 * file is reviewed and updated). Test doubles (`ManualClock`, `RecordingIrqLine`) live in
 * `@hyvisor/core/testing`; the ABI header generator in `@hyvisor/core/abi/c-header`.
 * @packageDocumentation
 */
// reflect-metadata and tsyringe load through require in di/tsyringe.ts (cheaper than an ESM import of CommonJS).
import './di/tsyringe.js';

// Errors: one class per domain, each with a one-line message and structured fields.
export * from './errors.js';

// Lifetimes: `Disposable`, `DisposableStore` (whoever creates a resource disposes it).
export * from './lifecycle/disposable.js';

// Writing a backend: the Backend → Vm → Vcpu contract, registers, optional abilities, the shared
// pieces both built-in backends use (region checks, liveness, the interrupt queue), exits.
export { GuestMemory, type MemoryRegion } from './memory/guest-memory.js';
export { readVirtual, translateVirtual, writeVirtual, type PagingState } from './memory/page-walk.js';
export * from './backend/registers.js';
export type { DebugStop, VcpuDebug, WatchKind, Watchpoint } from './backend/debug.js';
export * from './backend/backend.js';
export {
  FXSAVE_SIZE, VCPU_STATE_MSRS, decodeVcpuState, encodeVcpuState, noVcpuEvents, resetFxsaveImage, restoreVcpuState, saveVcpuState,
  type EncodedVcpuState, type VcpuEvents, type VcpuState,
} from './backend/vcpu-state.js';
export { offerAbilities, type AbilityFactories, type Cr3Policy, type InKernelIrqchip, type IoEventFd, type IoEventSpec, type IoEvents, type OfferedAbilities, type RegionRefresh, type VirtualClock, type VmAbilities, type VmAbilityName } from './backend/abilities.js';
export * from './backend/resources.js';
export { InterruptQueue } from './backend/interrupt-queue.js';
export * from './exits/vm-exit.js';
export * from './exits/dispatcher.js';

// Devices and buses: port I/O, MMIO, hypercalls; device definitions, registries and plans (writing a device or a board).
export * from './bus/device.js';
export * from './bus/pio-bus.js';
export * from './bus/mmio-bus.js';
export * from './bus/hypercall-table.js';
export * from './devices/device.js';
export { BoardRegistry, DeviceRegistry, type BoardDefinition, type BoardDevice, type BoardListing, type DeviceListing } from './devices/registry.js';
export { planDevices, type DeviceChoice, type DevicePlan, type PlannedDevice } from './devices/plan.js';

// Facets and strategies: the five facet interfaces, services facets hand each other, composition checks (writing a facet or a strategy).
export * from './facets/facet.js';
export { FacetRegistry, type FacetEntry, type FacetFactory } from './facets/facet-registry.js';
export { ServiceScope, serviceToken, type AnyServiceToken, type ServiceDeclaration, type ServiceToken } from './facets/service.js';
export * from './facets/services.js';
export * from './facets/attach.js';
export * from './strategy/strategy.js';
export { assertComposable, attachOrder, type ComposableOptions, type CompositionConflict, type CompositionMissing, type FacetRef, type MissingCapability, type ProviderLookup } from './strategy/composition.js';
export { planStrategy, type StrategyPlan } from './strategy/plan.js';

// Composing a VMM: the container, its registries and tokens, config loading and validation.
export * from './di/registry.js';
export * from './di/tokens.js';
export * from './di/catalog.js';
export { DEFAULT_BOARD, type DeviceSpec, type FacetChoice, type ModuleRef, type SerialConfig, type StorageConfig, type StrategyChoice, type StrategySpec, type TelemetryConfig, type VmConfig } from './config/schema.js';
export * from './config/sizes.js';
export { WORKLOADS, guestCmdline, parseListen, validateConfig, type ConfigSource } from './config/validate.js';
export * from './config/load.js';

// Telemetry: hot-path counters and probes, the hub and its sampled streams.
export * from './telemetry/counters.js';
export { LATENCY_BUCKETS_US, ProbeCounter, SAMPLED_TOPICS, TelemetryHub, TelemetryProbes, TelemetryStreams, latencyBucketName, type CounterSample, type CountersSample, type ExitsSample, type Figure, type HypercallsSample, type InterruptsSample, type IoSample, type IoSpaceFigures, type MmioFigure, type MmioRangeInfo, type PortFigure, type PortsSample, type ProbeSlots, type SampleBase, type SampledTopic, type TelemetryEvent, type TelemetryFrame, type TimerSample, type VcpuSample } from './telemetry/hub.js';

// The guest ABI (defined once; guests get it as a generated C header) and the x86-64 boot state.
export { BootLayout, Cpuid, EvtchnOp, FeatureBits, GuestExitCode, HostHint, Hypercall, HypercallErrno, Irq, MmuExt, Pci, PlatformMmio, Ports, PtPool, PvClock, SchedOp, SharedInfo, StartInfo, Storage, Virq, VirtioPci, Virtq } from './abi/guest-abi.js';
export { bootRegisters, gdtEntry, longModeSpecialRegisters, segmentFrom, writeBootTables } from './arch/x86_64/long-mode.js';

// Time: the timer queue emulated timers schedule on.
export { TimerQueue, type Clock } from './time/timer-queue.js';
