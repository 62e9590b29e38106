import test from 'ava';
import { BACKENDS, ExitKind, createHyvisorContainer, exitValue, setExitValue, type Vm, type VmExit } from '@hyvisor/core';
import { abilityMismatches } from '@hyvisor/core/testing';
import { EmuBackend, registerEmuBackend } from './index.js';
import { CODE, DATA, harness, handler, hex, reg, run, runToHlt, setRegs } from './test-support.js';

test('the backend reports name and flavour emu, its typed facts and only the capabilities it has', (t) => {
  const b = new EmuBackend();
  t.is(b.info.name, 'emu');
  t.is(b.info.flavour, 'emu');
  t.is(b.info.host, 'emulator');
  t.is(b.info.tscKhz, 1_000_000);
  t.true(b.info.deterministic);
  t.true(b.info.capabilities.has('readonly-memory'));
  t.true(b.info.capabilities.has('interrupt-injection'));
  t.true(b.info.capabilities.has('virtual-clock'));
  t.true(b.info.capabilities.has('cr3-policy'));
  t.false(b.info.capabilities.has('in-kernel-irqchip'));
  t.false(b.info.capabilities.has('ioeventfd'));
  t.true(b.info.capabilities.has('region-refresh'), 'a TLB flush: direct paging drops translations at every release');
  const vm: Vm = b.createVm();
  t.is(vm.irqchip, undefined, 'no in-kernel irqchip: absent, not a throwing stub');
  t.is(vm.ioEvents, undefined);
  t.not(vm.regionRefresh, undefined);
  t.not(vm.virtualClock, undefined);
  t.not(vm.cr3Policy, undefined);
  t.deepEqual(abilityMismatches(vm), [], 'sub-objects and capability list agree');
  b.dispose();
});

test('registerEmuBackend adds emu to the backend registry', (t) => {
  const c = createHyvisorContainer();
  registerEmuBackend(c);
  const b = c.resolve(BACKENDS).create('emu');
  t.is(b.info.name, 'emu');
  b.dispose();
});

test('OUT exits with port, size and data; the instruction has completed', (t) => {
  const h = harness(hex('e780 f4')); // out 0x80, eax; hlt
  setRegs(h, { rax: 0xcafef00dn });
  const e = run(h);
  t.is(e.kind, ExitKind.Io);
  t.deepEqual([e.port, e.size, e.write, e.count, exitValue(e)], [0x80, 4, true, 1, 0xcafef00d]);
  t.is(h.vcpu.readRegister('rip'), CODE + 2);
  t.is(run(h).kind, ExitKind.Hlt);
});

test('IN exits; the answer written into exit.data reaches AL on the next run', (t) => {
  const h = harness(hex('e460 f4')); // in al, 0x60; hlt
  setRegs(h, { rax: 0x1100n });
  const e = run(h);
  t.deepEqual([e.kind, e.port, e.size, e.write], [ExitKind.Io, 0x60, 1, false]);
  setExitValue(e, 0x5a);
  runToHlt(h);
  t.is(reg(h, 'rax'), 0x115an);
  t.is(h.vcpu.instructionsRetired, 2, 'the IN retired once');
});

test('rep outsb hands the whole string to the VMM in one exit with count', (t) => {
  const h = harness(hex('f36e f4'));
  h.mem.write(DATA, new TextEncoder().encode('hello'));
  setRegs(h, { rsi: BigInt(DATA), rcx: 5n, rdx: 0x3f8n });
  const e = run(h);
  t.deepEqual([e.kind, e.port, e.size, e.count], [ExitKind.Io, 0x3f8, 1, 5]);
  t.is(new TextDecoder().decode(new Uint8Array(e.data.buffer, e.data.byteOffset + e.dataOffset, 5)), 'hello');
  t.is(reg(h, 'rcx'), 0n);
  t.is(run(h).kind, ExitKind.Hlt);
});

test('rep insw takes count words from one exit into memory', (t) => {
  const h = harness(hex('66f36d f4'));
  setRegs(h, { rdi: BigInt(DATA), rcx: 3n, rdx: 0x1f0n });
  const e = run(h);
  t.deepEqual([e.kind, e.port, e.size, e.count, e.write], [ExitKind.Io, 0x1f0, 2, 3, false]);
  for (let i = 0; i < 3; i++) setExitValue(e, 0x1111 * (i + 1), i);
  runToHlt(h);
  t.deepEqual([0, 1, 2].map((i) => h.mem.u16(DATA + 2 * i)), [0x1111, 0x2222, 0x3333]);
  t.is(reg(h, 'rdi'), BigInt(DATA + 6));
});

// RCX is a 64-bit count: above 2^53 a double cannot hold it, so the decrement must be exact on
// the register's two halves (as LOOP's is). A low half smaller than the step borrows from the high.
test('rep outsb with RCX above 2^53 subtracts exactly the elements moved, borrowing across the halves', (t) => {
  const h = harness(hex('f36e f4'));
  const rcx = (1n << 60n) + 3n;
  setRegs(h, { rsi: BigInt(DATA), rcx, rdx: 0x3f8n });
  const e = run(h);
  t.deepEqual([e.kind, e.port, e.size], [ExitKind.Io, 0x3f8, 1]);
  t.true(e.count > 3, 'more elements than the low half of RCX: the subtraction borrows');
  t.is(reg(h, 'rcx'), rcx - BigInt(e.count));
  t.is(reg(h, 'rsi'), BigInt(DATA + e.count));
  t.is(h.vcpu.readRegister('rip'), CODE, 'RCX is not 0: the instruction repeats');
});

test('rep insb with RCX above 2^53 subtracts exactly the elements moved', (t) => {
  const h = harness(hex('f36c f4'));
  const rcx = (1n << 62n) + 0x1234_0000_0001n;
  setRegs(h, { rdi: BigInt(DATA), rcx, rdx: 0x60n });
  const e = run(h);
  t.deepEqual([e.kind, e.port, e.size, e.write], [ExitKind.Io, 0x60, 1, false]);
  const n = e.count;
  for (let i = 0; i < n; i++) setExitValue(e, i & 0xff, i);
  run(h); // takes the answer, then exits again for the next chunk
  t.is(reg(h, 'rcx'), rcx - BigInt(n));
  t.is(h.mem.u8(DATA + n - 1), (n - 1) & 0xff);
});

test('a read outside RAM is an MMIO exit; the answer lands in the register', (t) => {
  const h = harness(hex('8b04250000ff7f f4')); // mov eax, [0x7fff0000]
  const e = run(h);
  t.deepEqual([e.kind, e.gpa, e.size, e.write], [ExitKind.Mmio, 0x7fff0000, 4, false]);
  setExitValue(e, 0x12345678);
  runToHlt(h);
  t.is(reg(h, 'rax'), 0x12345678n);
});

test('a write outside RAM is an MMIO exit carrying the data', (t) => {
  const h = harness(hex('488903 f4'));
  setRegs(h, { rbx: 0xfee00000n, rax: 0x1122334455667788n });
  const e = run(h);
  t.deepEqual([e.kind, e.gpa, e.size, e.write], [ExitKind.Mmio, 0xfee00000, 8, true]);
  t.is(e.data.getBigUint64(e.dataOffset, true), 0x1122334455667788n);
  t.is(run(h).kind, ExitKind.Hlt);
});

test('read-only regions: reads see the data, writes exit as MMIO and leave it unchanged', (t) => {
  const h = harness(hex('488b03 488903 f4'));
  const rom = h.vm.addRegion('rom', 0x900000, 0x1000, { readonly: true });
  new DataView(rom.buffer).setUint32(0, 0xabcd, true);
  setRegs(h, { rbx: 0x900000n });
  const e = run(h);
  t.deepEqual([e.kind, e.gpa, e.write], [ExitKind.Mmio, 0x900000, true]);
  t.is(reg(h, 'rax'), 0xabcdn);
  t.is(new DataView(rom.buffer).getUint32(0, true), 0xabcd);
});

test('a guest that never exits returns a Deadline exit once the deadline passes', (t) => {
  const h = harness(hex('ebfe')); // jmp $
  h.vcpu.setDeadline(30);
  const start = performance.now();
  t.is(run(h).kind, ExitKind.Deadline);
  const took = performance.now() - start;
  t.true(took >= 29 && took < 2000, `took ${took} ms`);
  t.true(h.vcpu.instructionsRetired > 1000);
});

test('the deadline is virtual time: it passes exactly when its instructions have retired', (t) => {
  const h = harness(hex('ebfe')); // jmp $
  h.vcpu.hostGuardMinMs = Infinity; // no host-time guard: a descheduled test worker must not end the run early
  t.is(h.vm.virtualClock.now(), 0);
  h.vcpu.setDeadline(0.001234); // 1234 ns = 1234 instructions
  t.is(run(h).kind, ExitKind.Deadline);
  t.is(h.vcpu.instructionsRetired, 1234);
  t.is(h.vm.virtualClock.now(), 1234);
  h.vcpu.setDeadline(0.000_000_5); // less than an instruction: one
  t.is(run(h).kind, ExitKind.Deadline);
  t.is(h.vcpu.instructionsRetired, 1235);
});

test('virtualClock.advanceTo moves guest time and the TSC forward (never back) and brings a virtual deadline closer', (t) => {
  const h = harness(hex('0f31 f4 ebfe')); // rdtsc; hlt; jmp $
  h.vcpu.hostGuardMinMs = Infinity;
  runToHlt(h);
  const tsc0 = Number(reg(h, 'rax'));
  t.is(tsc0, 0, 'rdtsc read before it retired');
  h.vm.virtualClock.advanceTo(1_000_000);
  t.is(h.vm.virtualClock.now(), 1_000_000);
  h.vm.virtualClock.advanceTo(5); // never back
  t.is(h.vm.virtualClock.now(), 1_000_000);
  setRegs(h, { rip: BigInt(CODE) });
  runToHlt(h);
  t.is(Number(reg(h, 'rax')), 1_000_000, 'TSC = instructions retired before the rdtsc + time skipped');
  h.vcpu.setDeadline(0.01); // 10 µs
  h.vm.virtualClock.advanceTo(h.vm.virtualClock.now() + 9_990);
  t.is(run(h).kind, ExitKind.Deadline);
  t.is(h.vcpu.instructionsRetired, 14, '4 retired + the 10 that remained after the jump');
  t.is(h.vcpu.stats()['skippedNs'], 1_000_000 - 2 + 9_990);
  t.is(h.vcpu.stats()['exits.deadline'], 1);
  t.is(h.vcpu.stats()['exits.hlt'], 2);
});

test('kick makes the next run return a Deadline exit at once', (t) => {
  const h = harness(hex('ebfe'));
  h.vcpu.kick();
  t.is(run(h).kind, ExitKind.Deadline);
  t.is(h.vcpu.instructionsRetired, 0);
});

test('a queued interrupt waits for IF and the STI shadow, then goes through the IDT', (t) => {
  const h = harness(hex('90 fb f4 f4')); // nop; sti; hlt; hlt
  t.true(h.vcpu.queueInterrupt(0x20));
  t.false(h.vcpu.interruptWindowOpen);
  let e = run(h);
  t.is(e.kind, ExitKind.Hlt, 'the HLT in the STI shadow runs before the interrupt');
  t.is(h.vcpu.readRegister('rip'), CODE + 3);
  t.is(h.vcpu.pendingInterrupts, 1);
  e = run(h);
  t.is(e.kind, ExitKind.Hlt);
  t.is(h.vcpu.readRegister('rip'), handler(0x20) + 1);
  t.is(h.vcpu.pendingInterrupts, 0);
  t.is(h.mem.u64(Number(reg(h, 'rsp')))!, BigInt(CODE + 3), 'returns after the first HLT');
});

test('an interrupt-window request exits as soon as IF=1 and the shadow is over', (t) => {
  const h = harness(hex('90 fb 90 f4'));
  h.vcpu.setInterruptWindowRequest(true);
  const e = run(h);
  t.is(e.kind, ExitKind.IrqWindow);
  t.is(h.vcpu.readRegister('rip'), CODE + 3);
  t.true(h.vcpu.interruptWindowOpen);
  h.vcpu.setInterruptWindowRequest(false);
  t.is(run(h).kind, ExitKind.Hlt);
});

test('CPUID shows the generic CPU and the leaves the VMM set', (t) => {
  const h = harness(hex('0fa2 f4'));
  const leaves = h.vcpu.supportedCpuid();
  t.truthy(leaves.find((l) => l.function === 0x80000001 && (l.edx & (1 << 29)) !== 0), 'long mode');
  const edx = leaves.find((l) => l.function === 1)!.edx;
  t.is(edx & ((1 << 24) | (1 << 25) | (1 << 26)), (1 << 24) | (1 << 25) | (1 << 26), 'FXSR, SSE, SSE2');
  t.is(edx & 1, 1, 'FPU: the x87 with its arithmetic');
  t.is(edx & (1 << 23), 0, 'no MMX');
  t.is(leaves.find((l) => l.function === 1)!.ecx & 0x7fffffff, 0, 'nothing in leaf 1 ECX: no SSE3 or later');
  h.vcpu.setCpuid([...leaves, { function: 0x40000000, index: 0, flags: 0, eax: 0x40000002, ebx: 0x69767948, ecx: 1, edx: 2 }]);
  setRegs(h, { rax: 0x40000000n });
  runToHlt(h);
  t.is(reg(h, 'rbx'), 0x69767948n);
  const h0 = harness(hex('0fa2 f4'));
  runToHlt(h0);
  const vendor = Buffer.alloc(12);
  vendor.writeUInt32LE(Number(reg(h0, 'rbx')), 0); vendor.writeUInt32LE(Number(reg(h0, 'rdx')), 4); vendor.writeUInt32LE(Number(reg(h0, 'rcx')), 8);
  t.is(vendor.toString(), 'AuthenticAMD', 'AMD, as qemu64: Linux then needs no page-table isolation');
});

test('rdtsc counts retired instructions at the fixed ratio', (t) => {
  const h = harness(hex('90 90 90 0f31 f4'));
  runToHlt(h);
  t.is(reg(h, 'rax'), 3n);
  t.is(reg(h, 'rdx'), 0n);
});

test('unknown MSRs are #GP in the guest and a BackendError for the VMM', (t) => {
  const h = harness(hex('0f32 f4'));
  setRegs(h, { rcx: 0x12345n });
  runToHlt(h);
  t.is(h.vcpu.readRegister('rip'), handler(13) + 1);
  t.throws(() => h.vcpu.getMsr(0x12345), { message: /not implemented/ });
});

/** A small guest: sums with a loop, writes progress to a port and reads one back. */
function deterministicRun(): { retired: number; exits: string[] } {
  // mov ecx, 2000; loop: add rax, rcx; out 0x80, al (every iteration); dec ecx; jnz loop; in al, 0x61; hlt
  const h = harness(hex('b9d0070000', '4801c8', 'e680', 'ffc9', '75f7', 'e461', 'f4'));
  const exits: string[] = [];
  for (;;) {
    const e: VmExit = h.vcpu.run();
    exits.push(`${e.kind}:${e.port}:${e.write ? exitValue(e) : ''}`);
    if (e.kind === ExitKind.Io && !e.write) setExitValue(e, 7);
    if (e.kind === ExitKind.Hlt) break;
  }
  return { retired: h.vcpu.instructionsRetired, exits };
}

test('two runs of the same guest retire the same instructions and exit the same way', (t) => {
  const a = deterministicRun(), b = deterministicRun();
  t.is(a.retired, b.retired);
  t.is(a.retired, 1 + 2000 * 4 + 2);
  t.deepEqual(a.exits, b.exits);
  t.is(a.exits.length, 2002);
});

test('a CR3 policy that refuses makes MOV to CR3 #GP(0) with the old CR3 kept; it sees the masked address', (t) => {
  const h = harness(hex('0f22d8 f4')); // mov cr3, rax; hlt
  const seen: number[] = [];
  const refuse = (cr3: number) => { seen.push(cr3); return false; };
  h.vm.cr3Policy.set(refuse);
  const before = h.vcpu.getSpecialRegisters().cr3;
  setRegs(h, { rax: 0x123018n }); // PWT|PCD set: dropped before the policy sees it
  runToHlt(h);
  t.is(h.vcpu.readRegister('rip'), handler(13) + 1);
  t.is(h.mem.u64(Number(reg(h, 'rsp'))), 0n, 'error code 0');
  t.is(h.vcpu.getSpecialRegisters().cr3, before);
  t.deepEqual(seen, [0x123000]);
  t.is(h.vm.createVcpu(1).cpu.cr3Policy, refuse, 'a vCPU created later gets the policy');
});

test('a CR3 policy that allows loads CR3; without a policy (or after removing it) nothing is checked', (t) => {
  for (const policy of ['allow', 'none', 'removed'] as const) {
    const h = harness(hex('0f22d8 f4'));
    let calls = 0;
    if (policy !== 'none') h.vm.cr3Policy.set(() => { calls++; return true; });
    if (policy === 'removed') h.vm.cr3Policy.set(undefined);
    setRegs(h, { rax: 0x9008n }); // the boot PML4 again, with PWT
    runToHlt(h);
    t.is(h.vcpu.readRegister('rip'), CODE + 4, policy);
    t.is(h.vcpu.getSpecialRegisters().cr3, 0x9000n, policy);
    t.is(calls, policy === 'allow' ? 1 : 0, policy);
  }
});

test('self-modifying code in the same run: a store into a cached instruction is seen when it runs again', (t) => {
  // L: mov eax, 1; mov dword [rip - 14], 2 (the immediate of L); inc ebx; cmp ebx, 2; jne L; hlt
  const h = harness(hex('b801000000 c705f2ffffff02000000 ffc3 83fb02 75ea f4'));
  setRegs(h, { rax: 0n, rbx: 0n });
  const v = runToHlt(h);
  t.is(reg(h, 'rax'), 2n, 'the second pass ran the patched mov eax, 2');
  t.is(reg(h, 'rbx'), 2n);
  t.is(v.instructionsRetired, 11);
});
