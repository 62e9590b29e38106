import test from 'ava';
import { ExitKind, FXSAVE_SIZE, decodeVcpuState, encodeVcpuState, restoreVcpuState, saveVcpuState, type VcpuState } from '@hyvisor/core';
import { BackendError } from '@hyvisor/core';
import { CODE, DATA, handler, harness, hex, run } from './test-support.js';

/** An FXSAVE64 image with every field set to something other than its reset value. */
export function patternImage(): Uint8Array {
  const img = new Uint8Array(FXSAVE_SIZE);
  const dv = new DataView(img.buffer);
  dv.setUint16(0, 0x27f, true); // FCW: double precision
  dv.setUint16(2, 0x1800 | 0x41, true); // FSW: TOP 3, C0, IE
  dv.setUint8(4, 0x38); // FTW (abridged): ST0-ST2 in use (physical 3, 4, 5)
  dv.setUint16(6, 0x5d9, true); // FOP
  dv.setBigUint64(8, 0x401234n, true); // FIP
  dv.setBigUint64(16, 0x602040n, true); // FDP
  dv.setUint32(24, 0x3f80, true); // MXCSR: round down, all masked
  for (let i = 32; i < 416; i++) img[i] = (i * 37 + 11) & 0xff;
  for (let r = 0; r < 8; r++) for (let k = 10; k < 16; k++) img[32 + 16 * r + k] = 0; // ST bytes 10-15 reserved
  return img;
}

/** The architectural part of an FXSAVE image: everything but MXCSR_MASK and the reserved tail. */
function arch(img: Uint8Array): number[] {
  return [...img.subarray(0, 28), ...img.subarray(32, 416)];
}

test('getFpu after reset: FCW 0x37F, MXCSR 0x1F80, MXCSR_MASK says DAZ is absent', (t) => {
  const h = harness(hex('f4'));
  const dv = new DataView(h.vcpu.getFpu().buffer);
  t.is(dv.getUint16(0, true), 0x37f);
  t.is(dv.getUint32(24, true), 0x1f80);
  t.is(dv.getUint32(28, true), 0xffbf);
});

test("setFpu loads what the guest's own FXSAVE64 then stores, byte for byte", (t) => {
  // fxsave64 [rbx]; hlt
  const h = harness(hex('48bb', '0000200000000000', '480fae03', 'f4'));
  const img = patternImage();
  h.vcpu.setFpu(img);
  t.is(run(h).kind, ExitKind.Hlt);
  t.deepEqual(arch(h.mem.read(DATA, FXSAVE_SIZE)!), arch(img));
  t.deepEqual(arch(h.vcpu.getFpu()), arch(img));
});

test('XMM registers in the image are the ones SSE instructions see (movq rax, xmm1)', (t) => {
  const h = harness(hex('66480f7ec8', 'f4')); // movq rax, xmm1; hlt
  const s = h.vcpu.getSpecialRegisters();
  s.cr4 |= 0x600n; // OSFXSR, OSXMMEXCPT
  h.vcpu.setSpecialRegisters(s);
  const img = h.vcpu.getFpu();
  new DataView(img.buffer).setBigUint64(160 + 16, 0x1122334455667788n, true);
  h.vcpu.setFpu(img);
  t.is(run(h).kind, ExitKind.Hlt);
  t.is(h.vcpu.getRegisters().rax, 0x1122334455667788n);
});

test('setFpu refuses a wrong size and an MXCSR with DAZ, loading nothing', (t) => {
  const h = harness(hex('f4'));
  const before = h.vcpu.getFpu();
  t.throws(() => h.vcpu.setFpu(new Uint8Array(100)), { instanceOf: BackendError, message: /512-byte/ });
  const img = patternImage();
  new DataView(img.buffer).setUint32(24, 0x1fc0, true);
  t.throws(() => h.vcpu.setFpu(img), { instanceOf: BackendError, message: /MXCSR 0x1fc0/ });
  t.deepEqual(h.vcpu.getFpu(), before);
});

test('queued vectors and the interrupt shadow are events; NMIs are refused', (t) => {
  const h = harness(hex('f4'));
  h.vcpu.queueInterrupt(0x30);
  h.vcpu.queueInterrupt(0x31);
  t.deepEqual(h.vcpu.getEvents(), { exception: null, interrupt: null, shadow: false, nmiPending: false, nmiMasked: false, queued: [0x30, 0x31] });
  h.vcpu.setEvents({ exception: null, interrupt: null, shadow: true, nmiPending: false, nmiMasked: false, queued: [0x40] });
  t.deepEqual(h.vcpu.getEvents().queued, [0x40]);
  t.true(h.vcpu.getEvents().shadow);
  t.throws(() => h.vcpu.setEvents({ ...h.vcpu.getEvents(), nmiPending: true }), { instanceOf: BackendError, message: /no NMIs/ });
});

test('a pending exception from another backend is delivered through the IDT on load', (t) => {
  const h = harness(hex('90 f4'));
  h.vcpu.setEvents({ exception: { vector: 13, errorCode: 0x18 }, interrupt: null, shadow: false, nmiPending: false, nmiMasked: false, queued: [] });
  t.is(h.vcpu.getRegisters().rip, BigInt(handler(13)));
  t.is(run(h).kind, ExitKind.Hlt, 'the #GP handler runs');
});

test('a saved state survives JSON and, loaded into a new vCPU, runs on exactly as the original', (t) => {
  // A loop mixing integer, SSE and flags work: rcx counts down, xmm0 accumulates rax.
  const code = hex(
    '0f20e0 480d00060000 0f22e0', // mov rax, cr4; or rax, 0x600; mov cr4, rax
    'b900010000', // mov ecx, 256
    '4801c8 66480f6ec8 660fd4c1 ffc9 75f0', // loop: add rax, rcx; movq xmm1, rax; paddq xmm0, xmm1; dec ecx; jnz loop
    'e680 f4', // out 0x80, al; hlt
  );
  const a = harness(code);
  for (let i = 0; i < 200; i++) a.vcpu.singleStep();
  const saved = saveVcpuState(a.vcpu);
  const json = JSON.stringify(encodeVcpuState(saved));
  const b = harness(code);
  restoreVcpuState(b.vcpu, decodeVcpuState(JSON.parse(json)));
  const same = (x: VcpuState, y: VcpuState): void => {
    t.deepEqual(y.regs, x.regs);
    t.deepEqual(y.sregs, x.sregs);
    t.deepEqual(y.fpu, x.fpu);
    t.deepEqual(y.msrs, x.msrs);
    t.is(y.tsc, x.tsc);
  };
  same(saved, saveVcpuState(b.vcpu));
  const ea = run(a), eb = run(b);
  t.is(ea.kind, ExitKind.Io);
  t.is(eb.kind, ExitKind.Io);
  t.is(eb.port, ea.port);
  same(saveVcpuState(a.vcpu), saveVcpuState(b.vcpu));
  t.is(Number(a.vcpu.getRegisters().rip), CODE + code.length - 1);
});

test('decodeVcpuState names the field that is wrong', (t) => {
  const enc = encodeVcpuState(saveVcpuState(harness(hex('f4')).vcpu)) as Record<string, Record<string, unknown>>;
  enc['regs']!['rip'] = 12;
  t.throws(() => decodeVcpuState(enc), { message: /regs\.rip: expected a hex string/ });
});
