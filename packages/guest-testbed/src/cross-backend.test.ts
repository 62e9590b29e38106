/**
 * The same guest binary, config and strategy on the KVM backend and on the emulator give the same
 * workload results (checksums, CRCs, counts): the emulator behaves like the hardware.
 */
import 'reflect-metadata';
import { kvmSerialTest } from '@hyvisor/backend-kvm/testing';
import { runTestbed, type GuestResult } from './harness.js';

/** Figures that depend only on the work done, not on time or host. */
const STABLE = ['iterations', 'check', 'checksum', 'bytes', 'crc', 'sectors', 'faults', 'pteWrites', 'framesLeaked', 'interrupts', 'deviceCount'];

function stable(r: GuestResult): Record<string, unknown> {
  return Object.fromEntries(STABLE.filter((k) => k in r).map((k) => [k, r[k]]));
}

for (const strategy of ['hvm-userspace', 'pv', 'hybrid']) {
  kvmSerialTest(`${strategy}: the workloads give the same results on KVM and on the emulator`, async (t) => {
    for (const workload of ['cpu', 'memory', 'irq', 'io']) {
      const [onKvm, onEmu] = [
        await runTestbed({ backend: 'kvm', strategy, workload, iterations: 40 }),
        await runTestbed({ backend: 'emu', strategy, workload, iterations: 40 }),
      ];
      t.is(onKvm.exitCode, 0, `${workload} on kvm: ${onKvm.console}`);
      t.is(onEmu.exitCode, 0, `${workload} on emu: ${onEmu.console}`);
      const a = onKvm.results.find((r) => r.workload === workload)!;
      const b = onEmu.results.find((r) => r.workload === workload)!;
      t.is(a.check, 'ok');
      t.deepEqual(stable(b), stable(a), `${workload} under ${strategy}`);
    }
  });
}
