/**
 * The whole architectural state of one vCPU, backend-neutral: what a snapshot saves, what a
 * debugger reads, and what moves a running guest from one backend to another. Set-up and
 * debugging path only (bigints, allocation): never on the exit path.
 *
 * A {@link Vcpu} offers the parts the older register accessors lack ({@link Vcpu.getFpu},
 * {@link Vcpu.getEvents} and their setters); {@link saveVcpuState} and {@link restoreVcpuState}
 * put them together with the registers and the {@link VCPU_STATE_MSRS}. Take or restore a state
 * only between runs, after a `Deadline` exit or before the first run: an exit whose answer the
 * guest has not yet received (a port read) is not part of any state.
 * @module
 */
import { BackendError } from '../errors.js';
import type { Vcpu } from './backend.js';
import type { Registers, SpecialRegisters } from './registers.js';

/** Bytes in an FXSAVE image (x87, MXCSR and XMM0–15: SDM Vol. 1 §10.5.1, the 64-bit layout). */
export const FXSAVE_SIZE = 512;

/**
 * The FXSAVE image of a vCPU just after reset (FNINIT and MXCSR reset): FCW 0x37F, everything
 * else 0, MXCSR 0x1F80. A fresh {@link Uint8Array} on each call.
 */
export function resetFxsaveImage(): Uint8Array {
  const image = new Uint8Array(FXSAVE_SIZE);
  const dv = new DataView(image.buffer);
  dv.setUint16(0, 0x37f, true);
  dv.setUint32(24, 0x1f80, true);
  return image;
}

/**
 * Events a vCPU holds between two instructions (after KVM's `struct kvm_vcpu_events`, reduced to
 * what every backend models).
 */
export interface VcpuEvents {
  /** An exception raised but not yet delivered through the IDT, or null. */
  exception: { vector: number; errorCode: number | null } | null;
  /** An external interrupt vector accepted by the vCPU but not yet delivered, or null. */
  interrupt: number | null;
  /** The STI / MOV SS interrupt shadow: no interrupt is taken before the next instruction. */
  shadow: boolean;
  /** A non-maskable interrupt is waiting. */
  nmiPending: boolean;
  /** NMIs are blocked (an NMI handler is running). */
  nmiMasked: boolean;
  /** Vectors queued with {@link Vcpu.queueInterrupt} and not yet handed to the guest, oldest first. */
  queued: number[];
}

/** Events of a vCPU with nothing pending. */
export function noVcpuEvents(): VcpuEvents {
  return { exception: null, interrupt: null, shadow: false, nmiPending: false, nmiMasked: false, queued: [] };
}

/**
 * MSRs a saved state carries, besides those in {@link SpecialRegisters} (EFER, APIC base, FS/GS
 * base in the segments) and the TSC ({@link VcpuState.tsc}): the system-call entry points, the
 * swapped GS base, SYSENTER, PAT, MISC_ENABLE and TSC_AUX. Both backends implement them all.
 */
export const VCPU_STATE_MSRS: readonly number[] = [
  0xc0000081, // STAR
  0xc0000082, // LSTAR
  0xc0000083, // CSTAR
  0xc0000084, // FMASK
  0xc0000102, // KERNEL_GS_BASE
  0x174, 0x175, 0x176, // SYSENTER_CS, _ESP, _EIP
  0x277, // PAT
  0x1a0, // MISC_ENABLE
  0xc0000103, // TSC_AUX
];

/** IA32_TSC. */
export const MSR_TSC = 0x10;

/** The architectural state of one vCPU. Plain data: {@link encodeVcpuState} makes it JSON. */
export interface VcpuState {
  regs: Registers;
  sregs: SpecialRegisters;
  /** x87/SSE state as an FXSAVE image of {@link FXSAVE_SIZE} bytes (64-bit layout). */
  fpu: Uint8Array;
  /** The {@link VCPU_STATE_MSRS} by index (an MSR the backend could not read is left out). */
  msrs: Map<number, bigint>;
  /** The guest's TSC when the state was taken. */
  tsc: bigint;
  events: VcpuEvents;
}

/** Reads the whole state of `vcpu` (between runs; see the module). */
export function saveVcpuState(vcpu: Vcpu): VcpuState {
  const msrs = new Map<number, bigint>();
  for (const index of VCPU_STATE_MSRS) {
    try {
      msrs.set(index, vcpu.getMsr(index));
    } catch {
      // An MSR this backend does not keep: its reset value is what the guest would read anyway.
    }
  }
  return {
    regs: vcpu.getRegisters(),
    sregs: vcpu.getSpecialRegisters(),
    fpu: vcpu.getFpu(),
    msrs,
    tsc: vcpu.getMsr(MSR_TSC),
    events: vcpu.getEvents(),
  };
}

/**
 * Loads `state` into `vcpu` (between runs). The special registers go first (the mode decides how
 * the rest is read), the TSC last, so the guest sees its clock continue from the saved value
 * (a clock facet that publishes TSC scaling, such as pvclock, republishes it after a restore).
 * Throws {@link BackendError} naming the part the backend refused.
 */
export function restoreVcpuState(vcpu: Vcpu, state: VcpuState): void {
  if (state.fpu.length !== FXSAVE_SIZE) {
    throw new BackendError(`restore vCPU ${vcpu.id}: FPU image is ${state.fpu.length} bytes, expected ${FXSAVE_SIZE}`, { operation: 'restoreVcpuState' });
  }
  vcpu.setSpecialRegisters(state.sregs);
  vcpu.setRegisters(state.regs);
  vcpu.setFpu(state.fpu);
  for (const [index, value] of state.msrs) vcpu.setMsr(index, value);
  vcpu.setEvents(state.events);
  vcpu.setMsr(MSR_TSC, state.tsc);
}

/** A {@link VcpuState} as JSON-safe data: bigints as hex strings, the FPU image as base64. */
export type EncodedVcpuState = Record<string, unknown>;

const hex = (v: bigint): string => '0x' + BigInt.asUintN(64, v).toString(16);

function encodeRecord(o: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) out[k] = typeof v === 'bigint' ? hex(v) : v !== null && typeof v === 'object' ? encodeRecord(v) : v;
  return out;
}

/** Encodes `state` for a JSON file. */
export function encodeVcpuState(state: VcpuState): EncodedVcpuState {
  return {
    regs: encodeRecord(state.regs),
    sregs: encodeRecord(state.sregs),
    fpu: Buffer.from(state.fpu.buffer, state.fpu.byteOffset, state.fpu.byteLength).toString('base64'),
    msrs: Object.fromEntries([...state.msrs].map(([i, v]) => [hex(BigInt(i)), hex(v)])),
    tsc: hex(state.tsc),
    events: { ...state.events, exception: state.events.exception ? { ...state.events.exception } : null, queued: [...state.events.queued] },
  };
}

/** Thrown by {@link decodeVcpuState} for a record that is not a vCPU state; the message names the field. */
function bad(field: string, why: string): never {
  throw new BackendError(`vCPU state ${field}: ${why}`, { operation: 'decodeVcpuState' });
}

function big(v: unknown, field: string): bigint {
  if (typeof v !== 'string' || !/^0x[0-9a-f]{1,16}$/.test(v)) bad(field, `expected a hex string, got ${JSON.stringify(v)}`);
  return BigInt(v);
}

function int(v: unknown, field: string, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) bad(field, `expected an integer 0-${max}, got ${JSON.stringify(v)}`);
  return v;
}

function bool(v: unknown, field: string): boolean {
  if (typeof v !== 'boolean') bad(field, `expected true or false, got ${JSON.stringify(v)}`);
  return v;
}

function obj(v: unknown, field: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) bad(field, 'expected an object');
  return v as Record<string, unknown>;
}

const REG_KEYS = ['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rsp', 'rbp', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15', 'rip', 'rflags'] as const;
const SEG_KEYS = ['cs', 'ds', 'es', 'fs', 'gs', 'ss', 'tr', 'ldt'] as const;
const CR_KEYS = ['cr0', 'cr2', 'cr3', 'cr4', 'cr8', 'efer', 'apicBase'] as const;

/** Decodes (and checks, field by field) what {@link encodeVcpuState} wrote. */
export function decodeVcpuState(data: unknown): VcpuState {
  const d = obj(data, 'record');
  const r = obj(d['regs'], 'regs');
  const regs = {} as Registers;
  for (const k of REG_KEYS) regs[k] = big(r[k], `regs.${k}`);
  const s = obj(d['sregs'], 'sregs');
  const sregs = {} as SpecialRegisters;
  for (const k of SEG_KEYS) {
    const g = obj(s[k], `sregs.${k}`);
    sregs[k] = {
      base: big(g['base'], `sregs.${k}.base`), limit: int(g['limit'], `sregs.${k}.limit`, 0xffffffff),
      selector: int(g['selector'], `sregs.${k}.selector`, 0xffff), type: int(g['type'], `sregs.${k}.type`, 15),
      present: bool(g['present'], `sregs.${k}.present`), dpl: int(g['dpl'], `sregs.${k}.dpl`, 3),
      db: bool(g['db'], `sregs.${k}.db`), s: bool(g['s'], `sregs.${k}.s`), l: bool(g['l'], `sregs.${k}.l`),
      g: bool(g['g'], `sregs.${k}.g`), avl: bool(g['avl'], `sregs.${k}.avl`), unusable: bool(g['unusable'], `sregs.${k}.unusable`),
    };
  }
  for (const k of ['gdt', 'idt'] as const) {
    const t = obj(s[k], `sregs.${k}`);
    sregs[k] = { base: big(t['base'], `sregs.${k}.base`), limit: int(t['limit'], `sregs.${k}.limit`, 0xffff) };
  }
  for (const k of CR_KEYS) sregs[k] = big(s[k], `sregs.${k}`);
  if (typeof d['fpu'] !== 'string') bad('fpu', 'expected base64 text');
  const fpu = new Uint8Array(Buffer.from(d['fpu'], 'base64'));
  if (fpu.length !== FXSAVE_SIZE) bad('fpu', `expected ${FXSAVE_SIZE} bytes, got ${fpu.length}`);
  const msrs = new Map<number, bigint>();
  for (const [k, v] of Object.entries(obj(d['msrs'], 'msrs'))) msrs.set(Number(big(k, `msrs key ${k}`)), big(v, `msrs.${k}`));
  const e = obj(d['events'], 'events');
  const exc = e['exception'] === null ? null : obj(e['exception'], 'events.exception');
  const queued = e['queued'];
  if (!Array.isArray(queued) || queued.length > 16) bad('events.queued', 'expected up to 16 vectors');
  return {
    regs, sregs, fpu, msrs, tsc: big(d['tsc'], 'tsc'),
    events: {
      exception: exc === null ? null : {
        vector: int(exc['vector'], 'events.exception.vector', 31),
        errorCode: exc['errorCode'] === null ? null : int(exc['errorCode'], 'events.exception.errorCode', 0xffffffff),
      },
      interrupt: e['interrupt'] === null ? null : int(e['interrupt'], 'events.interrupt', 255),
      shadow: bool(e['shadow'], 'events.shadow'),
      nmiPending: bool(e['nmiPending'], 'events.nmiPending'),
      nmiMasked: bool(e['nmiMasked'], 'events.nmiMasked'),
      queued: queued.map((v, i) => int(v, `events.queued[${i}]`, 255)),
    },
  };
}
