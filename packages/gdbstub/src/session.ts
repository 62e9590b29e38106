/**
 * One GDB client's session: answers each packet from the {@link DebugTarget}. Every packet is
 * untrusted input: a malformed one is answered with an `E` error or the empty reply ("not
 * supported"), never a throw. Stop replies carry the signal (SIGTRAP 5 for breakpoints,
 * watchpoints and steps, SIGINT 2 for Ctrl-C) and, for watchpoints, the watched address.
 * @module
 */
import { readVirtual, writeVirtual, type Disposable, type DebugStop, type WatchKind, type Watchpoint } from '@hyvisor/core';
import { MAX_PACKET, PacketReader, encodePacket, fromHex, parseHexBig, parseHexNumber, toHex, unescapeBinary, type Incoming } from './packet.js';
import { REGISTERS, decodeRegister, encodeRegister, targetXml, type RegisterState } from './registers.js';
import type { DebugTarget, TargetEnd, TargetEvent } from './target.js';

const SIGINT = 2, SIGTRAP = 5, SIGKILL = 9, SIGSEGV = 11, SIGALRM = 14;
/** Largest memory read answered at once (hex doubles it; gdb splits larger reads). */
const MAX_READ = (MAX_PACKET - 16) / 2;
/** The one thread: vCPU 0 (gdb thread ids start at 1). */
const THREAD = 1;
const WATCH_TYPES: Readonly<Record<string, WatchKind>> = { 2: 'write', 3: 'read', 4: 'access' };

/** How the session talks back to its client. */
export interface SessionIo {
  /** Sends raw bytes (latin1 string) to the client. */
  write(data: string): void;
  /** Ends the connection (after `k` or `D`). */
  close(): void;
}

/** Options of a {@link GdbSession}. */
export interface SessionOptions {
  /**
   * Required before the target can be seen (non-loopback servers): until the client sends
   * `monitor auth TOKEN`, the session reports no running process (use `target extended-remote`,
   * `monitor auth …`, then `attach 1`).
   */
  readonly token?: ((presented: string) => boolean) | undefined;
}

/** The protocol state of one connected client. */
export class GdbSession implements Disposable {
  private readonly reader = new PacketReader();
  private noAck = false;
  private lastSent = '';
  private resends = 0;
  /** The client resumed the target and waits for a stop reply. */
  private waiting = false;
  /** What we last told the client the target stopped for. */
  private lastStopReply = `T${hex2(SIGTRAP)}thread:${THREAD};`;
  private swbreak = false;
  private hwbreak = false;
  private locked: boolean;
  private readonly breakpoints = new Set<bigint>();
  private readonly watchpoints: Watchpoint[] = [];
  private readonly events: Disposable;
  private closed = false;

  constructor(private readonly target: DebugTarget, private readonly io: SessionIo, private readonly options: SessionOptions = {}) {
    this.locked = options.token !== undefined;
    this.events = target.onEvent((e) => this.onTargetEvent(e));
    // A debugger that connects stops the guest (as QEMU's gdbstub does); a held guest already is.
    if (!this.locked && !target.paused && target.ended === undefined) target.interrupt();
  }

  /** Bytes from the client. */
  receive(bytes: Uint8Array): void {
    this.reader.feed(bytes, (e) => this.onIncoming(e));
  }

  /** The connection is gone: the debugger detaches (breakpoints removed, the guest runs on). */
  dispose(): void {
    if (this.closed) return;
    this.closed = true;
    this.events.dispose();
    this.clearDebug();
    if (this.target.paused && this.target.ended === undefined && !this.locked) this.target.resume();
  }

  private onIncoming(e: Incoming): void {
    if (this.closed) return;
    switch (e.kind) {
      case 'ack':
        if (!e.ok && !this.noAck && this.lastSent !== '' && this.resends++ < 3) this.io.write(this.lastSent);
        return;
      case 'interrupt':
        if (!this.locked && this.waiting && !this.target.paused) {
          this.target.interrupt();
          this.stopped(`T${hex2(SIGINT)}thread:${THREAD};`);
        }
        return;
      case 'bad':
        if (!this.noAck) this.io.write('-');
        return;
      case 'packet': {
        if (!this.noAck) this.io.write('+');
        let reply: string | undefined;
        try {
          reply = this.handle(e.payload);
        } catch {
          reply = 'E01'; // a target error (e.g. a disposed vCPU) fails the request, not the stub
        }
        if (reply !== undefined) this.send(reply);
      }
    }
  }

  private send(payload: string): void {
    const framed = encodePacket(payload);
    this.lastSent = framed;
    this.resends = 0;
    this.io.write(framed);
  }

  private onTargetEvent(e: TargetEvent): void {
    if (this.closed || this.locked) return;
    if (e.kind === 'ended') {
      const reply = endReply(e.end);
      this.lastStopReply = reply;
      if (this.waiting) { this.waiting = false; this.send(reply); }
      return;
    }
    const stop = this.target.vcpu.debug?.lastStop;
    if (stop?.kind === 'step') this.target.vcpu.debug?.setSingleStep(false);
    if (this.waiting) this.stopped(this.stopReplyFor(stop));
  }

  private stopped(reply: string): void {
    this.lastStopReply = reply;
    if (this.waiting) { this.waiting = false; this.send(reply); }
  }

  private stopReplyFor(stop: DebugStop | undefined): string {
    let extra = '';
    if (stop?.kind === 'breakpoint') {
      if (this.breakpoints.has(stop.address)) extra = this.swbreak ? 'swbreak:;' : this.hwbreak ? 'hwbreak:;' : '';
    } else if (stop?.kind === 'watchpoint') {
      extra = `${stop.access === 'write' ? 'watch' : stop.access === 'read' ? 'rwatch' : 'awatch'}:${stop.address.toString(16)};`;
    }
    return `T${hex2(SIGTRAP)}thread:${THREAD};${extra}`;
  }

  /** The reply to one packet; undefined for none (`k`, and a resume whose reply is the later stop). */
  private handle(p: string): string | undefined {
    const cmd = p[0];
    if (this.locked) return this.handleLocked(p);
    switch (cmd) {
      case '?': return this.target.ended ? endReply(this.target.ended) : this.lastStopReply;
      case 'g': return this.readAll();
      case 'G': return this.writeAll(p.slice(1));
      case 'p': return this.readOne(p.slice(1));
      case 'P': return this.writeOne(p.slice(1));
      case 'm': return this.readMemory(p.slice(1));
      case 'M': return this.writeMemory(p.slice(1), false);
      case 'X': return this.writeMemory(p.slice(1), true);
      case 'c': case 'C': return this.resume(false, p.slice(1), cmd === 'C');
      case 's': case 'S': return this.resume(true, p.slice(1), cmd === 'S');
      case 'Z': case 'z': return this.breakpoint(cmd === 'Z', p.slice(1));
      case 'H': return 'OK';
      case 'T': return p.slice(1) === THREAD.toString(16) || p.slice(1) === '-1' ? 'OK' : 'E01';
      case 'D': this.send('OK'); this.io.close(); this.dispose(); return undefined;
      case 'k': this.target.kill(); this.io.close(); this.dispose(); return undefined;
      case '!': return 'OK';
      case 'q': return this.query(p);
      case 'Q': return p === 'QStartNoAckMode' ? this.startNoAck() : '';
      case 'v': return this.vPacket(p);
      default: return '';
    }
  }

  /** Before `monitor auth TOKEN`: a connected debugger sees no process (extended-remote), and nothing else. */
  private handleLocked(p: string): string | undefined {
    if (p.startsWith('qSupported')) return this.supported(p);
    if (p === 'QStartNoAckMode') return this.startNoAck();
    if (p === '?') return 'W00';
    if (p === '!') return 'OK';
    if (p === 'qfThreadInfo') return 'l';
    if (p.startsWith('qRcmd,')) return this.monitor(p.slice(6));
    if (p.startsWith('vAttach;')) return 'E01';
    if (p.startsWith('H') || p.startsWith('q') || p === 'vMustReplyEmpty') return p === 'qAttached' ? '1' : p.startsWith('H') ? 'OK' : '';
    return 'E01';
  }

  private startNoAck(): string {
    // The OK still goes out acknowledged-style: no-ack mode starts after it.
    queueMicrotask(() => { this.noAck = true; });
    return 'OK';
  }

  private supported(p: string): string {
    const features = p.slice('qSupported:'.length).split(';');
    this.swbreak = features.includes('swbreak+');
    this.hwbreak = features.includes('hwbreak+');
    return `PacketSize=${MAX_PACKET.toString(16)};qXfer:features:read+;QStartNoAckMode+;swbreak+;hwbreak+;vContSupported+`;
  }

  private query(p: string): string {
    if (p.startsWith('qSupported')) return this.supported(p);
    if (p.startsWith('qXfer:features:read:')) return this.features(p.slice('qXfer:features:read:'.length));
    if (p === 'qAttached' || p.startsWith('qAttached:')) return '1';
    if (p === 'qC') return `QC${THREAD.toString(16)}`;
    if (p === 'qfThreadInfo') return `m${THREAD.toString(16)}`;
    if (p === 'qsThreadInfo') return 'l';
    if (p.startsWith('qThreadExtraInfo,')) return toHex(new TextEncoder().encode('vCPU 0'));
    if (p.startsWith('qRcmd,')) return this.monitor(p.slice(6));
    if (p === 'qSymbol::') return 'OK';
    return '';
  }

  /** `monitor …` commands: `auth TOKEN` (non-loopback servers) and `help`. */
  private monitor(hexCommand: string): string {
    const bytes = fromHex(hexCommand);
    if (bytes === undefined) return 'E01';
    const command = new TextDecoder().decode(bytes).trim();
    const out = (text: string) => toHex(new TextEncoder().encode(`${text}\n`));
    if (command.startsWith('auth ')) {
      if (this.options.token === undefined) return out('this stub needs no token');
      if (!this.options.token(command.slice(5).trim())) return 'E01';
      this.locked = false;
      return out('authorized: attach 1 to debug the guest');
    }
    if (command === 'help' || command === '') return out('Hyvisor gdbstub monitor commands: auth TOKEN, help');
    return out(`unknown monitor command "${command.slice(0, 40)}": try monitor help`);
  }

  private features(args: string): string {
    const m = /^([^:]+):([0-9a-fA-F]{1,8}),([0-9a-fA-F]{1,8})$/.exec(args);
    if (!m) return 'E01';
    if (m[1] !== 'target.xml') return 'E00';
    const xml = targetXml();
    const offset = parseInt(m[2]!, 16), length = Math.min(parseInt(m[3]!, 16), MAX_PACKET - 16);
    if (offset > xml.length) return 'E01';
    const part = xml.slice(offset, offset + length);
    return (offset + length >= xml.length ? 'l' : 'm') + part;
  }

  private vPacket(p: string): string | undefined {
    if (p === 'vMustReplyEmpty') return '';
    if (p === 'vCont?') return 'vCont;c;C;s;S';
    if (p.startsWith('vAttach;')) { if (!this.target.paused) this.target.interrupt(); return this.lastStopReply; }
    if (p.startsWith('vKill')) { this.target.kill(); return 'OK'; }
    if (p.startsWith('vCont;')) {
      // The first action that applies to our thread (or to all) decides: s/S step, c/C continue.
      for (const action of p.slice(6).split(';')) {
        const [what, thread] = action.split(':');
        if (thread !== undefined && thread !== '-1' && parseHexNumber(thread, 0xffff) !== THREAD) continue;
        const kind = what?.[0];
        if (kind === 's' || kind === 'S') return this.resume(true, '', false);
        if (kind === 'c' || kind === 'C') return this.resume(false, '', false);
        return 'E01';
      }
      return 'E01';
    }
    return '';
  }

  // ------------------------------------------------------------------ run control

  /** `c`/`s` [addr] and `C`/`S` sig[;addr]: resume (the stop reply comes when the target stops). */
  private resume(step: boolean, args: string, withSignal: boolean): string | undefined {
    if (this.target.ended) return endReply(this.target.ended);
    let addr = args;
    if (withSignal) addr = args.includes(';') ? args.slice(args.indexOf(';') + 1) : '';
    if (addr !== '') {
      const at = parseHexBig(addr);
      if (at === undefined) return 'E01';
      const regs = this.target.vcpu.getRegisters();
      regs.rip = at;
      this.target.vcpu.setRegisters(regs);
    }
    const debug = this.target.vcpu.debug;
    if (step) {
      if (debug === undefined) return 'E01'; // no single step on this backend
      debug.setSingleStep(true);
    }
    this.waiting = true;
    this.target.resume();
    return undefined;
  }

  private breakpoint(insert: boolean, args: string): string {
    const m = /^([0-4]),([0-9a-fA-F]{1,16}),([0-9a-fA-F]{1,8})(;.*)?$/.exec(args);
    if (!m) return 'E01';
    const debug = this.target.vcpu.debug;
    if (debug === undefined) return '';
    const type = m[1]!, address = BigInt(`0x${m[2]}`), length = parseInt(m[3]!, 16);
    if (type === '0' || type === '1') {
      const next = new Set(this.breakpoints);
      if (insert) next.add(address); else next.delete(address);
      if (next.size > debug.maxBreakpoints) return 'E28';
      debug.setBreakpoints([...next]);
      this.breakpoints.clear();
      for (const a of next) this.breakpoints.add(a);
      return 'OK';
    }
    if (debug.maxWatchpoints === 0) return '';
    const kind = WATCH_TYPES[type]!;
    const i = this.watchpoints.findIndex((w) => w.address === address && w.length === length && w.kind === kind);
    const next = [...this.watchpoints];
    if (insert) { if (i < 0) next.push({ address, length, kind }); }
    else if (i >= 0) next.splice(i, 1);
    if (next.length > debug.maxWatchpoints) return 'E28';
    try {
      debug.setWatchpoints(next);
    } catch {
      return 'E22';
    }
    this.watchpoints.splice(0, this.watchpoints.length, ...next);
    return 'OK';
  }

  private clearDebug(): void {
    const debug = this.target.vcpu.debug;
    if (debug === undefined) return;
    try {
      if (this.breakpoints.size > 0) debug.setBreakpoints([]);
      if (this.watchpoints.length > 0) debug.setWatchpoints([]);
      debug.setSingleStep(false);
    } catch {
      // The vCPU is gone with its machine: nothing left to clear.
    }
    this.breakpoints.clear();
    this.watchpoints.length = 0;
  }

  // ------------------------------------------------------------------ registers and memory

  private state(): RegisterState {
    return { regs: this.target.vcpu.getRegisters(), sregs: this.target.vcpu.getSpecialRegisters() };
  }

  private readAll(): string {
    const s = this.state();
    return REGISTERS.map((r) => encodeRegister(r, s)).join('');
  }

  private writeAll(hex: string): string {
    if (hex.length !== REGISTERS.reduce((n, r) => n + r.bits / 4, 0)) return 'E01';
    const s = this.state();
    let at = 0;
    const changed = new Set<string>();
    for (const r of REGISTERS) {
      const digits = r.bits / 4;
      const part = hex.slice(at, at + digits);
      at += digits;
      if (/^x+$/i.test(part) || r.set === undefined) continue;
      const v = decodeRegister(r, part);
      if (v === undefined) return 'E01';
      if (r.get(s) !== v) changed.add(r.set(s, v));
    }
    return this.store(s, changed);
  }

  private readOne(args: string): string {
    const n = parseHexNumber(args, 0xffff);
    const r = n === undefined ? undefined : REGISTERS[n];
    if (r === undefined) return 'E01';
    return encodeRegister(r, this.state());
  }

  private writeOne(args: string): string {
    const m = /^([0-9a-fA-F]{1,4})=([0-9a-fA-Fx]+)$/.exec(args);
    const r = m ? REGISTERS[parseInt(m[1]!, 16)] : undefined;
    if (!m || r === undefined) return 'E01';
    if (r.set === undefined) return 'E01';
    const v = decodeRegister(r, m[2]!);
    if (v === undefined) return 'E01';
    const s = this.state();
    return this.store(s, new Set([r.set(s, v)]));
  }

  private store(s: RegisterState, changed: Set<string>): string {
    try {
      if (changed.has('regs')) this.target.vcpu.setRegisters(s.regs);
      if (changed.has('sregs')) this.target.vcpu.setSpecialRegisters(s.sregs);
    } catch {
      return 'E01';
    }
    return 'OK';
  }

  private readMemory(args: string): string {
    const m = /^([0-9a-fA-F]{1,16}),([0-9a-fA-F]{1,8})$/.exec(args);
    if (!m) return 'E01';
    const len = Math.min(parseInt(m[2]!, 16), MAX_READ);
    if (len === 0) return '';
    const bytes = readVirtual(this.target.memory, this.target.vcpu.getSpecialRegisters(), BigInt(`0x${m[1]}`), len);
    return bytes.length === 0 ? 'E14' : toHex(bytes);
  }

  private writeMemory(args: string, binary: boolean): string {
    const colon = args.indexOf(':');
    const m = /^([0-9a-fA-F]{1,16}),([0-9a-fA-F]{1,8})$/.exec(colon < 0 ? '' : args.slice(0, colon));
    if (!m) return 'E01';
    const len = parseInt(m[2]!, 16);
    const data = binary ? unescapeBinary(args.slice(colon + 1)) : fromHex(args.slice(colon + 1));
    if (data === undefined || data.length !== len) return 'E01';
    if (len === 0) return 'OK'; // gdb probes X support with an empty write
    return writeVirtual(this.target.memory, this.target.vcpu.getSpecialRegisters(), BigInt(`0x${m[1]}`), data) ? 'OK' : 'E14';
  }
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

/** `W` with the exit code for a run the guest ended itself; `X` with a signal otherwise. */
function endReply(end: TargetEnd): string {
  switch (end.reason) {
    case 'exit-code': case 'poweroff': case 'reset': return `W${hex2(end.exitCode & 0xff)}`;
    case 'time-limit': return `X${hex2(SIGALRM)}`;
    case 'stopped': return `X${hex2(SIGKILL)}`;
    default: return `X${hex2(SIGSEGV)}`;
  }
}
