/**
 * The guest's console on the user's terminal, as QEMU's `-nographic` does it: raw mode, so every
 * key (Ctrl-C included) goes to the guest; `Ctrl-A x` quits the VMM, `Ctrl-A h` lists the
 * escapes, `Ctrl-A Ctrl-A` sends one Ctrl-A. The terminal is put back however the VMM ends: on
 * {@link ConsoleTerminal.dispose}, and on process exit (an uncaught exception, `process.exit`).
 * @module
 */
import { Transform, type Readable } from 'node:stream';

/** Ctrl-A: the escape key (QEMU's default). */
export const ESCAPE = 0x01;

/** What follows Ctrl-A. */
export type EscapeCommand = 'quit' | 'help';

/** The escape help, for a terminal in raw mode (CR LF). */
export const ESCAPE_HELP = 'C-a h    print this help\r\nC-a x    exit the VMM\r\nC-a C-a  send C-a to the guest\r\n';

/**
 * Takes the escapes out of the bytes typed: `Ctrl-A x`/`X` → quit, `Ctrl-A h`/`?` → help,
 * `Ctrl-A Ctrl-A` → one Ctrl-A for the guest; any other key after Ctrl-A is dropped (as QEMU
 * does). An escape split across two chunks is understood.
 */
export class EscapeFilter {
  private escaped = false;

  constructor(private readonly onCommand: (command: EscapeCommand) => void) {}

  /** The bytes of `chunk` meant for the guest. */
  filter(chunk: Uint8Array): Uint8Array {
    if (!this.escaped && !chunk.includes(ESCAPE)) return chunk;
    const out: number[] = [];
    for (const b of chunk) {
      if (!this.escaped) {
        if (b === ESCAPE) this.escaped = true;
        else out.push(b);
        continue;
      }
      this.escaped = false;
      if (b === ESCAPE) out.push(ESCAPE);
      else if (b === 0x78 || b === 0x58) this.onCommand('quit');
      else if (b === 0x68 || b === 0x3f) this.onCommand('help');
    }
    return Uint8Array.from(out);
  }
}

/** The raw-mode part of a TTY stream (`process.stdin` when it is a terminal). */
export interface RawTty extends Readable {
  readonly isTTY?: boolean;
  setRawMode(mode: boolean): unknown;
}

/** The console on a terminal: what the UART reads, and the way back to a cooked terminal. */
export interface ConsoleTerminal {
  /** The keys for the guest (the escapes taken out). */
  readonly input: Readable;
  /** Puts the terminal back (cooked mode, stdin paused). Idempotent. */
  dispose(): void;
}

/**
 * Puts `tty` in raw mode and returns the guest's input stream; `onCommand` gets the escapes.
 * Also restores the terminal on process exit, so an exception or `process.exit` never leaves it raw.
 */
export function openConsoleTerminal(tty: RawTty, onCommand: (command: EscapeCommand) => void, proc: Pick<NodeJS.Process, 'on' | 'off'> = process): ConsoleTerminal {
  const escapes = new EscapeFilter(onCommand);
  const input = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      const keys = escapes.filter(chunk);
      done(null, keys.length > 0 ? Buffer.from(keys.buffer, keys.byteOffset, keys.length) : undefined);
    },
  });
  let open = true;
  const restore = (): void => {
    if (!open) return;
    open = false;
    proc.off('exit', restore);
    tty.unpipe(input);
    tty.setRawMode(false);
    tty.pause();
  };
  tty.setRawMode(true);
  proc.on('exit', restore);
  tty.pipe(input);
  return { input, dispose: restore };
}
