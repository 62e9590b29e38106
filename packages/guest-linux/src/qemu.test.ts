import test from 'ava';
import { linuxGuestForTests } from './guest.js';
import { bootUnderQemu, commandResult, qemuArgs, qemuUnavailable } from './qemu.js';

test('the reference QEMU command line boots without firmware on microvm with PIC, PIT and RTC', (t) => {
  const args = qemuArgs({ kernel: 'k', initramfs: 'i', command: 'uname -r' });
  t.deepEqual(args.slice(0, 6), ['-M', 'microvm,acpi=off,pic=on,pit=on,rtc=on', '-cpu', 'qemu64', '-m', '256M']);
  t.is(args[args.indexOf('-append') + 1], 'console=ttyS0 reboot=t panic=-1 cryptomgr.notests hyvisor.end=reboot -- "uname -r"');
  t.true(args.includes('-no-reboot'));
  t.false(qemuArgs({ kernel: 'k', initramfs: 'i' })[qemuArgs({ kernel: 'k', initramfs: 'i' }).indexOf('-append') + 1]!.includes('--'));
});

test('the command output and status are read between the two markers', (t) => {
  const console = '[ 1.0] Run /init as init process\nHYVISOR-INIT-OK\n6.1.0-50-cloud-amd64\nHYVISOR-EXIT=3\n[ 2.0] reboot\n';
  t.deepEqual(commandResult(console), { exitStatus: 3, commandOutput: '6.1.0-50-cloud-amd64\n' });
  t.deepEqual(commandResult('HYVISOR-INIT-OK\nno exit line\n'), {});
  t.deepEqual(commandResult('kernel panic\n'), {});
});

const fetched = linuxGuestForTests();
const missing = 'missing' in fetched ? fetched.missing : qemuUnavailable();
if (missing) console.log(`skipping the QEMU reference boot: ${missing}`);

(missing ? test.skip : test)('[qemu] Debian\'s kernel boots our initramfs to the init marker and runs uname -r', async (t) => {
  if (!('guest' in fetched)) return;
  const { guest } = fetched;
  // One boot checks both the output and that the status travels back (3, not 0).
  const r = await bootUnderQemu({ kernel: guest.kernel, initramfs: guest.initramfs, command: 'uname -r; (exit 3)', timeoutMs: 100_000 });
  t.log(`QEMU TCG: init marker after ${((r.initMarkerMs ?? NaN) / 1000).toFixed(2)} s, exit after ${(r.totalMs / 1000).toFixed(2)} s`);
  t.false(r.timedOut, r.output.slice(-2000));
  t.not(r.initMarkerMs, undefined, r.output.slice(-2000));
  t.true(r.output.includes('Run /init as init process'));
  t.true(r.commandOutput?.split('\n').includes(guest.manifest.kernel.release), r.commandOutput);
  t.is(r.exitStatus, 3);
  t.is(r.qemuExitCode, 0); // init rebooted; reboot=t triple-faults; -no-reboot makes QEMU exit
});
