import { BackendError, ExitKind, EXIT_KIND_NAMES, WiringError, exitValue, type Vm, type VmExit } from '@hyvisor/core';
import { abilityMismatches } from '@hyvisor/core/testing';
import { asm, backend, bootGuest, CODE, IDTR, JMP, JNZ, kvmTest, needsCapability, picInit, pitInit, Program, writeIdt } from './test-support.js';
import type { KvmVcpu } from './kvm-vcpu.js';

function kindName(exit: VmExit): string {
  return EXIT_KIND_NAMES[exit.kind] ?? String(exit.kind);
}

/** Guest data: tick counters the handlers increment. */
const COUNT = 0x4000;
/** Handlers live one page after the main code. */
const HANDLERS = CODE + 0x1000;
/** Ports the guests report on. */
const REPORT = 0x10, READY = 0x12, HANDLED = 0x11;
/** The in-kernel local APIC (xAPIC MMIO) and IOAPIC. */
const LAPIC = 0xfee0_0000, IOAPIC = 0xfec0_0000;

/**
 * Runs the vCPU until `ms` of wall-clock time have passed (each run bounded by a deadline), calling
 * `onExit` for every exit that is not a deadline. Returns the elapsed milliseconds.
 */
function runFor(cpu: KvmVcpu, ms: number, onExit: (exit: VmExit, elapsed: number) => void): number {
  const start = performance.now();
  for (;;) {
    const left = ms - (performance.now() - start);
    if (left <= 0) break;
    cpu.setDeadline(Math.max(1, left));
    const exit = cpu.run();
    if (exit.kind !== ExitKind.Deadline) onExit(exit, performance.now() - start);
  }
  cpu.setDeadline(0);
  return performance.now() - start;
}

kvmTest('info advertises in-kernel-irqchip when KVM has KVM_CAP_IRQCHIP, VMs have vm.irqchip exactly then, and it says whether the PIT comes with it', (t) => {
  const info = backend().info;
  t.is(info.capabilities.has('in-kernel-irqchip'), info.details['irqchip'] === true);
  t.true(info.capabilities.has('interrupt-injection'), 'userspace injection stays available to VMs without an irqchip');
  const vm: Vm = backend().createVm({ name: 'abilities' });
  t.teardown(() => vm.dispose());
  t.deepEqual(abilityMismatches(vm), [], 'sub-objects and capability list agree');
  t.is(vm.irqchip !== undefined, info.capabilities.has('in-kernel-irqchip'));
  t.is(vm.irqchip?.offersPit ?? false, info.details['pit2'] === true);
  t.is(vm.virtualClock, undefined, 'KVM guest time is host time');
  t.is(vm.cr3Policy, undefined, 'guest ring 0 runs on the CPU: no CR3 check');
  t.log(`irqchip ${info.details['irqchip']}, pit2 ${info.details['pit2']}`);
});

kvmTest('the in-kernel PIT and PIC deliver IRQ0 timer ticks at the programmed rate', (t) => {
  if (!needsCapability(t, 'in-kernel-irqchip', 'pit2')) return;
  const N = 100;
  const DIVISOR = 1193; // 1.193182 MHz / 1193 ≈ 1000 Hz
  const handler = new Program(HANDLERS)
    .emit(asm.pushRax, asm.incMem(COUNT), asm.loadEax(COUNT), asm.cmpEax(N))
    .branch(JNZ, 'eoi')
    .emit(asm.outEax(REPORT))
    .label('eoi')
    .emit(asm.movAl(0x20), asm.outAl(0x20), asm.popRax, asm.iretq);
  const main = new Program(CODE)
    .emit(asm.lidt(IDTR), picInit(0x20, [0]), pitInit(DIVISOR), asm.sti)
    .label('idle')
    .emit(asm.hlt)
    .branch(JMP, 'idle');
  const { vm, cpu } = bootGuest(t, main.bytes(), (vm) => {
    vm.irqchip!.create({ pit: true });
    vm.memory.write(HANDLERS, Uint8Array.from(handler.bytes()));
    writeIdt(vm.memory, { 0x20: HANDLERS });
  });

  const others: string[] = [];
  let reportedAt = -1;
  let reported = -1;
  const elapsed = runFor(cpu, 200, (exit, at) => {
    if (exit.kind === ExitKind.Io && exit.port === REPORT && exit.write) {
      reported = exitValue(exit);
      reportedAt = at;
    } else others.push(`${kindName(exit)}${exit.kind === ExitKind.Io ? ` port 0x${exit.port.toString(16)}` : ''} ${exit.reason}`);
  });
  const ticks = vm.memory.u32(COUNT);
  const state = vm.irqchip!.state();
  t.log(`${ticks} ticks in ${elapsed.toFixed(0)} ms (expected ≈${Math.round(elapsed)}); tick ${N} reported after ${reportedAt.toFixed(0)} ms; PIC base 0x${state.master.vectorBase.toString(16)} imr 0x${state.master.imr.toString(16)}; PIT ch0 mode ${state.pit?.mode} count ${state.pit?.count}`);
  // PIC and PIT ports are served in the kernel: the only userspace exit is the report.
  t.deepEqual(others, [], 'no exits besides the report (PIC/PIT port I/O stays in the kernel)');
  t.is(state.master.vectorBase, 0x20);
  t.is(state.pit?.mode, 2);
  t.is(state.pit?.count, DIVISOR);
  t.is(reported, N, `the handler reported tick ${N}`);
  // Lenient: at least half the programmed rate, and never faster than it (plus slack).
  t.true(ticks >= elapsed / 2, `${ticks} ticks in ${elapsed.toFixed(0)} ms is less than half of 1 kHz`);
  t.true(ticks <= elapsed * 1.5 + 20, `${ticks} ticks in ${elapsed.toFixed(0)} ms is faster than 1 kHz`);
  t.true(reportedAt >= N / 2, `tick ${N} arrived after ${reportedAt.toFixed(1)} ms, faster than 1 kHz`);
});

kvmTest('irqchip.setLine raises an edge interrupt that the guest takes through the in-kernel PIC, again after EOI', (t) => {
  if (!needsCapability(t, 'in-kernel-irqchip')) return;
  const IRQ = 5, VECTOR = 0x20 + IRQ;
  const handler = new Program(HANDLERS)
    .emit(asm.pushRax, asm.movEax(VECTOR), asm.outEax(HANDLED), asm.movAl(0x20), asm.outAl(0x20), asm.popRax, asm.iretq);
  const main = new Program(CODE)
    .emit(asm.lidt(IDTR), picInit(0x20, [IRQ]), asm.sti, asm.outAl(READY))
    .label('idle')
    .emit(asm.hlt)
    .branch(JMP, 'idle');
  const { vm, cpu } = bootGuest(t, main.bytes(), (vm) => {
    vm.irqchip!.create({ pit: false });
    vm.memory.write(HANDLERS, Uint8Array.from(handler.bytes()));
    writeIdt(vm.memory, { [VECTOR]: HANDLERS });
  });
  cpu.setDeadline(2000);
  const ready = cpu.run();
  t.is(kindName(ready), 'io');
  t.is(ready.port, READY);
  for (let round = 0; round < 3; round++) {
    vm.irqchip!.setLine(IRQ, true);
    vm.irqchip!.setLine(IRQ, false);
    cpu.setDeadline(2000);
    const exit = cpu.run();
    t.is(kindName(exit), 'io', `round ${round}`);
    t.is(exit.port, HANDLED, `round ${round}`);
    t.is(exitValue(exit), VECTOR, `round ${round}`);
  }
  // Nothing else pending: the guest sleeps in the kernel until the deadline.
  cpu.setDeadline(30);
  t.is(kindName(cpu.run()), 'deadline');
  cpu.setDeadline(0);
  const state = vm.irqchip!.state();
  t.is(state.master.isr, 0, 'every interrupt was acknowledged with EOI');
  t.is(state.master.imr, 0xff & ~(1 << IRQ));
});

kvmTest('irqchip.setLine on an IOAPIC-only GSI reaches the guest through the IOAPIC and the local APIC', (t) => {
  if (!needsCapability(t, 'in-kernel-irqchip')) return;
  const GSI = 16, VECTOR = 0x41;
  const handler = new Program(HANDLERS)
    .emit(asm.pushRax, asm.movEax(VECTOR), asm.outEax(HANDLED))
    .emit(asm.movRbx(LAPIC), asm.storeImmAtRbx(0xb0, 0)) // LAPIC EOI
    .emit(asm.popRax, asm.iretq);
  const main = new Program(CODE)
    .emit(asm.lidt(IDTR), picInit(0x20, [])) // PIC fully masked
    .emit(asm.movRbx(LAPIC), asm.storeImmAtRbx(0xf0, 0x1ff)) // SVR: APIC enabled, spurious 0xff
    // IOAPIC redirection entry 16: vector, fixed, physical, edge, active high, unmasked, dest APIC 0.
    .emit(asm.movRbx(IOAPIC), asm.storeImmAtRbx(0x00, 0x10 + 2 * GSI), asm.storeImmAtRbx(0x10, VECTOR))
    .emit(asm.storeImmAtRbx(0x00, 0x10 + 2 * GSI + 1), asm.storeImmAtRbx(0x10, 0))
    .emit(asm.sti, asm.outAl(READY))
    .label('idle')
    .emit(asm.hlt)
    .branch(JMP, 'idle');
  const { vm, cpu } = bootGuest(t, main.bytes(), (vm) => {
    vm.irqchip!.create({ pit: false });
    vm.memory.write(HANDLERS, Uint8Array.from(handler.bytes()));
    writeIdt(vm.memory, { [VECTOR]: HANDLERS });
  });
  cpu.setDeadline(2000);
  const ready = cpu.run();
  t.is(ready.port, READY, `first exit: ${kindName(ready)} ${ready.reason}`);
  t.is(vm.irqchip!.state().ioapicRedirection[GSI], BigInt(VECTOR), 'the guest programmed the in-kernel IOAPIC');
  for (let round = 0; round < 2; round++) {
    vm.irqchip!.setLine(GSI, true);
    vm.irqchip!.setLine(GSI, false);
    cpu.setDeadline(2000);
    const exit = cpu.run();
    t.is(exit.port, HANDLED, `round ${round}: ${kindName(exit)} ${exit.reason}`);
    t.is(exitValue(exit), VECTOR);
  }
  cpu.setDeadline(0);
});

kvmTest('irqchip.signalMsi delivers a message-signalled interrupt to the in-kernel local APIC (KVM_SIGNAL_MSI)', (t) => {
  if (!needsCapability(t, 'in-kernel-irqchip')) return;
  const VECTOR = 0x52;
  const handler = new Program(HANDLERS)
    .emit(asm.pushRax, asm.movEax(VECTOR), asm.outEax(HANDLED))
    .emit(asm.movRbx(LAPIC), asm.storeImmAtRbx(0xb0, 0)) // LAPIC EOI
    .emit(asm.popRax, asm.iretq);
  const main = new Program(CODE)
    .emit(asm.lidt(IDTR), picInit(0x20, [])) // PIC fully masked: only the APIC delivers
    .emit(asm.movRbx(LAPIC), asm.storeImmAtRbx(0xf0, 0x1ff)) // SVR: APIC enabled, spurious 0xff
    .emit(asm.sti, asm.outAl(READY))
    .label('idle')
    .emit(asm.hlt)
    .branch(JMP, 'idle');
  const { vm, cpu } = bootGuest(t, main.bytes(), (vm) => {
    vm.irqchip!.create({ pit: false });
    vm.memory.write(HANDLERS, Uint8Array.from(handler.bytes()));
    writeIdt(vm.memory, { [VECTOR]: HANDLERS });
  });
  cpu.setDeadline(2000);
  const ready = cpu.run();
  t.is(ready.port, READY, `first exit: ${kindName(ready)} ${ready.reason}`);
  for (let round = 0; round < 2; round++) {
    t.true(vm.irqchip!.signalMsi(0xfee00000, VECTOR), 'one CPU took it'); // physical, APIC ID 0, fixed, edge
    cpu.setDeadline(2000);
    const exit = cpu.run();
    t.is(exit.port, HANDLED, `round ${round}: ${kindName(exit)} ${exit.reason}`);
    t.is(exitValue(exit), VECTOR);
  }
  t.false(vm.irqchip!.signalMsi(0xfee05000, VECTOR), 'APIC ID 5: no such CPU');
  cpu.setDeadline(0);
});

kvmTest('the in-kernel local APIC timer (periodic, xAPIC MMIO) interrupts the guest', (t) => {
  if (!needsCapability(t, 'in-kernel-irqchip')) return;
  const VECTOR = 0x40;
  const handler = new Program(HANDLERS)
    .emit(asm.pushRax, asm.incMem(COUNT), asm.movRbx(LAPIC), asm.storeImmAtRbx(0xb0, 0), asm.popRax, asm.iretq);
  const main = new Program(CODE)
    .emit(asm.lidt(IDTR), picInit(0x20, []))
    .emit(asm.movRbx(LAPIC), asm.storeImmAtRbx(0xf0, 0x1ff)) // SVR: enable
    .emit(asm.storeImmAtRbx(0x3e0, 0xb)) // divide by 1
    .emit(asm.storeImmAtRbx(0x320, 0x2_0000 | VECTOR)) // LVT timer: periodic, unmasked
    .emit(asm.storeImmAtRbx(0x380, 1_000_000)) // initial count: 1 ms at KVM's 1 GHz APIC bus
    .emit(asm.sti)
    .label('idle')
    .emit(asm.hlt)
    .branch(JMP, 'idle');
  const { vm, cpu } = bootGuest(t, main.bytes(), (vm) => {
    vm.irqchip!.create({ pit: false });
    vm.memory.write(HANDLERS, Uint8Array.from(handler.bytes()));
    writeIdt(vm.memory, { [VECTOR]: HANDLERS });
  });
  // KVM accepts the periodic (and TSC-deadline) LVT timer modes only once CPUID is set: until
  // KVM_SET_CPUID2 its timer-mode mask is 0 and a periodic LVTT write reads back as one-shot.
  cpu.setCpuid(cpu.supportedCpuid());
  const others: string[] = [];
  const elapsed = runFor(cpu, 200, (exit) => others.push(`${kindName(exit)} ${exit.reason}`));
  const ticks = vm.memory.u32(COUNT);
  t.log(`${ticks} LAPIC timer ticks in ${elapsed.toFixed(0)} ms; SVR 0x${cpu.lapicRegister(0xf0).toString(16)} LVTT 0x${cpu.lapicRegister(0x320).toString(16)} TMICT ${cpu.lapicRegister(0x380)}`);
  t.deepEqual(others, []);
  t.is(cpu.lapicRegister(0x320), 0x2_0000 | VECTOR);
  // Periodic, not one-shot: it keeps firing. Not a rate check: a loaded host runs the vCPU too
  // rarely for 1 kHz (KVM coalesces the ticks it could not deliver), an idle one gets ~200.
  t.true(ticks >= 5, `${ticks} ticks in ${elapsed.toFixed(0)} ms: a periodic timer fires again and again`);
  t.true(ticks <= elapsed * 1.5 + 20, `${ticks} ticks in ${elapsed.toFixed(0)} ms is faster than 1 kHz`);
});

kvmTest('a vCPU halted in the kernel (sti; hlt, no interrupt source) is returned to the VMM by its deadline', (t) => {
  if (!needsCapability(t, 'in-kernel-irqchip')) return;
  const { cpu } = bootGuest(t, [...asm.sti, ...asm.hlt, ...asm.outAl(REPORT), ...asm.spin], (vm) => vm.irqchip!.create({ pit: true }));
  for (let i = 0; i < 3; i++) {
    const start = performance.now();
    cpu.setDeadline(50);
    const exit = cpu.run();
    const elapsed = performance.now() - start;
    t.is(kindName(exit), 'deadline', `run ${i}: ${exit.reason}`);
    t.true(elapsed >= 45, `run ${i} returned after ${elapsed.toFixed(1)} ms, before the 50 ms deadline`);
    t.true(elapsed < 2000, `run ${i} returned after ${elapsed.toFixed(1)} ms`);
  }
  cpu.setDeadline(0);
  t.is(cpu.mpState(), 'halted', 'the vCPU was asleep in the kernel, not spinning');
  t.is(cpu.getRegisters().rip, BigInt(CODE + 2), 'RIP is after the HLT');
});

kvmTest('kick() from another thread wakes a vCPU halted in the kernel', async (t) => {
  if (!needsCapability(t, 'in-kernel-irqchip')) return;
  const { cpu } = bootGuest(t, [...asm.sti, ...asm.hlt, ...asm.spin], (vm) => vm.irqchip!.create({ pit: false }));
  const handle = (cpu as unknown as { handle: number }).handle;
  const { Worker } = await import('node:worker_threads');
  const addon = new URL('../build/Release/hyvisor_kvm.node', import.meta.url).pathname;
  const worker = new Worker(
    `const k = require(${JSON.stringify(addon)}); setTimeout(() => require('node:worker_threads').parentPort.postMessage(k.vcpuKick(${handle})), 100);`,
    { eval: true },
  );
  const result = new Promise<number>((resolve) => worker.once('message', resolve));
  cpu.setDeadline(5000); // safety net only
  const start = performance.now();
  const exit = cpu.run();
  const elapsed = performance.now() - start;
  cpu.setDeadline(0);
  t.is(await result, 0);
  await worker.terminate();
  t.is(kindName(exit), 'deadline');
  t.true(elapsed < 2000, `returned after ${elapsed.toFixed(0)} ms (the safety deadline is 5000 ms)`);
});

kvmTest('queueInterrupt after irqchip.create throws a BackendError that points to irqchip.setLine', (t) => {
  if (!needsCapability(t, 'in-kernel-irqchip')) return;
  const { cpu } = bootGuest(t, asm.hlt, (vm) => vm.irqchip!.create({ pit: false }));
  t.true(cpu.inKernelIrqchip);
  t.throws(() => cpu.queueInterrupt(0x30), { instanceOf: BackendError, message: /in-kernel irqchip.*irqchip\.setLine/ });
});

kvmTest('irqchip.create after a vCPU exists, twice, or irqchip.setLine without it, is refused with a message', (t) => {
  if (!needsCapability(t, 'in-kernel-irqchip')) return;
  const vm = backend().createVm({ name: 'irqchip-order' });
  t.teardown(() => vm.dispose());
  t.throws(() => vm.irqchip!.setLine(0, true), { instanceOf: BackendError, message: /no in-kernel irqchip yet; call irqchip\.create\(\)/ });
  vm.createVcpu(0).dispose();
  // KVM counts vCPUs ever created, so even a disposed one forbids the irqchip.
  t.throws(() => vm.irqchip!.create({ pit: true }), { instanceOf: WiringError, message: /before createVcpu/ });
  t.false(vm.irqchip!.created);

  const ok = backend().createVm({ name: 'irqchip-twice' });
  t.teardown(() => ok.dispose());
  ok.irqchip!.create({ pit: false });
  t.throws(() => ok.irqchip!.create({ pit: false }), { instanceOf: WiringError, message: /already has its in-kernel irqchip/ });
  for (const gsi of [24, -1, 1.5, Number.NaN]) {
    t.throws(() => ok.irqchip!.setLine(gsi, true), { instanceOf: BackendError, message: /gsi must be an integer 0-23/ });
  }
  t.notThrows(() => ok.irqchip!.setLine(23, true));
  t.notThrows(() => ok.irqchip!.setLine(23, false));
});

kvmTest('without irqchip.create a vCPU keeps userspace injection and HLT exits', (t) => {
  const { cpu } = bootGuest(t, asm.hlt);
  t.false(cpu.inKernelIrqchip);
  t.true(cpu.queueInterrupt(0x30));
  t.is(kindName(cpu.run()), 'hlt');
});
