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
  /** One transmitted byte (0..255). Called on the vCPU's exit path: must be cheap. */
  write(byte: number): void;
  /** Pushes out anything buffered (the VMM calls it when the vCPU yields or stops). */
  flush?(): void;
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

/**
 * Collects transmitted bytes in memory (config `serial.output: buffer`, tests, embedding).
 * Grows by doubling, so a byte costs no allocation on average.
 */
export class BufferSerialOutput implements SerialOutput {
  private buf = new Uint8Array(256);
  private len = 0;

  write(byte: number): void {
    if (this.len === this.buf.length) {
      const bigger = new Uint8Array(this.buf.length * 2);
      bigger.set(this.buf);
      this.buf = bigger;
    }
    this.buf[this.len++] = byte & 0xff;
  }

  /** Number of bytes collected. */
  get length(): number {
    return this.len;
  }

  /** A copy of the bytes collected so far. */
  bytes(): Uint8Array {
    return this.buf.slice(0, this.len);
  }

  /** The bytes collected so far decoded as UTF-8 (invalid sequences become U+FFFD). */
  text(): string {
    return new TextDecoder().decode(this.buf.subarray(0, this.len));
  }

  /** Forgets everything collected. */
  clear(): void {
    this.len = 0;
  }
}

/** The part of a Node `Writable` that {@link StdoutSerialOutput} uses. */
export interface ChunkWriter {
  write(chunk: Uint8Array): unknown;
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
}

/**
 * Sends transmitted bytes to a stream (stdout by default) in chunks: at each newline, when the
 * buffer is full, on {@link flush}, and (unless disabled) when the event loop next gets its
 * turn. A guest printing a line costs one `write` instead of one per byte.
 */
export class StdoutSerialOutput implements SerialOutput {
  private readonly buf: Uint8Array;
  private len = 0;
  private readonly autoFlush: boolean;
  private scheduled: ReturnType<typeof setImmediate> | undefined;

  constructor(
    private readonly stream: ChunkWriter = process.stdout,
    options: StdoutSerialOutputOptions = {},
  ) {
    const size = options.bufferSize ?? 4096;
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`bufferSize must be a whole number ≥ 1, got ${size}`);
    this.buf = new Uint8Array(size);
    this.autoFlush = options.autoFlush ?? true;
  }

  write(byte: number): void {
    this.buf[this.len++] = byte & 0xff;
    if (byte === 0x0a || this.len === this.buf.length) {
      this.flush();
    } else if (this.autoFlush && this.scheduled === undefined) {
      // One setImmediate per partial line, not per byte; it runs when the run loop yields.
      this.scheduled = setImmediate(() => {
        this.scheduled = undefined;
        this.flush();
      });
    }
  }

  /** Writes out whatever is buffered. */
  flush(): void {
    if (this.scheduled !== undefined) {
      clearImmediate(this.scheduled);
      this.scheduled = undefined;
    }
    if (this.len === 0) return;
    // A Writable may keep the chunk until it is drained: hand it a copy, never our buffer.
    this.stream.write(this.buf.slice(0, this.len));
    this.len = 0;
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
