/**
 * The i8042 keyboard controller of a PC (data port 0x60, status/command port 0x64) with nothing
 * plugged into it: enough for a guest to find the controller, see that no keyboard or mouse
 * answers, and reset the machine with command 0xFE, which is how Linux's `reboot` (BOOT_KBD)
 * and most other PC software do it.
 *
 * Modelled after the 8042 command set as IBM's AT and PS/2 technical references give it:
 * the status register (OBF, IBF always 0 since every write is handled at once, SYS from the
 * command byte, A2 command/data, keyboard not inhibited, AUXB, time-out), the command byte
 * (0x20 read, 0x60 write), self test 0xAA → 0x55, interface tests 0xAB/0xA9 → 0x00, disable and
 * enable keyboard (0xAD/0xAE) and auxiliary port (0xA7/0xA8), output port read/write (0xD0/0xD1;
 * bit 0 low resets the CPU), the loopback writes 0xD2/0xD3, 0xD4 (next byte to the mouse), and
 * 0xF0–0xFF (pulse output-port bits 0–3 low; bit 0 resets the CPU).
 *
 * "Nothing plugged in": a byte sent to the keyboard (data port) or the mouse (after 0xD4) gets
 * the time-out status with 0xFE in the output buffer, at once, so a guest's probe fails quickly
 * instead of waiting for an answer. Interrupts (IRQ 1 keyboard, IRQ 12 mouse) follow the output
 * buffer when the command byte enables them.
 * @module
 */
import type { IrqLine, PioDevice, ResetTrigger } from '@hyvisor/core';

/** Ports on a PC. */
export const I8042Port = { DATA: 0x60, STATUS: 0x64 } as const;
/** ISA interrupts on a PC. */
export const I8042Irq = { KEYBOARD: 1, AUX: 12 } as const;

/** Status register bits. */
export const I8042Status = {
  OBF: 0x01, IBF: 0x02, SYS: 0x04, CMD: 0x08, UNLOCKED: 0x10, AUXB: 0x20, TIMEOUT: 0x40, PARITY: 0x80,
} as const;

/** Command byte (controller RAM byte 0) bits. */
export const I8042Ctr = {
  KBD_INT: 0x01, AUX_INT: 0x02, SYS: 0x04, KBD_DISABLE: 0x10, AUX_DISABLE: 0x20, XLATE: 0x40,
} as const;

/** Commands written to the status port. */
export const I8042Cmd = {
  READ_CTR: 0x20, WRITE_CTR: 0x60, AUX_DISABLE: 0xa7, AUX_ENABLE: 0xa8, AUX_TEST: 0xa9, SELF_TEST: 0xaa,
  KBD_TEST: 0xab, KBD_DISABLE: 0xad, KBD_ENABLE: 0xae, READ_OUTPUT: 0xd0, WRITE_OUTPUT: 0xd1,
  WRITE_KBD_OUTPUT: 0xd2, WRITE_AUX_OUTPUT: 0xd3, WRITE_AUX: 0xd4, PULSE_RESET: 0xfe,
} as const;

/** Self-test passed. */
export const I8042_SELF_TEST_OK = 0x55;
/** What a byte sent to an absent device yields (with the time-out status bit). */
export const I8042_NO_DEVICE = 0xfe;
/** Output-port bit 0: the CPU reset line (active low). */
const OUT_RESET = 0x01;
/** Output port as firmware leaves it: reset inactive, A20 enabled. */
const OUTPUT_PORT_DEFAULT = 0x03;

/** The controller on the port-I/O bus: register it twice, at 0x60 (offset 0) and 0x64 (offset 4), or once over 0x60–0x64. */
export class I8042 implements PioDevice {
  private status: number = I8042Status.SYS | I8042Status.UNLOCKED;
  /** Controller RAM; byte 0 is the command byte. */
  private readonly ram = new Uint8Array(32);
  private output: number | undefined;
  private pending: number | undefined;
  private outputPort = OUTPUT_PORT_DEFAULT;
  private kbdLine = false;
  private auxLine = false;

  /** Resets requested (0xFE, any 0xFx pulsing bit 0, or 0xD1 with bit 0 clear). */
  resets = 0;

  constructor(private readonly reset: ResetTrigger, private readonly kbdIrq?: IrqLine, private readonly auxIrq?: IrqLine) {
    this.ram[0] = I8042Ctr.KBD_INT | I8042Ctr.SYS | I8042Ctr.XLATE;
  }

  read(offset: number, _size: number): number {
    if (offset === 4) return this.status;
    if (offset !== 0) return 0xff;
    const value = this.output ?? 0;
    this.output = undefined;
    this.status &= ~(I8042Status.OBF | I8042Status.AUXB | I8042Status.TIMEOUT);
    this.updateLines();
    return value;
  }

  write(offset: number, _size: number, value: number): void {
    const v = value & 0xff;
    if (offset === 4) this.command(v);
    else if (offset === 0) this.data(v);
  }

  private command(c: number): void {
    this.status |= I8042Status.CMD;
    this.pending = undefined;
    if (c >= 0x20 && c <= 0x3f) return this.put(this.ram[c & 0x1f]!);
    if (c >= 0x60 && c <= 0x7f) { this.pending = c; return; }
    if (c >= 0xf0) {
      if ((c & OUT_RESET) === 0) this.pulseReset();
      return;
    }
    switch (c) {
      case I8042Cmd.AUX_DISABLE: this.ram[0]! |= I8042Ctr.AUX_DISABLE; return;
      case I8042Cmd.AUX_ENABLE: this.ram[0]! &= ~I8042Ctr.AUX_DISABLE; return;
      case I8042Cmd.AUX_TEST: case I8042Cmd.KBD_TEST: return this.put(0x00);
      case I8042Cmd.SELF_TEST: return this.put(I8042_SELF_TEST_OK);
      case I8042Cmd.KBD_DISABLE: this.ram[0]! |= I8042Ctr.KBD_DISABLE; return;
      case I8042Cmd.KBD_ENABLE: this.ram[0]! &= ~I8042Ctr.KBD_DISABLE; return;
      case I8042Cmd.READ_OUTPUT: return this.put(this.outputPort | (this.output !== undefined ? 0x10 : 0));
      case I8042Cmd.WRITE_OUTPUT: case I8042Cmd.WRITE_KBD_OUTPUT: case I8042Cmd.WRITE_AUX_OUTPUT: case I8042Cmd.WRITE_AUX:
        this.pending = c;
        return;
      default: // unknown commands are ignored, as the part does
    }
  }

  private data(v: number): void {
    this.status &= ~I8042Status.CMD;
    const c = this.pending;
    this.pending = undefined;
    if (c === undefined) return this.noDevice(false); // a byte for the keyboard
    if (c >= 0x60 && c <= 0x7f) {
      this.ram[c & 0x1f] = v;
      if (c === I8042Cmd.WRITE_CTR) this.status = (this.status & ~I8042Status.SYS) | (v & I8042Ctr.SYS);
      this.updateLines();
      return;
    }
    switch (c) {
      case I8042Cmd.WRITE_OUTPUT:
        this.outputPort = v;
        if ((v & OUT_RESET) === 0) this.pulseReset();
        return;
      case I8042Cmd.WRITE_KBD_OUTPUT: return this.put(v);
      case I8042Cmd.WRITE_AUX_OUTPUT: return this.put(v, true);
      case I8042Cmd.WRITE_AUX: return this.noDevice(true);
    }
  }

  /** The device the byte was for is not there: time-out, 0xFE. */
  private noDevice(aux: boolean): void {
    this.put(I8042_NO_DEVICE, aux);
    this.status |= I8042Status.TIMEOUT;
  }

  private put(value: number, aux = false): void {
    this.output = value;
    this.status = (this.status | I8042Status.OBF) & ~(I8042Status.AUXB | I8042Status.TIMEOUT);
    if (aux) this.status |= I8042Status.AUXB;
    this.updateLines();
  }

  private pulseReset(): void {
    this.resets++;
    this.outputPort |= OUT_RESET; // the line comes back up after the pulse
    this.reset.requestReset();
  }

  private updateLines(): void {
    const full = (this.status & I8042Status.OBF) !== 0;
    const aux = (this.status & I8042Status.AUXB) !== 0;
    this.setLine(false, full && !aux && (this.ram[0]! & I8042Ctr.KBD_INT) !== 0);
    this.setLine(true, full && aux && (this.ram[0]! & I8042Ctr.AUX_INT) !== 0);
  }

  private setLine(aux: boolean, level: boolean): void {
    const line = aux ? this.auxIrq : this.kbdIrq;
    if ((aux ? this.auxLine : this.kbdLine) === level) return;
    if (aux) this.auxLine = level; else this.kbdLine = level;
    if (level) line?.raise(); else line?.lower();
  }
}
