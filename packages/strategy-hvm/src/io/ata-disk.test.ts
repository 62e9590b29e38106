import test from 'ava';
import { RecordingIrqLine as RecordingIrq } from '@hyvisor/core/testing';
import { AtaDisk } from './ata-disk.js';

// Register offsets, bits and opcodes from ATA/ATAPI-6 (T13/1410D): the command block registers
// at offsets 0-7, the status and error bits, the device control register, and the command codes.
// Literals on purpose, not imported from the model: a wrong constant in the model must make these
// tests fail.
const AtaReg = {
  DATA: 0,
  ERROR_FEATURES: 1,
  SECTOR_COUNT: 2,
  LBA_LOW: 3,
  LBA_MID: 4,
  LBA_HIGH: 5,
  DEVICE: 6,
  STATUS_COMMAND: 7,
} as const;
/** Status: bit 0 ERR, 3 DRQ, 4 DSC (obsolete, set by drives), 5 DF, 6 DRDY, 7 BSY. */
const AtaStatus = { ERR: 0x01, DRQ: 0x08, DSC: 0x10, DF: 0x20, DRDY: 0x40, BSY: 0x80 } as const;
/** Error: bit 2 ABRT, 4 IDNF, 6 UNC. */
const AtaError = { ABRT: 0x04, IDNF: 0x10, UNC: 0x40 } as const;
const AtaCommand = {
  READ_SECTORS: 0x20,
  WRITE_SECTORS: 0x30,
  FLUSH_CACHE: 0xe7,
  IDENTIFY_DEVICE: 0xec,
  SET_FEATURES: 0xef,
} as const;
/** Device control: bit 1 nIEN, bit 2 SRST. */
const AtaControl = { NIEN: 0x02, SRST: 0x04 } as const;
import { type BlockStore, MemoryBlockStore } from '@hyvisor/devices';

/** A disk of `sectors` sectors where byte i of sector s is (s + i) & 0xff. */
function setup(sectors = 64, store?: BlockStore) {
  const mem = new MemoryBlockStore(sectors);
  for (let i = 0; i < mem.data.length; i++) mem.data[i] = ((i >>> 9) + i) & 0xff;
  const irq = new RecordingIrq();
  const disk = new AtaDisk(store ?? mem, irq);
  const outb = (reg: number, v: number) => disk.write(reg, 1, v);
  const inb = (reg: number) => disk.read(reg, 1);
  /** Sets up an LBA28 transfer of `count` sectors at `lba` and issues `cmd`. */
  const issue = (cmd: number, lba = 0, count = 1) => {
    outb(AtaReg.DEVICE, 0xe0 | ((lba >>> 24) & 0x0f));
    outb(AtaReg.SECTOR_COUNT, count & 0xff);
    outb(AtaReg.LBA_LOW, lba & 0xff);
    outb(AtaReg.LBA_MID, (lba >>> 8) & 0xff);
    outb(AtaReg.LBA_HIGH, (lba >>> 16) & 0xff);
    outb(AtaReg.STATUS_COMMAND, cmd);
  };
  const readSector = () => {
    const out = new Uint8Array(512);
    for (let i = 0; i < 512; i += 2) {
      const w = disk.read(AtaReg.DATA, 2);
      out[i] = w & 0xff;
      out[i + 1] = w >>> 8;
    }
    return out;
  };
  return { mem, irq, disk, outb, inb, issue, readSector };
}

const expected = (sector: number) => Uint8Array.from({ length: 512 }, (_, i) => (sector + sector * 512 + i) & 0xff);

test('the device starts idle with the ATA signature', (t) => {
  const { inb } = setup();
  t.is(inb(AtaReg.STATUS_COMMAND), AtaStatus.DRDY | AtaStatus.DSC);
  t.is(inb(AtaReg.SECTOR_COUNT), 1);
  t.is(inb(AtaReg.LBA_LOW), 1);
  t.is(inb(AtaReg.ERROR_FEATURES), 0x01);
});

test('READ SECTORS returns the sector through 16-bit data reads', (t) => {
  const { issue, readSector, inb } = setup();
  issue(AtaCommand.READ_SECTORS, 5);
  t.is(inb(AtaReg.STATUS_COMMAND) & AtaStatus.DRQ, AtaStatus.DRQ);
  t.deepEqual(readSector(), expected(5));
  t.is(inb(AtaReg.STATUS_COMMAND), AtaStatus.DRDY | AtaStatus.DSC, 'DRQ clear after the last word');
});

test('a 32-bit data-port read returns 4 bytes of the sector in order', (t) => {
  const { disk, issue } = setup();
  issue(AtaCommand.READ_SECTORS, 3);
  const e = expected(3);
  t.is(disk.read(AtaReg.DATA, 4), (e[0]! | (e[1]! << 8) | (e[2]! << 16) | (e[3]! << 24)) >>> 0);
  t.is(disk.read(AtaReg.DATA, 2), e[4]! | (e[5]! << 8), 'the next access continues after those 4 bytes');
});

test('READ SECTORS of several sectors interrupts once per sector block', (t) => {
  const { irq, disk, issue, readSector, inb } = setup();
  issue(AtaCommand.READ_SECTORS, 10, 3);
  for (let s = 10; s < 13; s++) {
    t.is(irq.rises, s - 9, `block ${s} ready`);
    inb(AtaReg.STATUS_COMMAND); // the driver's interrupt handler acknowledges
    t.false(irq.level);
    t.deepEqual(readSector(), expected(s));
  }
  t.is(irq.rises, 3, 'no interrupt after the last block of a data-in command');
  t.is(disk.bytesRead, 3 * 512);
  t.is(disk.readCommands, 1);
});

test('a block ready while the interrupt is unacknowledged makes no new edge', (t) => {
  const { irq, issue, readSector } = setup();
  issue(AtaCommand.READ_SECTORS, 10, 2);
  readSector();
  t.is(irq.rises, 1);
  t.true(irq.level);
});

test('reading the status register clears the interrupt; alternate status does not', (t) => {
  const { irq, disk, issue, inb } = setup();
  issue(AtaCommand.READ_SECTORS, 0);
  t.true(irq.level);
  t.is(disk.control.read(0, 1) & AtaStatus.DRQ, AtaStatus.DRQ);
  t.true(irq.level);
  inb(AtaReg.STATUS_COMMAND);
  t.false(irq.level);
});

test('sector count 0 means 256 sectors', (t) => {
  const { disk, issue } = setup(300);
  issue(AtaCommand.READ_SECTORS, 0, 0);
  t.is(disk.bytesRead, 256 * 512);
});

test('READ SECTORS beyond the disk sets ERR with IDNF', (t) => {
  const { irq, disk, issue, inb } = setup(64);
  issue(AtaCommand.READ_SECTORS, 63, 2);
  t.is(inb(AtaReg.ERROR_FEATURES), AtaError.IDNF);
  t.is(inb(AtaReg.STATUS_COMMAND), AtaStatus.DRDY | AtaStatus.DSC | AtaStatus.ERR);
  t.is(irq.rises, 1, 'the error completes the command with an interrupt');
  t.is(disk.failedCommands, 1);
  t.is(disk.bytesRead, 0);
});

test('an LBA beyond 28 bits of a huge disk is refused too', (t) => {
  const big: BlockStore = { sectorCount: 2 ** 40, read: () => t.fail('must not read'), write: () => t.fail(), flush: () => {} };
  const { issue, inb } = setup(1, big);
  issue(AtaCommand.READ_SECTORS, 0x0fffffff, 1);
  t.is(inb(AtaReg.ERROR_FEATURES), AtaError.IDNF);
});

test('CHS addressing is aborted', (t) => {
  const { outb, inb } = setup();
  outb(AtaReg.DEVICE, 0xa0);
  outb(AtaReg.STATUS_COMMAND, AtaCommand.READ_SECTORS);
  t.is(inb(AtaReg.ERROR_FEATURES), AtaError.ABRT);
  t.is(inb(AtaReg.STATUS_COMMAND) & AtaStatus.ERR, AtaStatus.ERR);
});

test('an unknown command is aborted', (t) => {
  const { outb, inb } = setup();
  outb(AtaReg.STATUS_COMMAND, 0x24); // READ SECTORS EXT: no LBA48
  t.is(inb(AtaReg.ERROR_FEATURES), AtaError.ABRT);
  t.is(inb(AtaReg.STATUS_COMMAND), AtaStatus.DRDY | AtaStatus.DSC | AtaStatus.ERR);
});

test('a new command clears a previous error', (t) => {
  const { outb, inb, issue, readSector } = setup();
  outb(AtaReg.STATUS_COMMAND, 0x24);
  issue(AtaCommand.READ_SECTORS, 1);
  t.is(inb(AtaReg.ERROR_FEATURES), 0);
  t.deepEqual(readSector(), expected(1));
});

test('WRITE SECTORS asks for the first block without an interrupt', (t) => {
  const { irq, issue, inb } = setup();
  issue(AtaCommand.WRITE_SECTORS, 2);
  t.is(irq.rises, 0);
  t.is(inb(AtaReg.STATUS_COMMAND) & AtaStatus.DRQ, AtaStatus.DRQ);
});

test('WRITE SECTORS stores the data and interrupts after each block', (t) => {
  const { mem, irq, disk, issue, inb } = setup();
  issue(AtaCommand.WRITE_SECTORS, 7, 2);
  for (let i = 0; i < 128; i++) disk.write(AtaReg.DATA, 4, 0x04030201 + i);
  t.is(irq.rises, 1, 'after the first block');
  inb(AtaReg.STATUS_COMMAND);
  for (let i = 0; i < 256; i++) disk.write(AtaReg.DATA, 2, 0xbeef);
  t.is(irq.rises, 2, 'after the last block: completion');
  t.is(inb(AtaReg.STATUS_COMMAND), AtaStatus.DRDY | AtaStatus.DSC);
  t.deepEqual([...mem.data.subarray(7 * 512, 7 * 512 + 4)], [0x01, 0x02, 0x03, 0x04]);
  t.deepEqual([...mem.data.subarray(7 * 512 + 4, 7 * 512 + 8)], [0x02, 0x02, 0x03, 0x04]);
  t.deepEqual([...mem.data.subarray(8 * 512, 8 * 512 + 2)], [0xef, 0xbe]);
  t.is(disk.bytesWritten, 1024);
  t.is(disk.dataAccesses, 128 + 256);
});

test('WRITE SECTORS beyond the disk sets IDNF and writes nothing', (t) => {
  const { mem, disk, issue, inb } = setup(16);
  const before = mem.data.slice();
  issue(AtaCommand.WRITE_SECTORS, 16, 1);
  disk.write(AtaReg.DATA, 2, 0x1234);
  t.is(inb(AtaReg.ERROR_FEATURES), AtaError.IDNF);
  t.deepEqual(mem.data, before);
});

test('IDENTIFY reports the capacity', (t) => {
  const { issue, readSector } = setup(0x12345);
  issue(AtaCommand.IDENTIFY_DEVICE);
  const id = readSector();
  const word = (n: number) => id[2 * n]! | (id[2 * n + 1]! << 8);
  t.is(word(60) | (word(61) << 16), 0x12345);
  t.is(word(49) & 0x0200, 0x0200, 'LBA supported');
  t.is(word(83) & 0x1000, 0x1000, 'FLUSH CACHE supported');
  t.is(word(0), 0x0040);
});

test('IDENTIFY carries the model as an ATA string', (t) => {
  const mem = new MemoryBlockStore(8);
  const disk = new AtaDisk(mem, new RecordingIrq(), { model: 'Hyvisor disk' });
  const id = disk.identifyData();
  let model = '';
  for (let w = 27; w <= 46; w++) model += String.fromCharCode(id[2 * w + 1]!, id[2 * w]!);
  t.is(model, 'Hyvisor disk'.padEnd(40, ' '));
});

test('IDENTIFY ends with a checksum that makes the sector sum to zero', (t) => {
  const { disk } = setup();
  const id = disk.identifyData();
  t.is(id[510], 0xa5);
  t.is(id.reduce((a, b) => a + b, 0) & 0xff, 0);
});

test('IDENTIFY interrupts when its data is ready', (t) => {
  const { irq, disk, issue, readSector, inb } = setup();
  issue(AtaCommand.IDENTIFY_DEVICE);
  t.is(irq.rises, 1);
  readSector();
  t.is(inb(AtaReg.STATUS_COMMAND), AtaStatus.DRDY | AtaStatus.DSC);
  t.is(disk.identifyCommands, 1);
});

test('FLUSH CACHE flushes the store and interrupts', (t) => {
  const { mem, irq, disk, outb } = setup();
  outb(AtaReg.STATUS_COMMAND, AtaCommand.FLUSH_CACHE);
  t.is(mem.flushes, 1);
  t.is(irq.rises, 1);
  t.is(disk.flushCommands, 1);
});

test('SET FEATURES turns the write cache off and IDENTIFY shows it', (t) => {
  const { disk, outb, inb } = setup();
  outb(AtaReg.ERROR_FEATURES, 0x82);
  outb(AtaReg.STATUS_COMMAND, AtaCommand.SET_FEATURES);
  t.is(inb(AtaReg.STATUS_COMMAND) & AtaStatus.ERR, 0);
  const id = disk.identifyData();
  t.is(id[85 * 2]! & 0x20, 0);
});

test('a host read failure becomes UNC and does not throw', (t) => {
  const broken: BlockStore = {
    sectorCount: 100,
    read: () => {
      throw new Error('EIO');
    },
    write: () => {},
    flush: () => {},
  };
  const { disk, issue, inb } = setup(1, broken);
  t.notThrows(() => issue(AtaCommand.READ_SECTORS, 1));
  t.is(inb(AtaReg.ERROR_FEATURES), AtaError.UNC);
  t.is(disk.hostErrors, 1);
  t.is(disk.lastHostError, 'EIO');
});

test('a host write failure aborts the command with a device fault', (t) => {
  const broken: BlockStore = {
    sectorCount: 100,
    read: () => {},
    write: () => {
      throw new Error('ENOSPC');
    },
    flush: () => {},
  };
  const { disk, issue, inb } = setup(1, broken);
  issue(AtaCommand.WRITE_SECTORS, 1, 2);
  for (let i = 0; i < 256; i++) disk.write(AtaReg.DATA, 2, 0);
  t.is(inb(AtaReg.STATUS_COMMAND), AtaStatus.DRDY | AtaStatus.DSC | AtaStatus.ERR | AtaStatus.DF);
  t.is(inb(AtaReg.ERROR_FEATURES), AtaError.ABRT);
  disk.write(AtaReg.DATA, 2, 0);
  t.is(disk.strayDataAccesses, 1, 'the transfer is over');
});

test('device 1 is absent: its status reads 0 and commands are ignored', (t) => {
  const { irq, disk, outb, inb } = setup();
  outb(AtaReg.DEVICE, 0xf0);
  t.is(inb(AtaReg.STATUS_COMMAND), 0);
  t.is(disk.control.read(0, 1), 0);
  t.is(inb(AtaReg.LBA_MID), 0);
  outb(AtaReg.STATUS_COMMAND, AtaCommand.IDENTIFY_DEVICE);
  t.is(irq.rises, 0);
  t.is(disk.ignoredCommands, 1);
});

test('nIEN keeps the interrupt line low', (t) => {
  const { irq, disk, issue } = setup();
  disk.control.write(0, 1, AtaControl.NIEN);
  issue(AtaCommand.READ_SECTORS, 0);
  t.false(irq.level);
  disk.control.write(0, 1, 0);
  t.true(irq.level, 'the pending interrupt shows once enabled');
});

test('SRST resets to the signature and idle status', (t) => {
  const { disk, issue, inb } = setup();
  issue(AtaCommand.READ_SECTORS, 9, 4);
  disk.control.write(0, 1, AtaControl.SRST);
  t.is(disk.control.read(0, 1), AtaStatus.BSY);
  disk.control.write(0, 1, 0);
  t.is(inb(AtaReg.STATUS_COMMAND), AtaStatus.DRDY | AtaStatus.DSC);
  t.is(inb(AtaReg.SECTOR_COUNT), 1);
  t.is(inb(AtaReg.LBA_LOW), 1);
  t.is(inb(AtaReg.ERROR_FEATURES), 0x01);
  t.is(disk.read(AtaReg.DATA, 2), 0, 'the transfer was abandoned');
});

test('data-port accesses without a transfer are ignored', (t) => {
  const { mem, disk } = setup();
  const before = mem.data.slice();
  disk.write(AtaReg.DATA, 2, 0xffff);
  t.is(disk.read(AtaReg.DATA, 2), 0);
  t.deepEqual(mem.data, before);
  t.is(disk.strayDataAccesses, 2);
});

test('byte accesses to the data register move nothing', (t) => {
  const { disk, issue, readSector } = setup();
  issue(AtaCommand.READ_SECTORS, 4);
  t.is(disk.read(AtaReg.DATA, 1), 0xff);
  t.deepEqual(readSector(), expected(4));
});

test('a command during a transfer is ignored', (t) => {
  const { disk, issue, outb, readSector } = setup();
  issue(AtaCommand.READ_SECTORS, 6);
  outb(AtaReg.STATUS_COMMAND, AtaCommand.IDENTIFY_DEVICE);
  t.is(disk.ignoredCommands, 1);
  t.deepEqual(readSector(), expected(6));
});

test('the taskfile registers read back what was written', (t) => {
  const { outb, inb } = setup();
  outb(AtaReg.SECTOR_COUNT, 0x12);
  outb(AtaReg.LBA_LOW, 0x34);
  outb(AtaReg.LBA_MID, 0x56);
  outb(AtaReg.LBA_HIGH, 0x78);
  outb(AtaReg.DEVICE, 0x43);
  t.deepEqual([2, 3, 4, 5, 6].map(inb), [0x12, 0x34, 0x56, 0x78, 0xe3]);
});
