import test from 'ava';
import {
  CompositionError, EvtchnOp, FeatureBits, Hypercall, HypercallErrno, Ports, STRATEGIES, SchedOp, Virq, Virtq,
  assertComposable, createHyvisorContainer, strategyFeatureBits, withFacets,
  type BackendInfo, type Capability,
} from '@hyvisor/core';
import { EmulatedPit } from '@hyvisor/strategy-hvm';
import { fakeMachine } from '@hyvisor/strategy-pv/testing';
import { hybridStrategy, registerHybridStrategy } from './strategies.js';

const CAPS: Capability[] = ['guest-memory', 'run-deadline', 'interrupt-injection', 'cpuid', 'msr', 'ioeventfd', 'sync-regs'];

function backend(caps: Capability[] = CAPS): BackendInfo {
  return { name: 'kvm', flavour: 'kvm_pvm', description: 'test', capabilities: new Set(caps), tscKhz: 2_299_998, details: {} };
}

test('hybrid is HVM CPU and paging with PV event channels, pvclock and the block ring', (t) => {
  const s = hybridStrategy();
  t.deepEqual(
    [s.cpu.name, s.memory.name, s.interrupt.name, s.timer.name, s.io.name],
    ['native', 'hardware-paging', 'event-channel', 'pvclock', 'pv-blk'],
  );
});

test('hybrid advertises PV_EVTCHN | PV_CLOCK | PV_IO', (t) => {
  t.is(strategyFeatureBits(hybridStrategy()), FeatureBits.PV_EVTCHN | FeatureBits.PV_CLOCK | FeatureBits.PV_IO);
});

test('hybrid composes without read-only memory (no page-table pool)', (t) => {
  t.notThrows(() => assertComposable(hybridStrategy(), backend()));
});

test('hybrid with an emulated timer composes: the PIT ticks arrive as a PIRQ event', (t) => {
  t.notThrows(() => assertComposable(withFacets(hybridStrategy(), 'hybrid-pit', { timer: new EmulatedPit() }), backend()));
});

test('hybrid without injection is rejected naming the event-channel facet', (t) => {
  const err = t.throws(() => assertComposable(hybridStrategy(), backend(CAPS.filter((c) => c !== 'interrupt-injection'))), { instanceOf: CompositionError });
  t.regex(err!.message, /interrupt facet 'event-channel' needs capability 'interrupt-injection'/);
});

test('registerHybridStrategy registers hybrid', (t) => {
  const c = createHyvisorContainer();
  registerHybridStrategy(c);
  t.is(c.resolve(STRATEGIES).create('hybrid', 'strategy', backend()).name, 'hybrid');
});

test('a hybrid machine serves the PV hypercalls it offers and no others', (t) => {
  const m = fakeMachine({ capabilities: CAPS });
  m.attach(hybridStrategy(backend(CAPS)));
  t.is(m.ctx.hypercalls.nameOf(Hypercall.EVENT_CHANNEL_OP), 'EVENT_CHANNEL_OP');
  t.is(m.ctx.hypercalls.nameOf(Hypercall.SET_TIMER_OP), 'SET_TIMER_OP');
  t.is(m.ctx.hypercalls.nameOf(Hypercall.BLK_SETUP), 'BLK_SETUP');
  t.is(m.hypercall(Hypercall.MMU_UPDATE, 0, 0), -HypercallErrno.ENOSYS, 'hardware paging: no MMU hypercalls');
  t.is(m.hypercall(Hypercall.SYSCALL_ENTRY), -HypercallErrno.ENOSYS, 'native system calls');
  t.is(m.memory.regionOf(0xc0000000), undefined, 'no page-table pool');
});

test('a hybrid guest gets its timer tick and a block completion as events, then blocks', (t) => {
  const SHARED = 0x10000;
  const DESC = 0x40000;
  const AVAIL = 0x41000;
  const USED = 0x42000;
  const HDR = 0x50000;
  const STATUS = 0x50100;
  const m = fakeMachine({ capabilities: CAPS });
  const s = hybridStrategy(backend(CAPS));
  m.attach(s);
  m.hypercall(Hypercall.REGISTER_SHARED_INFO, SHARED);
  m.hypercall(Hypercall.SET_CALLBACK, 0xf0);
  const timerPort = m.hypercall(Hypercall.EVENT_CHANNEL_OP, EvtchnOp.BIND_VIRQ, Virq.TIMER);
  const blkPort = m.hypercall(Hypercall.BLK_SETUP, DESC, AVAIL, USED, 8);
  m.hypercall(Hypercall.EVENT_CHANNEL_OP, EvtchnOp.UNMASK, timerPort);
  m.hypercall(Hypercall.EVENT_CHANNEL_OP, EvtchnOp.UNMASK, blkPort);
  // A flush request: header, status.
  m.memory.setU32(HDR, Virtq.BLK_T_FLUSH);
  m.memory.setU64(DESC, BigInt(HDR));
  m.memory.setU32(DESC + 8, 16);
  m.memory.setU16(DESC + 12, Virtq.DESC_F_NEXT);
  m.memory.setU16(DESC + 14, 1);
  m.memory.setU64(DESC + 16, BigInt(STATUS));
  m.memory.setU32(DESC + 24, 1);
  m.memory.setU16(DESC + 28, Virtq.DESC_F_WRITE);
  m.memory.setU16(AVAIL + 4, 0);
  m.memory.setU16(AVAIL + 2, 1);
  m.vm.ioEventFds[0]!.signal(); // outw to Ports.PV_BLK_NOTIFY, no exit
  t.truthy(m.ctx.pio.find(Ports.PV_BLK_NOTIFY));
  t.is(m.hypercall(Hypercall.SCHED_OP, SchedOp.BLOCK), 0);
  t.is(m.blocks.count, 0, 'the completion is an event: no sleep');
  t.is(m.memory.u8(STATUS), Virtq.BLK_S_OK);
  s.interrupt.beforeRun!(m.vcpu);
  t.deepEqual(m.vcpu.injected, [0xf0]);
  // The guest's upcall handler acknowledges in shared memory.
  m.memory.setU8(SHARED, 0);
  m.memory.fill(SHARED + 0x800, 128, 0);
  m.memory.setU64(SHARED + 8, 0n);
  m.hypercall(Hypercall.SET_TIMER_OP, 2_000_000);
  t.is(m.hypercall(Hypercall.SCHED_OP, SchedOp.BLOCK), 0);
  t.is(m.blocks.count, 1, 'nothing pending: the vCPU sleeps until the timer');
  m.clock.advance(10_000_000);
  s.interrupt.beforeRun!(m.vcpu);
  t.deepEqual(m.vcpu.injected, [0xf0, 0xf0]);
});
