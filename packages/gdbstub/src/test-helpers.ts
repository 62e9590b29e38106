/**
 * A GDB client for tests: drives a {@link GdbSession} over a real emulator machine running a
 * hand-assembled guest, in no-ack mode, and waits (bounded) for replies.
 */
import { EmuBackend } from '@hyvisor/backend-emu';
import { Machine, attachBoard, minimalStrategy, tinyElf, type RunResult } from '@hyvisor/vmm';
import { PacketReader, encodePacket } from './packet.js';
import { GdbSession, type SessionOptions } from './session.js';
import { machineTarget, type DebugTarget } from './target.js';

/** Where tinyElf loads the code (and its entry). */
export const ENTRY = 0x100000;

export class TestClient {
  readonly replies: string[] = [];
  readonly raw: string[] = [];
  closed = false;
  readonly session: GdbSession;
  private readonly reader = new PacketReader();

  constructor(readonly target: DebugTarget, options: SessionOptions = {}) {
    this.session = new GdbSession(target, {
      write: (data) => {
        this.raw.push(data);
        this.reader.feed(Buffer.from(data, 'latin1'), (e) => { if (e.kind === 'packet') this.replies.push(e.payload); });
      },
      close: () => { this.closed = true; },
    }, options);
  }

  /** Sends a packet (framed, with its checksum). */
  send(payload: string): void {
    this.session.receive(Buffer.from(encodePacket(payload), 'latin1'));
  }

  /** Sends and returns the one reply (which must come synchronously). */
  ask(payload: string): string {
    const before = this.replies.length;
    this.send(payload);
    if (this.replies.length !== before + 1) throw new Error(`no reply to ${payload}`);
    return this.replies[before]!;
  }

  /** Sends a resume (`c`, `s`, `vCont;…`) and waits for the stop reply, giving the event loop turns (at most `ms`). */
  async resume(payload: string, ms = 10_000): Promise<string> {
    const before = this.replies.length;
    this.send(payload);
    return this.next(before, ms);
  }

  /** Waits for reply number `index`. */
  async next(index: number, ms = 10_000): Promise<string> {
    const end = Date.now() + ms;
    while (this.replies.length <= index) {
      if (Date.now() > end) throw new Error('no stop reply in time');
      await new Promise((r) => setTimeout(r, 1));
    }
    return this.replies[index]!;
  }
}

/** An emulator machine running `code` (64-bit, at {@link ENTRY}), held at its first instruction, with a client attached. */
export function debugged(code: readonly number[], options: SessionOptions = {}): { machine: Machine; client: TestClient; done: Promise<RunResult>; dispose(): void } {
  const backend = new EmuBackend();
  const machine = new Machine({ backend, strategy: minimalStrategy(), memory: 4 * 1024 * 1024, timeLimitMs: 30_000 });
  attachBoard(machine, 'minimal', { output: 'none', input: 'none' });
  machine.loadKernel(tinyElf(code));
  const target = machineTarget(machine);
  const client = new TestClient(target, options);
  const done = machine.run();
  return {
    machine, client, done,
    dispose() {
      client.session.dispose();
      target.dispose();
      machine.stop();
      void done.finally(() => { machine.dispose(); backend.dispose(); });
    },
  };
}

/** A 64-bit register from a `g` reply (register `index`, all before it 64-bit). */
export function reg64(g: string, index: number): bigint {
  const hex = g.slice(index * 16, index * 16 + 16);
  return BigInt(`0x${hex.match(/../g)!.reverse().join('')}`);
}
