/**
 * Hyvisor's benchmarks by name. Each prints JSON; none is a timed test.
 * @packageDocumentation
 */
import type { Benchmark } from './benchmark.js';
import { exitCost } from './exit-cost.js';
import { workloads } from './workloads.js';
import { telemetry } from './telemetry.js';
import { paper } from './paper.js';
import { emu } from './emu.js';

export * from './benchmark.js';
export type { ExitCostResult } from './exit-cost.js';
export type { WorkloadResult } from './workloads.js';
export type { TelemetryBenchResult } from './telemetry.js';
export type { PaperRow, PaperResult } from './paper.js';

/** Benchmarks by the name `hyvisor bench NAME` takes. */
export const BENCHMARKS: Readonly<Record<string, Benchmark>> = { 'exit-cost': exitCost, workloads, telemetry, paper, emu };
