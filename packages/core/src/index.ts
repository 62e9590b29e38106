/**
 * `@hyvisor/core`: the contracts and machinery every Hyvisor VMM shares. No device, backend or
 * strategy lives here; those are plugins that depend on this package.
 * @packageDocumentation
 */
// reflect-metadata and tsyringe load through require in di/tsyringe.ts (cheaper than an ESM import of CommonJS).
import './di/tsyringe.js';

export * from './errors.js';
export * from './lifecycle/disposable.js';
export * from './memory/guest-memory.js';
export * from './backend/registers.js';
export * from './backend/backend.js';
export * from './backend/abilities.js';
export * from './backend/resources.js';
export * from './backend/interrupt-queue.js';
export * from './exits/vm-exit.js';
export * from './exits/dispatcher.js';
export * from './bus/device.js';
export * from './bus/pio-bus.js';
export * from './bus/mmio-bus.js';
export * from './bus/hypercall-table.js';
export * from './facets/facet.js';
export * from './facets/facet-registry.js';
export * from './facets/service.js';
export * from './facets/services.js';
export * from './facets/attach.js';
export * from './strategy/strategy.js';
export * from './strategy/composition.js';
export * from './strategy/plan.js';
export * from './di/registry.js';
export * from './di/tokens.js';
export * from './di/catalog.js';
export * from './devices/device.js';
export * from './devices/registry.js';
export * from './devices/plan.js';
export * from './config/schema.js';
export * from './config/sizes.js';
export * from './config/validate.js';
export * from './config/load.js';
export * from './telemetry/counters.js';
export * from './telemetry/hub.js';
export * from './abi/guest-abi.js';
export * from './arch/x86_64/long-mode.js';
export * from './time/timer-queue.js';
