import { readdirSync, readFileSync } from 'node:fs';
import { setImmediate as tick } from 'node:timers/promises';
import test, { type ExecutionContext } from 'ava';
import { BACKENDS, createHyvisorContainer } from '@hyvisor/core';
import { registerKvmBackend } from './index.js';
import { asm, backend, bootGuest, kvmSerialTest, needsCapability } from './test-support.js';

function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

/**
 * Mappings, without V8's own heap pages (anonymous, 256 KiB each): those come and go with the JS
 * heap (how much the process loaded before decides how many the churn adds), while what a VM maps
 * (its RAM, its ROM, the vCPU's kvm_run) has other sizes or names.
 */
function mapLines(): number {
  return readFileSync('/proc/self/maps', 'utf8').split('\n').filter((line) => {
    const m = /^([0-9a-f]+)-([0-9a-f]+) rw-p 00000000 00:00 0\s*$/.exec(line);
    return !(m && parseInt(m[2]!, 16) - parseInt(m[1]!, 16) === 256 * 1024);
  }).length;
}

/** Lets Node run the ArrayBuffer finalizers it queues with setImmediate. */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await tick();
}

/** Kernel threads KVM starts for this process's in-kernel PITs (`kvm-pit/<pid>`). */
function pitThreads(): number {
  const name = `kvm-pit/${process.pid}`;
  let n = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === name) n++;
    } catch {
      // The process ended meanwhile.
    }
  }
  return n;
}

/**
 * Creates and disposes 10 warm-up VMs, then 200 more, and checks that the fd count and the
 * mapping count came back to where they were.
 */
async function churn(t: ExecutionContext, irqchip: boolean): Promise<void> {
  const cycle = (): void => {
    const vm = backend().createVm({ name: 'churn' });
    try {
      if (irqchip) vm.irqchip!.create({ pit: true });
      vm.addRegion('ram', 0, 2 << 20);
      vm.addRegion('rom', 0x400000, 0x1000, { readonly: true });
      vm.ioEvents!.add({ space: 'pio', address: irqchip ? 0x80 : 0x40, size: 1 });
      const cpu = vm.createVcpu(0);
      cpu.setDeadline(1000);
      if (irqchip) {
        vm.irqchip!.setLine(4, true);
        vm.irqchip!.setLine(4, false);
      }
    } finally {
      vm.dispose();
    }
  };
  // Warm up: the first VMs grow V8's heap and the addon's tables once.
  for (let i = 0; i < 10; i++) cycle();
  await settle();
  const fds = openFds();
  const maps = mapLines();
  for (let i = 0; i < 200; i++) cycle();
  await settle();
  const fdDelta = openFds() - fds;
  const mapDelta = mapLines() - maps;
  t.log(`after 200 VMs: fds ${fdDelta >= 0 ? '+' : ''}${fdDelta}, /proc/self/maps lines ${mapDelta >= 0 ? '+' : ''}${mapDelta}`);
  t.is(fdDelta, 0);
  // V8 may map or unmap a heap page or two meanwhile; 200 leaked VMs would be 600+ lines.
  t.true(Math.abs(mapDelta) <= 8, `maps lines changed by ${mapDelta}`);
}

kvmSerialTest('creating and disposing 200 VMs leaks no fd and no mapping', (t) => churn(t, false));

kvmSerialTest('creating and disposing 200 VMs with an in-kernel irqchip and PIT leaks no fd, mapping or PIT thread', async (t) => {
  if (!needsCapability(t, 'in-kernel-irqchip', 'pit2')) return;
  const threads = pitThreads();
  const probe = backend().createVm({ name: 'pit-probe' });
  probe.irqchip!.create({ pit: true });
  const visible = pitThreads() > threads;
  probe.dispose();
  if (!visible) t.log(`no kvm-pit/${process.pid} thread is visible in /proc here: the thread check below proves nothing`);
  await churn(t, true);
  // KVM stops a VM's PIT worker when the VM fd is released; let the kernel finish that.
  let after = pitThreads();
  for (let i = 0; i < 50 && after > threads; i++) {
    await new Promise((r) => setTimeout(r, 20));
    after = pitThreads();
  }
  t.log(`kvm-pit threads before ${threads}, after ${after}`);
  t.is(after, threads);
});

kvmSerialTest('a vCPU that is never run still releases its timer, mapping and fd', async (t) => {
  const fds = openFds();
  const { vm } = bootGuest(t, asm.hlt);
  t.true(openFds() > fds);
  vm.dispose();
  await settle();
  t.is(openFds(), fds);
});

test('registerKvmBackend adds kvm to the registry without opening /dev/kvm', (t) => {
  const container = createHyvisorContainer();
  const fds = openFds();
  registerKvmBackend(container);
  const registry = container.resolve(BACKENDS);
  t.true(registry.has('kvm'));
  t.is(openFds(), fds);
  t.regex(registry.list().find((e) => e.name === 'kvm')?.description ?? '', /KVM/);
});
