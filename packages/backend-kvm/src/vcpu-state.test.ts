import { ExitKind, FXSAVE_SIZE, decodeVcpuState, encodeVcpuState, restoreVcpuState, saveVcpuState } from '@hyvisor/core';
import { asm, bootGuest, kvmTest } from './test-support.js';

/** An FXSAVE64 image with every field away from its reset value (ST bytes 10-15 reserved, zero). */
function patternImage(): Uint8Array {
  const img = new Uint8Array(FXSAVE_SIZE);
  const dv = new DataView(img.buffer);
  dv.setUint16(0, 0x27f, true);
  dv.setUint16(2, 0x1800 | 0x41, true);
  dv.setUint8(4, 0x38);
  dv.setUint16(6, 0x5d9, true);
  dv.setBigUint64(8, 0x401234n, true);
  dv.setBigUint64(16, 0x602040n, true);
  dv.setUint32(24, 0x3f80, true);
  for (let i = 32; i < 416; i++) img[i] = (i * 37 + 11) & 0xff;
  for (let r = 0; r < 8; r++) for (let k = 10; k < 16; k++) img[32 + 16 * r + k] = 0;
  return img;
}

const arch = (img: Uint8Array): number[] => [...img.subarray(0, 28), ...img.subarray(32, 416)];

kvmTest('getFpu after vCPU creation: FCW 0x37F, MXCSR 0x1F80', (t) => {
  const { cpu } = bootGuest(t, asm.hlt);
  const dv = new DataView(cpu.getFpu().buffer);
  t.is(dv.getUint16(0, true), 0x37f);
  t.is(dv.getUint32(24, true), 0x1f80);
});

kvmTest('setFpu loads an FXSAVE64 image (KVM_SET_XSAVE) that getFpu gives back, MXCSR included', (t) => {
  // A guest-side check (FXSAVE64 in the guest) is not possible here: ring-0 FXSAVE shuts the
  // vCPU down on kvm_pvm; the emulator's tests and the cross-backend snapshot tests cover it.
  const { cpu } = bootGuest(t, asm.hlt);
  const img = patternImage();
  cpu.setFpu(img);
  t.deepEqual(arch(cpu.getFpu()), arch(img));
  t.is(new DataView(cpu.getFpu().buffer).getUint32(24, true), 0x3f80);
  const bad = patternImage();
  new DataView(bad.buffer).setUint32(24, 0xffff_0000, true);
  t.throws(() => cpu.setFpu(bad), { message: /MXCSR 0xffff0000/ });
  t.deepEqual(arch(cpu.getFpu()), arch(img), 'a refused image loads nothing');
});

kvmTest('events: queued vectors, KVM_SET_VCPU_EVENTS with a pending exception reads back', (t) => {
  const { cpu } = bootGuest(t, asm.hlt);
  cpu.queueInterrupt(0x30);
  const e = cpu.getEvents();
  t.deepEqual(e.queued, [0x30]);
  t.is(e.exception, null);
  t.false(e.nmiPending);
  cpu.setEvents({ exception: { vector: 13, errorCode: 0x18 }, interrupt: null, shadow: false, nmiPending: false, nmiMasked: false, queued: [0x41, 0x42] });
  const back = cpu.getEvents();
  t.deepEqual(back.exception, { vector: 13, errorCode: 0x18 });
  t.deepEqual(back.queued, [0x41, 0x42]);
});

kvmTest('a saved state survives JSON and loads into a new vCPU unchanged', (t) => {
  const code = [...asm.movEax(0x1234), ...asm.movEcx(77), ...asm.outEax(0x10), ...asm.hlt];
  const a = bootGuest(t, code);
  a.cpu.setFpu(patternImage());
  t.is(a.cpu.run().kind, ExitKind.Io);
  const saved = saveVcpuState(a.cpu);
  t.true(saved.msrs.size > 5, `MSRs read: ${[...saved.msrs.keys()].map((k) => k.toString(16)).join(' ')}`);
  const b = bootGuest(t, code);
  restoreVcpuState(b.cpu, decodeVcpuState(JSON.parse(JSON.stringify(encodeVcpuState(saved)))));
  const again = saveVcpuState(b.cpu);
  t.deepEqual(again.regs, saved.regs);
  t.deepEqual(again.sregs.cs, saved.sregs.cs);
  t.is(again.sregs.cr3, saved.sregs.cr3);
  t.deepEqual(arch(again.fpu), arch(saved.fpu));
  t.deepEqual(again.msrs, saved.msrs);
  t.true(again.tsc >= saved.tsc && again.tsc - saved.tsc < 1_000_000_000n, 'the TSC continues from the saved value');
  t.is(b.cpu.run().kind, ExitKind.Hlt, 'the restored vCPU continues after the OUT');
});

