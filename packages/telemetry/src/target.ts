/**
 * What the server needs of a machine: its telemetry hub, a description and pause/resume/stop.
 * `Machine` from @hyvisor/vmm fits as it is; tests pass a fake.
 * @module
 */
import { FACET_NAMES, type FacetName, type TelemetryHub } from '@hyvisor/core';
import type { VmDescription } from './protocol.js';

interface FacetLike {
  readonly name: string;
  readonly description: string;
}

/** A machine as the telemetry server sees it. */
export interface TelemetryTarget {
  readonly name: string;
  readonly telemetry: TelemetryHub;
  /** Current life-cycle state (`created`, `running`, `paused`, `stopped`, …). */
  readonly state: string;
  readonly backend: { readonly info: { readonly name: string; readonly flavour: string; readonly description: string } };
  readonly strategy: { readonly name: string; readonly description: string } & Readonly<Record<FacetName, FacetLike>>;
  pause(): void;
  resume(): void;
  stop(message?: string): void;
}

/** The hello's description of `target`. */
export function describeTarget(target: TelemetryTarget): VmDescription {
  const facets = {} as Record<FacetName, { name: string; description: string }>;
  for (const f of FACET_NAMES) facets[f] = { name: target.strategy[f].name, description: target.strategy[f].description };
  const info = target.backend.info;
  return {
    name: target.name,
    state: target.state,
    backend: { name: info.name, flavour: info.flavour, description: info.description },
    strategy: { name: target.strategy.name, description: target.strategy.description, facets },
  };
}
