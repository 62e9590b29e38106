/**
 * An ATA disk on the primary channel, programmed I/O only, after ATA/ATAPI-6 (T13 1410D): the
 * command block at 0x1f0-0x1f7, the control block at 0x3f6, one device (device 0). Every 16- or
 * 32-bit access to the data register moves 2 or 4 bytes: under HVM each one is a VM exit, which
 * is exactly the cost the paper's I/O experiment measures against PV rings.
 *
 * Commands: READ SECTORS (0x20, 0x21), WRITE SECTORS (0x30, 0x31), IDENTIFY DEVICE (0xec), FLUSH
 * CACHE (0xe7), SET FEATURES (0xef: write cache on/off, transfer mode accepted and ignored) and
 * EXECUTE DEVICE DIAGNOSTIC (0x90). Any other command is aborted (ERR, error ABRT), as are
 * CHS-addressed transfers (only LBA is supported).
 *
 * Not modelled: 48-bit LBA (the HOB registers and the EXT commands), DMA, READ/WRITE MULTIPLE,
 * device 1 (absent: while it is selected every register reads 0 and commands are ignored), the
 * time a command takes (BSY is never seen outside a software reset: commands complete before the
 * command-register write returns), and the updating of the LBA and count registers during a
 * transfer (they keep what the host wrote).
 *
 * Guest input is hostile: transfers are checked against the disk before the backing store is
 * touched (IDNF), port handlers never throw, and a host I/O error becomes an ATA error status.
 * @module
 */
import type { IrqLine, PioDevice } from '@hyvisor/core';
import { type BlockStore, SECTOR_SIZE } from '@hyvisor/devices';

/** Command-block register offsets from `Ports.ATA_PRIMARY` (0x1f0). */
export const AtaReg = {
  /** 16-bit (or 32-bit) data register. */
  DATA: 0,
  /** Read: error; write: features. */
  ERROR_FEATURES: 1,
  SECTOR_COUNT: 2,
  /** LBA bits 0-7. */
  LBA_LOW: 3,
  /** LBA bits 8-15. */
  LBA_MID: 4,
  /** LBA bits 16-23. */
  LBA_HIGH: 5,
  /** Device/head: DEV (bit 4), LBA (bit 6), LBA bits 24-27 (bits 0-3). */
  DEVICE: 6,
  /** Read: status (clears a pending interrupt); write: command. */
  STATUS_COMMAND: 7,
} as const;

/** Status register bits. */
export const AtaStatus = {
  ERR: 0x01,
  IDX: 0x02,
  CORR: 0x04,
  /** Data request: the data register is ready for the next block. */
  DRQ: 0x08,
  /** Device seek complete (obsolete, kept set as drives do). */
  DSC: 0x10,
  /** Device fault. */
  DF: 0x20,
  DRDY: 0x40,
  BSY: 0x80,
} as const;

/** Error register bits. */
export const AtaError = {
  /** Command aborted (unsupported command or parameter, or a host write failure). */
  ABRT: 0x04,
  /** ID not found: the address is beyond the disk. */
  IDNF: 0x10,
  /** Uncorrectable data error (a host read failure). */
  UNC: 0x40,
} as const;

/** Commands this model implements. */
export const AtaCommand = {
  READ_SECTORS: 0x20,
  READ_SECTORS_NO_RETRY: 0x21,
  WRITE_SECTORS: 0x30,
  WRITE_SECTORS_NO_RETRY: 0x31,
  EXECUTE_DEVICE_DIAGNOSTIC: 0x90,
  FLUSH_CACHE: 0xe7,
  IDENTIFY_DEVICE: 0xec,
  SET_FEATURES: 0xef,
} as const;

/** Device-control register bits (control block, write). */
export const AtaControl = {
  /** Interrupts disabled: INTRQ is not driven. */
  NIEN: 0x02,
  /** Software reset, while set. */
  SRST: 0x04,
} as const;

/** Device register bits. */
export const AtaDevice = {
  /** Selects device 1. */
  DEV: 0x10,
  /** LBA addressing (else CHS). */
  LBA: 0x40,
} as const;

/** Largest sector count a 28-bit LBA command can address. */
export const LBA28_MAX_SECTORS = 0x0fffffff;

/** Sectors the largest command (count 0 = 256) moves. */
const MAX_SECTORS_PER_COMMAND = 256;

/** Options of {@link AtaDisk}. */
export interface AtaDiskOptions {
  /** Model number in IDENTIFY (words 27-46, at most 40 ASCII characters). */
  readonly model?: string;
  /** Serial number in IDENTIFY (words 10-19, at most 20 ASCII characters). */
  readonly serial?: string;
  /** Firmware revision in IDENTIFY (words 23-26, at most 8 ASCII characters). */
  readonly firmware?: string;
}

const enum Transfer {
  NONE,
  /** Device to host: READ SECTORS, IDENTIFY. */
  IN,
  /** Host to device: WRITE SECTORS. */
  OUT,
}

const IDLE = AtaStatus.DRDY | AtaStatus.DSC;

/**
 * The disk's command block, on the port-I/O bus (8 ports at `Ports.ATA_PRIMARY`); its control
 * block is {@link control} (1 port at `Ports.ATA_CONTROL`). INTRQ drives the {@link IrqLine}
 * given (ISA IRQ14).
 *
 * Interrupts follow the PIO protocols: a data-in command (READ SECTORS, IDENTIFY) interrupts
 * when each 512-byte block is ready in the data register; a data-out command (WRITE SECTORS)
 * asks for the first block without an interrupt and interrupts after each block it has taken,
 * the last one included; a non-data command interrupts on completion. Reading the status
 * register acknowledges (the line falls); the alternate status does not.
 *
 * Register accesses other than the data register act on the low byte. Byte accesses to the data
 * register read 0xff and are ignored on write (as QEMU); data accesses without a transfer in
 * progress read 0 and are ignored ({@link strayDataAccesses}).
 */
export class AtaDisk implements PioDevice {
  /** Number of ports the command block decodes. */
  static readonly PORT_COUNT = 8;
  /** Number of ports the control block decodes. */
  static readonly CONTROL_PORT_COUNT = 1;

  private features = 0;
  // Power-on values: the device signature (count 1, LBA 1) and diagnostic code 1 in error.
  private count = 1;
  private lbaLow = 1;
  private lbaMid = 0;
  private lbaHigh = 0;
  private device = 0xa0;
  private status = IDLE;
  private error = 0x01;
  private deviceControl = 0;
  private intrq = false;
  private lineLevel = false;
  private writeCache = true;

  private transfer = Transfer.NONE;
  private readonly buffer = new Uint8Array(MAX_SECTORS_PER_COMMAND * SECTOR_SIZE);
  /** Next byte of {@link buffer} to move. */
  private pos = 0;
  /** End of the transfer in {@link buffer}. */
  private end = 0;
  /** First sector of a WRITE SECTORS transfer. */
  private writeLba = 0;

  private readonly model: string;
  private readonly serial: string;
  private readonly firmware: string;

  /** READ SECTORS commands accepted. */
  readCommands = 0;
  /** WRITE SECTORS commands accepted. */
  writeCommands = 0;
  /** FLUSH CACHE commands. */
  flushCommands = 0;
  /** IDENTIFY DEVICE commands. */
  identifyCommands = 0;
  /** Commands that ended with ERR set (aborted, out of range, host failure). */
  failedCommands = 0;
  /** Commands written while a transfer was in progress or device 1 was selected (ignored). */
  ignoredCommands = 0;
  /** Bytes moved from the disk to the guest through the data register (sector data only). */
  bytesRead = 0;
  /** Bytes moved from the guest to the disk through the data register (sector data only). */
  bytesWritten = 0;
  /** Accesses to the data register that moved data (each one is a VM exit under HVM). */
  dataAccesses = 0;
  /** Data-register accesses with no transfer in progress, or of the wrong size. */
  strayDataAccesses = 0;
  /** Times the interrupt line was raised (INTRQ asserted with nIEN clear). */
  interrupts = 0;
  /** Backing-store operations that threw. */
  hostErrors = 0;
  /** Message of the last backing-store failure, for the operator (never shown to the guest). */
  lastHostError: string | undefined;

  /** The control block (alternate status / device control, 1 port at `Ports.ATA_CONTROL`). */
  readonly control: PioDevice = {
    read: () => (this.device1Selected() ? 0 : this.status),
    write: (_offset, _size, value) => this.writeDeviceControl(value & 0xff),
  };

  constructor(
    private readonly store: BlockStore,
    private readonly irq: IrqLine,
    options: AtaDiskOptions = {},
  ) {
    this.model = options.model ?? 'HYVISOR HARDDISK';
    this.serial = options.serial ?? 'HV0000000001';
    this.firmware = options.firmware ?? '0.1';
  }

  /** Sectors the guest can address (the store's size, capped at 28-bit LBA). */
  get sectorCount(): number {
    return Math.min(this.store.sectorCount, LBA28_MAX_SECTORS);
  }

  /** True while INTRQ is asserted on the line. */
  get irqAsserted(): boolean {
    return this.lineLevel;
  }

  read(offset: number, size: number): number {
    if (offset === AtaReg.DATA) return this.readData(size);
    if (offset === AtaReg.STATUS_COMMAND) {
      // Reading status acknowledges the interrupt (whichever device is selected, as QEMU).
      this.intrq = false;
      this.updateIrq();
      return this.device1Selected() ? 0 : this.status;
    }
    if (offset === AtaReg.DEVICE) return this.device;
    if (this.device1Selected()) return 0;
    switch (offset) {
      case AtaReg.ERROR_FEATURES:
        return this.error;
      case AtaReg.SECTOR_COUNT:
        return this.count;
      case AtaReg.LBA_LOW:
        return this.lbaLow;
      case AtaReg.LBA_MID:
        return this.lbaMid;
      case AtaReg.LBA_HIGH:
        return this.lbaHigh;
      default:
        return 0xff;
    }
  }

  write(offset: number, size: number, value: number): void {
    const v = value & 0xff;
    switch (offset) {
      case AtaReg.DATA:
        this.writeData(size, value);
        return;
      case AtaReg.ERROR_FEATURES:
        this.features = v;
        return;
      case AtaReg.SECTOR_COUNT:
        this.count = v;
        return;
      case AtaReg.LBA_LOW:
        this.lbaLow = v;
        return;
      case AtaReg.LBA_MID:
        this.lbaMid = v;
        return;
      case AtaReg.LBA_HIGH:
        this.lbaHigh = v;
        return;
      case AtaReg.DEVICE:
        // Bits 5 and 7 are obsolete and read as 1.
        this.device = v | 0xa0;
        return;
      case AtaReg.STATUS_COMMAND:
        this.command(v);
        return;
      default:
        return;
    }
  }

  // ---- data register ------------------------------------------------------------------------

  private readData(size: number): number {
    if (this.transfer !== Transfer.IN || (size !== 2 && size !== 4)) {
      this.strayDataAccesses++;
      return size === 1 ? 0xff : 0;
    }
    this.dataAccesses++;
    if (size === 2) return this.readWord();
    // A 32-bit access is two 16-bit device transfers (the host adapter splits it).
    const low = this.readWord();
    return (low | (this.readWord() << 16)) >>> 0;
  }

  private readWord(): number {
    if (this.transfer !== Transfer.IN) return 0;
    const b = this.buffer;
    const word = b[this.pos]! | (b[this.pos + 1]! << 8);
    this.pos += 2;
    if (this.pos % SECTOR_SIZE === 0) this.blockReadDone();
    return word;
  }

  private blockReadDone(): void {
    if (this.pos < this.end) {
      // Next block ready: DRQ stays set, INTRQ again.
      this.raiseIntrq();
      return;
    }
    this.transfer = Transfer.NONE;
    this.status = IDLE;
  }

  private writeData(size: number, value: number): void {
    if (this.transfer !== Transfer.OUT || (size !== 2 && size !== 4)) {
      this.strayDataAccesses++;
      return;
    }
    this.dataAccesses++;
    this.writeWord(value & 0xffff);
    if (size === 4) this.writeWord(value >>> 16);
  }

  private writeWord(word: number): void {
    if (this.transfer !== Transfer.OUT) return;
    this.buffer[this.pos] = word & 0xff;
    this.buffer[this.pos + 1] = word >>> 8;
    this.pos += 2;
    if (this.pos % SECTOR_SIZE === 0) this.blockWritten();
  }

  private blockWritten(): void {
    const index = this.pos / SECTOR_SIZE - 1;
    try {
      this.store.write(this.writeLba + index, 1, this.buffer.subarray(index * SECTOR_SIZE, this.pos));
    } catch (e) {
      this.hostFailure(e);
      this.fail(AtaError.ABRT, AtaStatus.DF);
      return;
    }
    this.bytesWritten += SECTOR_SIZE;
    if (this.pos < this.end) {
      this.raiseIntrq();
      return;
    }
    this.transfer = Transfer.NONE;
    this.status = IDLE;
    this.raiseIntrq();
  }

  // ---- commands -----------------------------------------------------------------------------

  private command(cmd: number): void {
    if (this.device1Selected() || this.transfer !== Transfer.NONE || this.deviceControl & AtaControl.SRST) {
      this.ignoredCommands++;
      return;
    }
    this.error = 0;
    this.status = IDLE;
    switch (cmd) {
      case AtaCommand.READ_SECTORS:
      case AtaCommand.READ_SECTORS_NO_RETRY:
        this.readSectors();
        return;
      case AtaCommand.WRITE_SECTORS:
      case AtaCommand.WRITE_SECTORS_NO_RETRY:
        this.writeSectors();
        return;
      case AtaCommand.IDENTIFY_DEVICE:
        this.identify();
        return;
      case AtaCommand.FLUSH_CACHE:
        this.flushCache();
        return;
      case AtaCommand.SET_FEATURES:
        this.setFeatures();
        return;
      case AtaCommand.EXECUTE_DEVICE_DIAGNOSTIC:
        this.setSignature();
        this.error = 0x01; // device 0 passed, device 1 absent
        this.raiseIntrq();
        return;
      default:
        this.fail(AtaError.ABRT);
    }
  }

  /** The range of a READ/WRITE SECTORS command, or undefined after failing it. */
  private range(): { lba: number; sectors: number } | undefined {
    if (!(this.device & AtaDevice.LBA)) {
      this.fail(AtaError.ABRT); // CHS addressing is not supported
      return undefined;
    }
    const lba = ((this.device & 0x0f) * 0x1000000 + (this.lbaHigh << 16) + (this.lbaMid << 8) + this.lbaLow) >>> 0;
    const sectors = this.count === 0 ? MAX_SECTORS_PER_COMMAND : this.count;
    if (lba + sectors > this.sectorCount) {
      this.fail(AtaError.IDNF);
      return undefined;
    }
    return { lba, sectors };
  }

  private readSectors(): void {
    const r = this.range();
    if (!r) return;
    const bytes = r.sectors * SECTOR_SIZE;
    try {
      this.store.read(r.lba, r.sectors, this.buffer.subarray(0, bytes));
    } catch (e) {
      this.hostFailure(e);
      this.fail(AtaError.UNC);
      return;
    }
    this.readCommands++;
    this.bytesRead += bytes;
    this.startTransfer(Transfer.IN, bytes);
    this.raiseIntrq();
  }

  private writeSectors(): void {
    const r = this.range();
    if (!r) return;
    this.writeCommands++;
    this.writeLba = r.lba;
    // PIO data-out: DRQ for the first block, no interrupt until a block has been taken.
    this.startTransfer(Transfer.OUT, r.sectors * SECTOR_SIZE);
  }

  private identify(): void {
    this.identifyCommands++;
    this.buffer.set(this.identifyData());
    this.startTransfer(Transfer.IN, SECTOR_SIZE);
    this.raiseIntrq();
  }

  private flushCache(): void {
    this.flushCommands++;
    try {
      this.store.flush();
    } catch (e) {
      this.hostFailure(e);
      this.fail(AtaError.ABRT, AtaStatus.DF);
      return;
    }
    this.raiseIntrq();
  }

  private setFeatures(): void {
    switch (this.features) {
      case 0x02:
        this.writeCache = true;
        break;
      case 0x82:
        this.writeCache = false;
        break;
      case 0x03:
        break; // set transfer mode: PIO timing means nothing here
      default:
        this.fail(AtaError.ABRT);
        return;
    }
    this.raiseIntrq();
  }

  private startTransfer(kind: Transfer, bytes: number): void {
    this.transfer = kind;
    this.pos = 0;
    this.end = bytes;
    this.status = IDLE | AtaStatus.DRQ;
  }

  /** Ends the command with ERR and `error`, and interrupts. */
  private fail(error: number, extraStatus = 0): void {
    this.failedCommands++;
    this.transfer = Transfer.NONE;
    this.error = error;
    this.status = IDLE | AtaStatus.ERR | extraStatus;
    this.raiseIntrq();
  }

  private hostFailure(e: unknown): void {
    this.hostErrors++;
    this.lastHostError = e instanceof Error ? e.message : String(e);
  }

  /** The IDENTIFY DEVICE data (256 little-endian words). */
  identifyData(): Uint8Array {
    const w = new Uint16Array(256);
    const total = this.sectorCount;
    const heads = 16;
    const spt = 63;
    const cylinders = Math.min(16383, Math.floor(total / (heads * spt)));
    w[0] = 0x0040; // fixed device, ATA
    w[1] = cylinders;
    w[3] = heads;
    w[6] = spt;
    putString(w, 10, 20, this.serial);
    putString(w, 23, 8, this.firmware);
    putString(w, 27, 40, this.model);
    w[47] = 0x8000; // READ/WRITE MULTIPLE: not supported (0 sectors)
    w[49] = 0x0200; // LBA supported
    w[50] = 0x4000;
    w[53] = 0x0001; // words 54-58 valid
    w[54] = cylinders;
    w[55] = heads;
    w[56] = spt;
    const chs = cylinders * heads * spt;
    w[57] = chs & 0xffff;
    w[58] = chs >>> 16;
    w[60] = total & 0xffff; // total addressable sectors (LBA28)
    w[61] = total >>> 16;
    w[80] = 0x007e; // ATA/ATAPI-1 to -6
    w[82] = 0x4020; // write cache supported
    w[83] = 0x5000; // FLUSH CACHE supported
    w[84] = 0x4000;
    w[85] = 0x4000 | (this.writeCache ? 0x0020 : 0);
    w[86] = 0x1000; // FLUSH CACHE enabled
    w[87] = 0x4000;
    const bytes = new Uint8Array(512);
    for (let i = 0; i < 256; i++) {
      bytes[2 * i] = w[i]! & 0xff;
      bytes[2 * i + 1] = w[i]! >>> 8;
    }
    // Word 255: signature 0xa5 and a checksum making all 512 bytes sum to 0 (mod 256).
    bytes[510] = 0xa5;
    let sum = 0;
    for (let i = 0; i < 511; i++) sum += bytes[i]!;
    bytes[511] = -sum & 0xff;
    return bytes;
  }

  // ---- control block, reset, interrupt ------------------------------------------------------

  private writeDeviceControl(v: number): void {
    const wasReset = (this.deviceControl & AtaControl.SRST) !== 0;
    this.deviceControl = v & (AtaControl.NIEN | AtaControl.SRST);
    if (v & AtaControl.SRST) {
      // Reset asserted: abandon any transfer, busy until released.
      this.transfer = Transfer.NONE;
      this.intrq = false;
      this.status = AtaStatus.BSY;
    } else if (wasReset) {
      // Reset released: diagnostic code and signature, no interrupt.
      this.status = IDLE;
      this.error = 0x01;
      this.features = 0;
      this.setSignature();
      this.device = 0xa0;
    }
    this.updateIrq();
  }

  private setSignature(): void {
    this.count = 1;
    this.lbaLow = 1;
    this.lbaMid = 0;
    this.lbaHigh = 0;
  }

  private device1Selected(): boolean {
    return (this.device & AtaDevice.DEV) !== 0;
  }

  private raiseIntrq(): void {
    this.intrq = true;
    this.updateIrq();
  }

  private updateIrq(): void {
    const level = this.intrq && !(this.deviceControl & AtaControl.NIEN);
    if (level === this.lineLevel) return;
    this.lineLevel = level;
    if (level) {
      this.interrupts++;
      this.irq.raise();
    } else {
      this.irq.lower();
    }
  }
}

/** Writes an ATA string (space-padded, first character in each word's high byte). */
function putString(words: Uint16Array, first: number, length: number, text: string): void {
  const s = text.padEnd(length, ' ').slice(0, length);
  for (let i = 0; i < length; i += 2) {
    words[first + i / 2] = ((s.charCodeAt(i) & 0x7f) << 8) | (s.charCodeAt(i + 1) & 0x7f);
  }
}
