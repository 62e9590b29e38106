/**
 * The tiny interfaces through which a UART meets the outside world, and the standard
 * implementations: where transmitted bytes go ({@link SerialOutput}), how received bytes wait for
 * room in the receive FIFO ({@link SerialInputQueue}), and an interrupt line that goes nowhere
 * ({@link NullIrqLine}).
 * @module
 */
import type { IrqLine } from '@hyvisor/core';

/**
 * Where a UART's transmitted bytes go. Deliberately serial-specific rather than a generic byte
 * sink: a terminal needs to be told when to push out a partly written line ({@link flush}).
 */
export interface SerialOutput {
  /**
   * One transmitted byte (0..255). Called on the vCPU's exit path: must be cheap. A sink that
   * reports {@link full} may still be handed a byte (it then counts it as lost), but a UART
   * holds its bytes instead while the sink is full.
   */
  write(byte: number): void;
  /** Pushes out anything buffered (the VMM calls it when the vCPU yields or stops). */
  flush?(): void;
  /**
   * True while the sink cannot take another byte: the host side of the line is busy (a pipe
   * nobody reads). A sink without it is never full. A UART keeps its transmitter busy (THR
   * full, LSR.THRE clear) while this holds, as a real one does while its line is slow.
   */
  readonly full?: boolean;
  /**
   * Set by the transmitter that owns the sink: called (from the event loop) when a sink that was
   * {@link full} can take bytes again. Only one listener.
   */
  onWritable?: (() => void) | undefined;
}

/** Something that accepts received bytes only as fast as it has room for them (a UART's RX FIFO). */
export interface SerialReceiver {
  /** Offers `bytes`; returns how many (from the front) were taken. The rest must be offered again. */
  enqueueInput(bytes: Uint8Array): number;
  /**
   * Called when room appears after {@link enqueueInput} took less than it was offered. Only one
   * listener: the input queue that feeds this receiver.
   */
  onRxSpace: (() => void) | undefined;
}

/** An interrupt line connected to nothing, for a polled UART or a device without an interrupt. */
export class NullIrqLine implements IrqLine {
  raise(): void {}
  lower(): void {}
}

/** Discards every byte (config `serial.output: none`). */
export class NullSerialOutput implements SerialOutput {
  write(_byte: number): void {}
}

/** Default of {@link BufferSerialOutput}'s limit (config `serial.bufferLimit`): 16 MiB. */
export const DEFAULT_SERIAL_BUFFER_LIMIT = 16 * 1024 * 1024;

/**
 * Collects transmitted bytes in memory (config `serial.output: buffer`, tests, embedding), up to
 * a limit (config `serial.bufferLimit`, default 16 MiB): bytes past it are counted in
 * {@link dropped} and discarded, so a guest that floods its console cannot grow the VMM without
 * bound. The sink is never {@link SerialOutput.full}: a guest never waits on it. Grows by
 * doubling, so a byte costs no allocation on average.
 */
export class BufferSerialOutput implements SerialOutput {
  private buf: Uint8Array;
  private len = 0;
  private lost = 0;
  /** Most bytes kept. */
  readonly limit: number;

  /** @param limit most bytes kept (≥ 1); later bytes are counted in {@link dropped}. */
  constructor(limit = DEFAULT_SERIAL_BUFFER_LIMIT) {
    if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`serial buffer limit must be a whole number of bytes ≥ 1, got ${limit}`);
    this.limit = limit;
    this.buf = new Uint8Array(Math.min(256, limit));
  }

  write(byte: number): void {
    if (this.len === this.buf.length) {
      if (this.len >= this.limit) {
        this.lost++;
        return;
      }
      const bigger = new Uint8Array(Math.min(this.buf.length * 2, this.limit));
      bigger.set(this.buf);
      this.buf = bigger;
    }
    this.buf[this.len++] = byte & 0xff;
  }

  /** Number of bytes collected. */
  get length(): number {
    return this.len;
  }

  /** Bytes discarded because the buffer was at its {@link limit}. */
  get dropped(): number {
    return this.lost;
  }

  /** A copy of the bytes collected so far. */
  bytes(): Uint8Array {
    return this.buf.slice(0, this.len);
  }

  /** The bytes collected so far decoded as UTF-8 (invalid sequences become U+FFFD). */
  text(): string {
    return new TextDecoder().decode(this.buf.subarray(0, this.len));
  }

  /** Forgets everything collected (and the count of dropped bytes). */
  clear(): void {
    this.len = 0;
    this.lost = 0;
  }
}

/**
 * The part of a Node `Writable` that {@link StdoutSerialOutput} uses: `write` returning false
 * (Node's backpressure), then `'drain'`; `'error'` (EPIPE when the reader went away).
 */
export interface ChunkWriter {
  /** Takes a chunk; `false` means "stop until `'drain'`" (a `Writable` past its high-water mark). */
  write(chunk: Uint8Array): unknown;
  once?(event: 'drain', listener: () => void): unknown;
  on?(event: 'error', listener: (err: Error) => void): unknown;
  off?(event: 'error' | 'drain', listener: (...args: any[]) => void): unknown; // eslint-disable-line @typescript-eslint/no-explicit-any
  /** Bytes the stream still holds (a `Writable`'s `writableLength`). */
  readonly writableLength?: number;
}

/** Options of {@link StdoutSerialOutput}. */
export interface StdoutSerialOutputOptions {
  /** Bytes buffered before a chunk is written even without a newline (default 4096). */
  readonly bufferSize?: number;
  /**
   * Also flush a partial line once the event loop gets its turn (default true), so a prompt
   * without a newline (`login: `) appears without waiting for an explicit {@link StdoutSerialOutput.flush}.
   */
  readonly autoFlush?: boolean;
  /**
   * Called once when the stream fails (EPIPE: the reader of a pipe exited). From then on bytes
   * are discarded (counted in {@link StdoutSerialOutput.dropped}) and the sink is never full.
   * The VMM ends the run here (see `addStandardDevices`).
   */
  readonly onClosed?: (err: Error) => void;
}

/**
 * Sends transmitted bytes to a stream (stdout by default) in chunks: at each newline, when the
 * buffer is full, on {@link flush}, and (unless disabled) when the event loop next gets its
 * turn. A guest printing a line costs one `write` instead of one per byte.
 *
 * Backpressure: once the stream's `write` returns false, nothing more is written until its
 * `'drain'`; bytes collect in the sink's own buffer (at most `bufferSize`), and when that is full
 * the sink reports {@link full}, so the UART holds the next bytes and its THR stays busy. At
 * `'drain'` the buffer goes out and {@link SerialOutput.onWritable} tells the UART. So the
 * memory a guest can make the VMM hold is the stream's high-water mark plus `bufferSize`.
 */
export class StdoutSerialOutput implements SerialOutput {
  private readonly buf: Uint8Array;
  private len = 0;
  private readonly autoFlush: boolean;
  private scheduled: ReturnType<typeof setImmediate> | undefined;
  /** The stream asked us to wait for `'drain'`. */
  private blocked = false;
  private closed = false;
  private lost = 0;
  private readonly onClosed: ((err: Error) => void) | undefined;
  private readonly drained = (): void => {
    this.blocked = false;
    if (this.closed) return;
    this.writeOut();
    // The sink's buffer is empty now (even if the stream asked to wait again): room for bytes.
    this.onWritable?.();
  };
  private disposed = false;
  private readonly failed = (err: Error): void => {
    if (this.closed) return;
    this.closed = true;
    this.blocked = false;
    this.lost += this.len;
    this.len = 0;
    if (this.disposed) return; // a late EPIPE from the last flush: nothing left to tell
    this.onClosed?.(err);
    // A transmitter waiting for room must not wait for ever: room is endless now.
    this.onWritable?.();
  };
  onWritable: (() => void) | undefined;

  constructor(
    private readonly stream: ChunkWriter = process.stdout,
    options: StdoutSerialOutputOptions = {},
  ) {
    const size = options.bufferSize ?? 4096;
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`bufferSize must be a whole number ≥ 1, got ${size}`);
    this.buf = new Uint8Array(size);
    this.autoFlush = options.autoFlush ?? true;
    this.onClosed = options.onClosed;
    stream.on?.('error', this.failed);
  }

  /** True while the stream waits for `'drain'` and the sink's own buffer is full. */
  get full(): boolean {
    return this.blocked && this.len === this.buf.length;
  }

  /** True once the stream failed (EPIPE); bytes are discarded from then on. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Bytes discarded: handed over while {@link full}, or after the stream failed. */
  get dropped(): number {
    return this.lost;
  }

  write(byte: number): void {
    if (this.closed || this.len === this.buf.length) {
      // Closed, or full while the stream is blocked (a transmitter that ignored `full`).
      this.lost++;
      return;
    }
    this.buf[this.len++] = byte & 0xff;
    if (this.blocked) return; // everything waits for 'drain'
    if (byte === 0x0a || this.len === this.buf.length) {
      this.writeOut();
    } else if (this.autoFlush && this.scheduled === undefined) {
      // One setImmediate per partial line, not per byte; it runs when the run loop yields.
      this.scheduled = setImmediate(() => {
        this.scheduled = undefined;
        if (!this.blocked) this.writeOut();
      });
    }
  }

  /**
   * Writes out whatever is buffered, even while the stream asked to wait (once: at most
   * `bufferSize` more bytes queue up in the stream). The VMM calls it when the machine stops.
   */
  flush(): void {
    if (this.scheduled !== undefined) {
      clearImmediate(this.scheduled);
      this.scheduled = undefined;
    }
    this.writeOut();
  }

  /**
   * Flushes what is buffered and stops reacting to the stream: `'drain'` is no longer awaited and
   * a later `'error'` (EPIPE from the last chunk, when the reader has gone) is swallowed, not
   * thrown as an unhandled stream error. The error listener stays for that reason while the
   * stream still holds bytes.
   */
  dispose(): void {
    this.flush();
    this.disposed = true;
    this.onWritable = undefined;
    this.stream.off?.('drain', this.drained);
    if (this.closed || this.stream.writableLength === 0) this.stream.off?.('error', this.failed);
  }

  private writeOut(): void {
    if (this.len === 0 || this.closed) return;
    // A Writable may keep the chunk until it is drained: hand it a copy, never our buffer.
    const more = this.stream.write(this.buf.slice(0, this.len));
    this.len = 0;
    if (more === false && !this.blocked && this.stream.once !== undefined) {
      this.blocked = true;
      this.stream.once('drain', this.drained);
    }
  }
}

/**
 * Holds input bytes that a {@link SerialReceiver} has no room for yet and feeds them in as room
 * appears, so bytes typed faster than the guest reads them wait instead of being lost.
 *
 * Mirrors a Node `Writable`: {@link push} returns false once more than `highWaterMark` bytes are
 * waiting (pause the source, e.g. `stdin.pause()`), and {@link onDrain} fires when the queue is
 * empty again (resume it).
 */
export class SerialInputQueue {
  private readonly chunks: Uint8Array[] = [];
  private waiting = 0;
  private needDrain = false;
  /** Called when the queue has emptied after {@link push} returned false (time to resume the source). */
  onDrain: (() => void) | undefined;

  constructor(
    private readonly receiver: SerialReceiver,
    private readonly highWaterMark = 4096,
  ) {
    receiver.onRxSpace = () => this.pump();
  }

  /** Bytes waiting for room in the receiver. */
  get pending(): number {
    return this.waiting;
  }

  /** Queues `bytes` (the queue keeps a copy); false once more than `highWaterMark` bytes wait. */
  push(bytes: Uint8Array): boolean {
    if (bytes.length > 0) {
      this.chunks.push(bytes.slice());
      this.waiting += bytes.length;
      this.pump();
    }
    if (this.waiting <= this.highWaterMark) return true;
    this.needDrain = true;
    return false;
  }

  /** Hands the receiver as much as it takes. */
  private pump(): void {
    while (this.chunks.length > 0) {
      const head = this.chunks[0]!;
      const taken = this.receiver.enqueueInput(head);
      this.waiting -= taken;
      if (taken < head.length) {
        this.chunks[0] = head.subarray(taken);
        return;
      }
      this.chunks.shift();
    }
    if (this.needDrain) {
      this.needDrain = false;
      this.onDrain?.();
    }
  }
}
