/**
 * GDB remote serial protocol framing: `$payload#xx` packets with a modulo-256 checksum, `+`/`-`
 * acknowledgements, the out-of-band interrupt byte 0x03, and the `}` escape of binary data. The
 * reader is a byte-at-a-time state machine over untrusted input: garbage between packets is
 * skipped, a bad checksum or an over-long packet is refused with `-`, and nothing it reads can
 * make it throw.
 * @module
 */

/** The largest packet payload accepted and advertised (`PacketSize` in qSupported), in bytes. */
export const MAX_PACKET = 0x4000;

/** What the reader found in the byte stream. */
export type Incoming =
  /** A packet whose checksum matched (payload as a latin1 string: one char per byte). */
  | { readonly kind: 'packet'; readonly payload: string }
  /** A packet with a wrong checksum or too long: answer `-` (in ack mode). */
  | { readonly kind: 'bad' }
  /** `+` or `-` from the client. */
  | { readonly kind: 'ack'; readonly ok: boolean }
  /** The interrupt byte 0x03 (Ctrl-C) outside a packet. */
  | { readonly kind: 'interrupt' };

const IDLE = 0, DATA = 1, SUM1 = 2, SUM2 = 3, DISCARD = 4;

/** The modulo-256 sum of a latin1 string's bytes, as two lowercase hex digits. */
export function checksum(payload: string): string {
  let sum = 0;
  for (let i = 0; i < payload.length; i++) sum = (sum + payload.charCodeAt(i)) & 0xff;
  return sum.toString(16).padStart(2, '0');
}

/** Frames `payload` (latin1) as `$…#xx`, escaping `$`, `#`, `}` and `*` so binary data survives. */
export function encodePacket(payload: string): string {
  let body = '';
  for (let i = 0; i < payload.length; i++) {
    const c = payload.charCodeAt(i);
    body += c === 0x23 || c === 0x24 || c === 0x7d || c === 0x2a ? `}${String.fromCharCode(c ^ 0x20)}` : payload[i];
  }
  return `$${body}#${checksum(body)}`;
}

/** Undoes the `}` escape of binary data (the `X` packet's bytes). A trailing lone `}` is dropped. */
export function unescapeBinary(data: string): Uint8Array {
  const out = new Uint8Array(data.length);
  let n = 0;
  for (let i = 0; i < data.length; i++) {
    const c = data.charCodeAt(i) & 0xff;
    if (c === 0x7d) {
      if (i + 1 >= data.length) break;
      out[n++] = (data.charCodeAt(++i) & 0xff) ^ 0x20;
    } else {
      out[n++] = c;
    }
  }
  return out.subarray(0, n);
}

/** Turns a byte stream into {@link Incoming} events. */
export class PacketReader {
  private state = IDLE;
  private body = '';
  private sum = 0;
  private given = 0;

  /** Feeds bytes; calls `emit` for each event, in order. */
  feed(bytes: Uint8Array, emit: (event: Incoming) => void): void {
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i]!;
      switch (this.state) {
        case IDLE:
          if (b === 0x24) { this.state = DATA; this.body = ''; this.sum = 0; }
          else if (b === 0x2b) emit({ kind: 'ack', ok: true });
          else if (b === 0x2d) emit({ kind: 'ack', ok: false });
          else if (b === 0x03) emit({ kind: 'interrupt' });
          break; // anything else between packets is noise
        case DATA:
          if (b === 0x23) { this.state = SUM1; break; }
          if (this.body.length >= MAX_PACKET) { this.state = DISCARD; break; }
          this.body += String.fromCharCode(b);
          this.sum = (this.sum + b) & 0xff;
          break;
        case DISCARD:
          // Over-long: skip to its end, then refuse it.
          if (b === 0x23) { this.state = IDLE; this.body = ''; emit({ kind: 'bad' }); }
          break;
        case SUM1: {
          const h = hexDigit(b);
          if (h < 0) { this.state = IDLE; emit({ kind: 'bad' }); break; }
          this.given = h << 4;
          this.state = SUM2;
          break;
        }
        case SUM2: {
          const h = hexDigit(b);
          this.state = IDLE;
          const body = this.body;
          this.body = '';
          if (h < 0 || (this.given | h) !== this.sum) emit({ kind: 'bad' });
          else emit({ kind: 'packet', payload: body });
          break;
        }
      }
    }
  }
}

function hexDigit(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x61 && b <= 0x66) return b - 0x57;
  if (b >= 0x41 && b <= 0x46) return b - 0x37;
  return -1;
}

/** Bytes as lowercase hex. */
export function toHex(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += bytes[i]!.toString(16).padStart(2, '0');
  return s;
}

/** Hex (even length, hex digits only) to bytes, or undefined. */
export function fromHex(hex: string): Uint8Array | undefined {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) return undefined;
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** An unsigned hex number of at most 16 digits as a bigint, or undefined. */
export function parseHexBig(text: string): bigint | undefined {
  return /^[0-9a-fA-F]{1,16}$/.test(text) ? BigInt(`0x${text}`) : undefined;
}

/** An unsigned hex number up to `max` as a number, or undefined. */
export function parseHexNumber(text: string, max: number): number | undefined {
  if (!/^[0-9a-fA-F]{1,8}$/.test(text)) return undefined;
  const n = parseInt(text, 16);
  return n <= max ? n : undefined;
}
