/**
 * The PV ABI as docs/pv-abi.md specifies it, written out as literals. The PV tests elsewhere use
 * the named constants (`Hypercall.MMU_UPDATE`, `HypercallErrno.EINVAL`, …) as the guest's C header
 * does; this file is what stops one of those constants from drifting away from the document with
 * every test following it.
 */
import test from 'ava';
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  EvtchnOp,
  Hypercall,
  HypercallErrno,
  MmuExt,
  Ports,
  PtPool,
  PvClock,
  SchedOp,
  SharedInfo,
  Virq,
  Virtq,
} from './guest-abi.js';

test('hypercall numbers are those of the table in docs/pv-abi.md', (t) => {
  t.deepEqual(
    { ...Hypercall },
    {
      MMU_UPDATE: 1,
      MMUEXT_OP: 2,
      SET_TIMER_OP: 3,
      EVENT_CHANNEL_OP: 4,
      SCHED_OP: 5,
      SYSCALL_ENTRY: 6,
      IRET: 7,
      REGISTER_SHARED_INFO: 8,
      SET_CALLBACK: 9,
      BLK_SETUP: 10,
      BLK_INFO: 11,
      MMU_UPDATE_MAX: 512,
    },
  );
});

test('the hypercall doorbell is port 0x520 and the PV block notify port 0x524', (t) => {
  t.is(Ports.HYPERCALL, 0x520);
  t.is(Ports.PV_BLK_NOTIFY, 0x524);
});

test('hypercall errors are the Linux errno values', (t) => {
  t.deepEqual({ ...HypercallErrno }, { EPERM: 1, EFAULT: 14, EBUSY: 16, EINVAL: 22, ENOSPC: 28, ENOSYS: 38 });
});

test('sub-command numbers: MMUEXT_OP, EVENT_CHANNEL_OP, SCHED_OP, VIRQ', (t) => {
  t.deepEqual({ ...MmuExt }, { DECLARE_TABLE: 1, RELEASE_TABLE: 2, PIN_L4: 3, UNPIN_L4: 4, NEW_BASEPTR: 5 });
  t.deepEqual({ ...EvtchnOp }, { BIND_VIRQ: 1, BIND_PIRQ: 2, SEND: 3, UNMASK: 4, CLOSE: 5, MASK: 6 });
  t.deepEqual({ ...SchedOp }, { YIELD: 0, BLOCK: 1 });
  t.deepEqual({ ...Virq }, { TIMER: 0 });
});

test('shared-info layout: upcall flags, selector, pvclock, 1024-bit pending and mask bitmaps', (t) => {
  t.deepEqual(
    { ...SharedInfo },
    {
      UPCALL_PENDING: 0x00,
      UPCALL_MASK: 0x01,
      PENDING_SEL: 0x08,
      TIME: 0x20,
      EVTCHN_PENDING: 0x800,
      EVTCHN_MASK: 0xa00,
      NR_EVENT_CHANNELS: 1024,
    },
  );
  // The bitmaps must fit the page and not overlap: 1024 bits = 128 bytes each.
  t.true(SharedInfo.EVTCHN_PENDING + 128 <= SharedInfo.EVTCHN_MASK);
  t.true(SharedInfo.EVTCHN_MASK + 128 <= 4096);
});

test('pvclock record: struct pvclock_vcpu_time_info as Linux and Xen lay it out', (t) => {
  t.deepEqual(
    { ...PvClock },
    { VERSION: 0, TSC_TIMESTAMP: 8, SYSTEM_TIME: 16, TSC_TO_SYSTEM_MUL: 24, TSC_SHIFT: 28, FLAGS: 29, SIZE: 32 },
  );
});

test('page-table pool: guest-physical 0xc0000000, 4 MiB', (t) => {
  t.deepEqual({ ...PtPool }, { BASE: 0xc000_0000, SIZE: 0x40_0000 });
});

test('PV block ring: virtio split-ring and virtio-blk values', (t) => {
  t.deepEqual(
    { ...Virtq },
    {
      DESC_SIZE: 16,
      DESC_F_NEXT: 1,
      DESC_F_WRITE: 2,
      AVAIL_F_NO_INTERRUPT: 1,
      MAX_QUEUE_SIZE: 256,
      BLK_HEADER_SIZE: 16,
      BLK_T_IN: 0,
      BLK_T_OUT: 1,
      BLK_T_FLUSH: 4,
      BLK_S_OK: 0,
      BLK_S_IOERR: 1,
      BLK_S_UNSUPP: 2,
    },
  );
});

test('docs/pv-abi.md lists the same hypercall numbers', (t) => {
  const doc = fs.readFileSync(fileURLToPath(new URL('../../../../docs/pv-abi.md', import.meta.url)), 'utf8');
  const rows = [...doc.matchAll(/^\| (\d+) \| `([A-Z_]+)` \|/gm)].map((m) => [m[2]!, Number(m[1])] as const);
  t.is(rows.length, 11);
  for (const [name, nr] of rows) t.is((Hypercall as Record<string, number>)[name], nr, name);
});
