/**
 * The testbed guest: its build (ABI header, ring-0 scan), every workload on KVM under the HVM
 * strategies, and the same binary booted by QEMU TCG.
 */
import 'reflect-metadata';
import test, { type ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderCHeader } from '@hyvisor/core/abi/c-header';
import { kvmAvailable } from '@hyvisor/backend-kvm';
import { TESTBED_ELF, qemuAvailable, runTestbed, runTestbedInQemu, type GuestResult, type TestbedRun } from './harness.js';
import { scanRing0 } from './ring0-scan.js';

const pkg = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const kvm = kvmAvailable();

function kvmTest(title: string, fn: (t: ExecutionContext) => Promise<void>): void {
  test.serial(`${title} [kvm]`, async (t) => {
    if (!kvm.ok) {
      t.log(`skipped: ${kvm.reason}`);
      t.pass();
      return;
    }
    await fn(t);
  });
}

function only(t: ExecutionContext, run: TestbedRun, workload: string): GuestResult {
  t.is(run.exitCode, 0, `${run.reason} ${run.message}\n${run.console}`);
  const r = run.results.find((x) => x.workload === workload);
  if (!r) throw new Error(`no ${workload} result:\n${run.console}`);
  t.is(r.check, 'ok', JSON.stringify(r));
  return r;
}

test('the guest was built from the current ABI constants (generated header matches)', (t) => {
  t.is(fs.readFileSync(path.join(pkg, 'build/hyvisor_abi.h'), 'utf8'), renderCHeader());
});

test('kernel code of the guests contains no instruction kvm_pvm cannot run at ring 0', (t) => {
  t.deepEqual(scanRing0(TESTBED_ELF, '.text'), []);
  t.deepEqual(scanRing0(TESTBED_ELF, '.boot32', 'i386'), []);
  t.deepEqual(scanRing0(path.join(pkg, '../guest-hello/build/hello.elf'), '.text'), []);
});

test('the ring-0 scan catches a forbidden instruction', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hyvisor-scan-'));
  const obj = path.join(dir, 'bad.o');
  fs.writeFileSync(path.join(dir, 'bad.c'), 'void f(void) { __asm__ volatile("int3; popcnt %rax, %rbx"); }\n');
  execFileSync('gcc', ['-c', '-O2', '-o', obj, path.join(dir, 'bad.c')]);
  const hits = scanRing0(obj, '.text');
  t.is(hits.length, 2, JSON.stringify(hits));
  t.regex(hits[0]!.line, /int3/);
  t.regex(hits[1]!.line, /popcnt/);
});

kvmTest('syscall: every null system call from ring 3 is counted', async (t) => {
  const r = only(t, await runTestbed({ strategy: 'hvm', workload: 'syscall', iterations: 300 }), 'syscall');
  t.is(r.iterations, 300);
  t.true(r.nsPerOp > 0);
});

kvmTest('memory: each map/touch/unmap takes one page fault and leaks no frame', async (t) => {
  const r = only(t, await runTestbed({ strategy: 'hvm', workload: 'memory', iterations: 100 }), 'memory');
  t.is(r.faults, 100);
  t.is(r.framesLeaked, 0);
});

kvmTest('cpu: ring-3 computation makes no exit in the measured loop', async (t) => {
  const run = await runTestbed({ strategy: 'hvm', workload: 'cpu', iterations: 200 });
  only(t, run, 'cpu');
  t.is(run.markedExits.io, 0, JSON.stringify(run.markedExits));
});

for (const strategy of ['hvm', 'hvm-userspace']) {
  kvmTest(`irq under ${strategy}: every device interrupt is taken and acknowledged`, async (t) => {
    const r = only(t, await runTestbed({ strategy, workload: 'irq', iterations: 200 }), 'irq');
    t.is(r.interrupts, 200);
  });

  kvmTest(`io under ${strategy}: sectors written through the ATA registers read back with the same CRC`, async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hyvisor-io-'));
    const disk = path.join(dir, 'disk.img');
    const r = only(t, await runTestbed({ strategy, workload: 'io', iterations: 64, diskPath: disk }), 'io');
    t.is(r.sectors, 64);
    // The data really reached the host file: the guest's CRC-32 over what it wrote matches the file.
    const written = fs.readFileSync(disk).subarray(0, 64 * 512);
    t.is(r.crc, `0x${crc32(written).toString(16).padStart(8, '0')}`);
  });
}

kvmTest('time under hvm-userspace: stalls of the VMM lose emulated PIT ticks and the guest clock drifts', async (t) => {
  const r = only(t, await runTestbed({ strategy: 'hvm-userspace', workload: 'time', iterations: 500 }), 'time');
  t.is(r.stalls, 3);
  t.true((r.lostTicks as number) >= 75, `lost ${r.lostTicks} ticks over 3 × 50 ms stalls`);
  t.true((r.driftUs as number) <= -75_000, `drift ${r.driftUs} µs`);
});

kvmTest('time under hvm: the in-kernel PIT re-injects the ticks a stall delays', async (t) => {
  const r = only(t, await runTestbed({ strategy: 'hvm', workload: 'time', iterations: 500 }), 'time');
  t.is(r.stalls, 3);
  t.true(Math.abs(r.lostTicks as number) < 30, `lost ${r.lostTicks} ticks`);
});

for (const workload of ['syscall', 'memory', 'irq', 'io']) {
  test(`${workload} runs on the emulator backend under hvm-userspace`, async (t) => {
    const r = only(t, await runTestbed({ backend: 'emu', strategy: 'hvm-userspace', workload, iterations: 50 }), workload);
    t.is(r.iterations, 50);
  });
}

test('QEMU TCG boots the same binary through its PVH entry and runs a workload', (t) => {
  if (!qemuAvailable()) {
    t.log('skipped: qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)');
    t.pass();
    return;
  }
  const q = runTestbedInQemu('syscall', 2000, 120_000);
  t.is(q.exitCode, 0, q.console);
  const r = q.results.find((x) => x.workload === 'syscall');
  t.is(r?.check, 'ok', q.console);
  t.regex(q.console, /host=other/);
});

/** CRC-32 (IEEE), as the guest computes it. */
function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of data) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return (c ^ 0xffffffff) >>> 0;
}
