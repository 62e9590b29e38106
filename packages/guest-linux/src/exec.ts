/**
 * Running one command in the guest through its `init` (see `initramfs/init`): the command goes
 * on the kernel command line after `--`, init runs it with `sh -c`, prints
 * `HYVISOR-EXIT=<status>` and powers off. {@link ExecConsole} reads the serial console as it
 * comes and keeps the command's output apart from the boot log.
 * @module
 */
import { Writable } from 'node:stream';
import { LinuxGuestError } from './debian.js';
import { EXIT_MARKER, INIT_MARKER } from './guest.js';

/**
 * The kernel command line words that make init run `command`: `-- "command"`. The double quotes
 * keep it one argument with its spaces intact (the kernel splits words at blanks outside
 * quotes and passes what follows `--` to init). Throws {@link LinuxGuestError} for what the
 * kernel's parser cannot carry: double quotes, control or non-ASCII characters, an empty command.
 */
export function initCommandArgs(command: string): string {
  if (command.trim() === '') throw new LinuxGuestError('the command to run in the guest is empty');
  if (!/^[\x20-\x7e]*$/.test(command)) throw new LinuxGuestError('the command to run in the guest must be printable ASCII on one line (it travels on the kernel command line)');
  if (command.includes('"')) throw new LinuxGuestError('the command to run in the guest cannot contain double quotes (the kernel command line uses them for quoting): use single quotes');
  return `-- "${command}"`;
}

/** Most boot-log text kept for the message when the command never finishes. */
const TAIL_BYTES = 4096;

/**
 * The serial console of a guest running one command: nothing is shown while the kernel boots;
 * after init's marker line the command's output goes to `out` as it comes (CR removed) until
 * init's `HYVISOR-EXIT=<status>` line, whose status is kept in {@link status}. The last few KiB
 * seen are kept for {@link tail}, to say how far the guest got when it never finishes.
 */
export class ExecConsole extends Writable {
  /** The command's exit status once init printed it. */
  status: number | undefined;
  /** Init printed its marker: the command is running. */
  started = false;
  private line = '';
  private recent = '';
  private readonly decoder = new TextDecoder();

  constructor(private readonly out: (text: string) => void) {
    super();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.take(this.decoder.decode(chunk, { stream: true }));
    done();
  }

  /** The last lines the console printed (up to 4 KiB), for a message. */
  tail(): string {
    const t = this.recent;
    return t.length >= TAIL_BYTES ? t.slice(t.indexOf('\n') + 1) : t; // without the line cut in half
  }

  private take(text: string): void {
    text = text.replace(/\r/g, '');
    this.recent = (this.recent + text).slice(-TAIL_BYTES);
    let at = 0;
    for (;;) {
      const nl = text.indexOf('\n', at);
      if (nl < 0) break;
      this.endLine(this.line + text.slice(at, nl));
      this.line = '';
      at = nl + 1;
    }
    this.line += text.slice(at);
  }

  private endLine(line: string): void {
    if (this.status !== undefined) return; // after the command: poweroff messages
    if (!this.started) {
      if (line === INIT_MARKER) this.started = true;
      return;
    }
    if (line.startsWith(EXIT_MARKER) && /^\d+$/.test(line.slice(EXIT_MARKER.length))) {
      this.status = Number(line.slice(EXIT_MARKER.length));
      return;
    }
    this.out(`${line}\n`);
  }
}
