/**
 * The emulated CPU's x87/SSE state as an FXSAVE image (the 64-bit layout, REX.W FXSAVE64), for
 * `Vcpu.getFpu`/`setFpu`: the same bytes the guest's own FXSAVE64 would store, plus the MXCSR
 * mask, so a state moves between this emulator and KVM unchanged.
 * @module
 */
import { BackendError, FXSAVE_SIZE } from '@hyvisor/core';
import { MXCSR_MASK, type Cpu } from './cpu.js';

/** The FXSAVE64 image of `cpu`'s x87, MXCSR and XMM0–15 state. */
export function fpuImage(cpu: Cpu): Uint8Array {
  const image = new Uint8Array(FXSAVE_SIZE);
  const dv = new DataView(image.buffer);
  dv.setUint16(0, cpu.fcw, true);
  dv.setUint16(2, cpu.fsw, true);
  dv.setUint8(4, cpu.ftw);
  dv.setUint16(6, cpu.fop & 0x7ff, true);
  dv.setBigUint64(8, BigInt.asUintN(64, BigInt(cpu.fip)), true);
  dv.setBigUint64(16, BigInt.asUintN(64, BigInt(cpu.fdp)), true);
  dv.setUint32(24, cpu.mxcsr, true);
  dv.setUint32(28, MXCSR_MASK, true);
  // ST(i) is physical register (TOP + i) mod 8, as FXSAVE stores them.
  const top = (cpu.fsw >>> 11) & 7;
  for (let i = 0; i < 8; i++) {
    const o = ((top + i) & 7) * 5;
    for (let k = 0; k < 5; k++) dv.setUint16(32 + 16 * i + 2 * k, cpu.fpr[o + k]!, true);
  }
  for (let i = 0; i < 64; i++) dv.setUint32(160 + 4 * i, cpu.xmm[i]!, true);
  return image;
}

/** Loads an image made by {@link fpuImage} (or by KVM); refuses an MXCSR with unimplemented bits. */
export function loadFpuImage(cpu: Cpu, image: Uint8Array): void {
  if (image.length !== FXSAVE_SIZE) {
    throw new BackendError(`setFpu: expected a ${FXSAVE_SIZE}-byte FXSAVE image, got ${image.length} bytes`, { operation: 'setFpu' });
  }
  const dv = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const mxcsr = dv.getUint32(24, true);
  if ((mxcsr & ~MXCSR_MASK) !== 0) {
    throw new BackendError(`setFpu: MXCSR 0x${mxcsr.toString(16)} sets bits the emulator does not implement (mask 0x${MXCSR_MASK.toString(16)})`, { operation: 'setFpu' });
  }
  cpu.fcw = dv.getUint16(0, true);
  cpu.fsw = dv.getUint16(2, true);
  cpu.ftw = dv.getUint8(4);
  cpu.fop = dv.getUint16(6, true) & 0x7ff;
  cpu.fip = Number(dv.getBigInt64(8, true));
  cpu.fdp = Number(dv.getBigInt64(16, true));
  cpu.mxcsr = mxcsr;
  const top = (cpu.fsw >>> 11) & 7;
  for (let i = 0; i < 8; i++) {
    const o = ((top + i) & 7) * 5;
    for (let k = 0; k < 5; k++) cpu.fpr[o + k] = dv.getUint16(32 + 16 * i + 2 * k, true);
  }
  for (let i = 0; i < 64; i++) cpu.xmm[i] = dv.getUint32(160 + 4 * i, true);
}
