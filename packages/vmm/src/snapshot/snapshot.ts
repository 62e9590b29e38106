/**
 * Taking a machine's snapshot and restoring one into a freshly built machine (issue 14; the
 * format is in docs/snapshots.md and `format.ts`). What a snapshot holds:
 *
 * - guest memory, every region (RAM and, for direct paging, the page-table pool) in `memory.bin`;
 * - the vCPU's architectural state ({@link saveVcpuState}: registers, FPU/SSE, MSRs, TSC, events);
 * - every device's state record ({@link MachineDevices.saveState});
 * - every facet's state record ({@link Facet.saveState}), large parts as blobs;
 * - the backend's own interrupt controllers where the strategy uses them (KVM's in-kernel irqchip);
 * - the facts that decide whether another machine can stand in: board, facet names, memory
 *   regions, devices; and the config it was built from, so `hyvisor run --restore DIR` needs no other.
 *
 * A restore checks all of that before it changes anything, then loads memory, the virtual clock
 * (emulator), the vCPU, devices, facets (providers first) and the backend's controllers. Times
 * in facet records are relative to the machine clock at the snapshot, so a restore may run on
 * another backend and another clock.
 * @module
 */
import * as fs from 'node:fs';
import {
  FACET_NAMES, SnapshotError, attachOrder, decodeVcpuState, encodeVcpuState, restoreVcpuState, saveVcpuState,
  type FacetName, type FacetState, type FacetStateContext, type HostKind, type VmConfig,
} from '@hyvisor/core';
import type { MachineDevices } from '../devices/attach.js';
import type { Machine } from '../machine/machine.js';
import { STATE_FILE, checkPart, partRecord, readPartInto, readState, writePart, writeState, type PartRecord } from './format.js';

/** A restore failed after it began changing the machine (which must then be disposed, never run). */
export class PartialRestoreError extends SnapshotError {}

/** The facts a restore compares (and `hyvisor` prints): what the snapshot was taken on. */
export interface SnapshotFacts {
  readonly board: string;
  readonly strategy: string;
  /** Facet implementation name per kind. */
  readonly facets: Readonly<Record<FacetName, string>>;
  readonly memoryBytes: number;
  readonly regions: readonly { readonly name: string; readonly gpa: number; readonly size: number }[];
  /** Devices by instance name and type, in attach order. */
  readonly devices: readonly { readonly name: string; readonly device: string }[];
  /** The backend it was taken on (informational: a snapshot restores on any backend that composes the same facets). */
  readonly backend: string;
  readonly host: HostKind;
  readonly tscKhz: number;
}

/** What {@link takeSnapshot} wrote. */
export interface SnapshotInfo {
  readonly dir: string;
  readonly facts: SnapshotFacts;
  /** Bytes of guest memory written. */
  readonly memoryBytes: number;
  /** The vCPU's counters when taken (the emulator's exact instruction count, …). */
  readonly stats: Readonly<Record<string, number>>;
  /** Milliseconds it took. */
  readonly ms: number;
}

/** Options of {@link restoreSnapshot}. */
export interface RestoreOptions {
  /**
   * Check every binary part's SHA-256 before loading (default true). The state file's checksum
   * is always checked; parts are always checked for size.
   */
  readonly verify?: boolean;
}

/** The machine facts of `machine` with `devices`. */
export function machineFacts(machine: Machine, devices: MachineDevices): SnapshotFacts {
  const facets = {} as Record<FacetName, string>;
  for (const k of FACET_NAMES) facets[k] = machine.strategy[k].name;
  return {
    board: devices.board, strategy: machine.strategy.name, facets, memoryBytes: machine.ramSize,
    regions: machine.vm.memory.regions.map((r) => ({ name: r.name, gpa: r.gpa, size: r.size })),
    devices: devices.list.map((d) => ({ name: d.name, device: d.device })),
    backend: machine.backend.info.name, host: machine.backend.info.host ?? 'hardware', tscKhz: machine.backend.info.tscKhz ?? 0,
  };
}

const MEMORY_FILE = 'memory.bin';

/**
 * Writes the snapshot of `machine` (between runs: not while the vCPU is inside `run()`) into
 * `dir` (created if missing; an existing snapshot there is replaced). Refuses (SnapshotError,
 * nothing written) a machine with a facet that cannot save its state.
 */
export function takeSnapshot(machine: Machine, devices: MachineDevices, config: VmConfig | undefined, dir: string): SnapshotInfo {
  const t0 = performance.now();
  const strategy = machine.strategy;
  for (const k of FACET_NAMES) {
    const f = strategy[k];
    if (f.attach !== undefined && f.saveState === undefined) {
      throw new SnapshotError(`snapshot: the ${k} facet '${f.name}' cannot save its state yet, so a machine using it cannot be snapshotted`);
    }
  }
  const stateless = devices.list.find((d) => d.state === undefined);
  if (stateless !== undefined) {
    throw new SnapshotError(`snapshot: device '${stateless.name}' (${stateless.device}) cannot save its state yet, so a machine with it cannot be snapshotted`);
  }
  const facts = machineFacts(machine, devices);
  const nowNs = machine.clock.now();
  const blobs = new Map<string, Uint8Array>();
  const vcpuState = saveVcpuState(machine.vcpu);
  const ctx: FacetStateContext = { nowNs, blobs, guestTsc: vcpuState.tsc };
  const facets: Partial<Record<FacetName, { name: string; state: FacetState }>> = {};
  for (const k of FACET_NAMES) {
    const f = strategy[k];
    if (f.saveState !== undefined) facets[k] = { name: f.name, state: f.saveState(ctx) };
  }
  const vcpu = encodeVcpuState(vcpuState);
  const deviceStates = devices.saveState();
  const irqchip = machine.vm.irqchip?.saveState?.();
  const stats = machine.vcpu.stats?.() ?? {};

  fs.mkdirSync(dir, { recursive: true });
  try { fs.rmSync(`${dir}/${STATE_FILE}`, { force: true }); } catch { /* replaced below */ }
  const regions = machine.vm.memory.regions;
  let offset = 0;
  const regionRecords = regions.map((r) => {
    const rec = { name: r.name, gpa: r.gpa, size: r.size, offset };
    offset += r.size;
    return rec;
  });
  const memory = writePart(dir, MEMORY_FILE, regions.map((r) => new Uint8Array(r.buffer, 0, r.size)));
  const blobRecords: Record<string, PartRecord> = {};
  for (const [name, bytes] of blobs) {
    if (!/^[a-z0-9][a-z0-9.-]*$/.test(name)) throw new SnapshotError(`snapshot: blob name ${JSON.stringify(name)} is not a plain lower-case name`);
    blobRecords[name] = writePart(dir, `blob-${name}.bin`, [bytes]);
  }
  writeState(dir, {
    createdAt: new Date().toISOString(),
    facts, config: config ?? null, clockNs: nowNs,
    memory: { ...memory, regions: regionRecords },
    blobs: blobRecords,
    vcpus: [vcpu],
    devices: deviceStates,
    facets,
    backend: irqchip !== undefined ? { irqchip } : {},
    stats,
  });
  return { dir, facts, memoryBytes: memory.bytes, stats, ms: performance.now() - t0 };
}

/** A checked, parsed snapshot, ready to load into a machine. */
export interface LoadedSnapshot {
  readonly dir: string;
  readonly facts: SnapshotFacts;
  readonly config: VmConfig | undefined;
  /** The vCPU counters at the snapshot. */
  readonly stats: Readonly<Record<string, number>>;
  readonly body: Record<string, unknown>;
}

/** Reads and checks the state file of the snapshot in `dir` (parts are checked by {@link restoreSnapshot}). */
export function readSnapshot(dir: string): LoadedSnapshot {
  const body = readState(dir);
  const facts = body['facts'] as SnapshotFacts | undefined;
  if (facts === undefined || typeof facts !== 'object' || typeof facts.board !== 'string' || !Array.isArray(facts.regions) || !Array.isArray(facts.devices)) {
    throw new SnapshotError(`snapshot ${dir}: the machine facts are missing`, dir);
  }
  const config = (body['config'] ?? undefined) as VmConfig | undefined;
  return { dir, facts, config, stats: (body['stats'] ?? {}) as Record<string, number>, body };
}

function differs(what: string, saved: string, here: string): string {
  return `${what} is ${saved} in the snapshot but ${here} here`;
}

/** Why `machine` cannot take `facts`, or undefined if it can. */
export function incompatibility(facts: SnapshotFacts, machine: Machine, devices: MachineDevices): string | undefined {
  const here = machineFacts(machine, devices);
  if (facts.board !== here.board) return differs('the board', facts.board, here.board);
  for (const k of FACET_NAMES) {
    if (facts.facets?.[k] !== here.facets[k]) {
      return `${differs(`the ${k} facet`, `'${facts.facets?.[k]}'`, `'${here.facets[k]}'`)} (strategy ${facts.strategy} vs ${here.strategy}; on another backend pick a strategy with the same facets, e.g. hvm-userspace instead of hvm)`;
    }
  }
  const regions = (r: SnapshotFacts['regions']): string => r.map((x) => `${x.name}@0x${x.gpa.toString(16)}+${x.size}`).join(', ');
  if (regions(facts.regions) !== regions(here.regions)) return differs('guest memory', regions(facts.regions), regions(here.regions));
  if (here.host === 'kvm_pvm' && facts.host !== 'kvm_pvm') {
    // The guest read its host hint at boot and picked, e.g., SYSCALL for ring 3, which kvm_pvm
    // cannot run (it enters the handler still at CPL 3): it would fault at its next system call.
    return `the guest booted on ${facts.host === 'emulator' ? 'the emulator' : 'hardware KVM'} and chose its system-call gate there; kvm_pvm cannot run that gate, so it cannot continue on this host (snapshots move from kvm_pvm to the emulator, and both ways between the emulator and hardware KVM)`;
  }
  const devs = (d: SnapshotFacts['devices']): string => d.map((x) => `${x.name}: ${x.device}`).join(', ');
  if (devs(facts.devices) !== devs(here.devices)) return differs('the device list', devs(facts.devices), devs(here.devices));
  return undefined;
}

/**
 * Loads the snapshot in `dir` into `machine`, which must be freshly built (never run) from a
 * compatible composition. Everything is checked first (state file, facts, each part's size and
 * checksum, every record's shape as far as it can be without applying it); a refusal throws a
 * one-line {@link SnapshotError} and changes nothing. A failure while applying (a backend
 * refusing a register value) also throws a SnapshotError: the machine is then half-restored and
 * must be disposed, never run ({@link Machine.restoreSnapshot} marks it so).
 */
export function restoreSnapshot(machine: Machine, devices: MachineDevices, dir: string, options: RestoreOptions = {}): LoadedSnapshot {
  const snap = readSnapshot(dir);
  const body = snap.body;
  const why = incompatibility(snap.facts, machine, devices);
  if (why !== undefined) throw new SnapshotError(`snapshot ${dir} does not fit this machine: ${why}`, dir);
  const verify = options.verify ?? true;
  const mem = partRecord(body['memory'], 'memory', dir);
  const regionRecords = (body['memory'] as { regions?: unknown }).regions;
  const regions = machine.vm.memory.regions;
  if (!Array.isArray(regionRecords) || regionRecords.length !== regions.length) throw new SnapshotError(`snapshot ${dir}: the memory region list is not valid`, dir);
  const total = regions.reduce((n, r) => n + r.size, 0);
  if (mem.bytes !== total) throw new SnapshotError(`snapshot ${dir}: memory.bin should hold ${total} bytes, the state says ${mem.bytes}`, dir);
  checkPart(dir, mem, 'memory', verify);
  const blobs = new Map<string, Uint8Array>();
  const blobRecords = (body['blobs'] ?? {}) as Record<string, unknown>;
  for (const [name, rec] of Object.entries(blobRecords)) {
    const part = partRecord(rec, `blob ${name}`, dir);
    checkPart(dir, part, `blob ${name}`, true);
    const bytes = new Uint8Array(part.bytes);
    readPartInto(dir, part.file, 0, bytes);
    blobs.set(name, bytes);
  }
  const vcpus = body['vcpus'];
  if (!Array.isArray(vcpus) || vcpus.length !== 1) throw new SnapshotError(`snapshot ${dir}: expected the state of 1 vCPU`, dir);
  let vcpuState;
  try {
    vcpuState = decodeVcpuState(vcpus[0]);
  } catch (err) {
    throw new SnapshotError(`snapshot ${dir}: ${(err as Error).message}`, dir);
  }
  const facets = (body['facets'] ?? {}) as Partial<Record<FacetName, { name?: unknown; state?: FacetState }>>;
  for (const k of FACET_NAMES) {
    const f = machine.strategy[k];
    const rec = facets[k];
    if (f.restoreState !== undefined && rec?.state === undefined) throw new SnapshotError(`snapshot ${dir}: no state for the ${k} facet '${f.name}'`, dir);
    if (rec !== undefined && f.restoreState === undefined) throw new SnapshotError(`snapshot ${dir}: the ${k} facet '${f.name}' cannot restore state`, dir);
  }
  const clockNs = body['clockNs'];
  if (typeof clockNs !== 'number' || !Number.isFinite(clockNs) || clockNs < 0) throw new SnapshotError(`snapshot ${dir}: clockNs is not valid`, dir);
  const irqchip = (body['backend'] as { irqchip?: unknown } | undefined)?.irqchip;
  if (irqchip !== undefined && machine.vm.irqchip?.restoreState === undefined) {
    throw new SnapshotError(`snapshot ${dir}: it holds in-kernel interrupt controller state, which this backend cannot take`, dir);
  }

  // Apply. From here a failure leaves the machine half-restored: the caller disposes it.
  const step = (what: string, fn: () => void): void => {
    try {
      fn();
    } catch (err) {
      throw new PartialRestoreError(`snapshot ${dir}: restoring ${what} failed: ${(err instanceof Error ? err.message : String(err)).split('\n')[0]}`, dir);
    }
  };
  step('guest memory', () => {
    regions.forEach((r, i) => {
      const rec = regionRecords[i] as { offset?: unknown };
      if (typeof rec?.offset !== 'number') throw new Error(`region ${r.name} has no offset`);
      readPartInto(dir, mem.file, rec.offset, new Uint8Array(r.buffer, 0, r.size));
    });
  });
  // On a virtual clock, guest time goes on from where it was (timers then fire at the same
  // instruction as in the run that was saved); the TSC is set from the vCPU state after this.
  const virtual = machine.vm.virtualClock;
  if (virtual !== undefined && clockNs > virtual.now()) step('the virtual clock', () => virtual.advanceTo(clockNs));
  if (irqchip !== undefined) step('the in-kernel interrupt controllers', () => machine.vm.irqchip!.restoreState!(irqchip));
  step('the vCPU', () => restoreVcpuState(machine.vcpu, vcpuState));
  step('the devices', () => devices.restoreState((body['devices'] ?? {}) as Parameters<MachineDevices['restoreState']>[0]));
  const ctx: FacetStateContext = { nowNs: machine.clock.now(), blobs, guestTsc: vcpuState.tsc };
  for (const k of attachOrder(machine.strategy)) {
    const f = machine.strategy[k];
    const rec = facets[k];
    if (f.restoreState !== undefined && rec?.state !== undefined) step(`the ${k} facet '${f.name}'`, () => f.restoreState!(rec.state!, ctx));
  }
  return snap;
}
