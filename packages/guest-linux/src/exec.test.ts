import test from 'ava';
import { ExecConsole, initCommandArgs } from './exec.js';
import { LinuxGuestError } from './debian.js';

function feed(chunks: readonly string[]): { console: ExecConsole; shown: () => string } {
  const shown: string[] = [];
  const c = new ExecConsole((t) => shown.push(t));
  for (const ch of chunks) c.write(Buffer.from(ch));
  return { console: c, shown: () => shown.join('') };
}

test('the command goes after -- in double quotes, so init gets it as one argument with its spaces', (t) => {
  t.is(initCommandArgs("awk 'BEGIN { print 1/3 }'"), `-- "awk 'BEGIN { print 1/3 }'"`);
});

test('what the kernel command line cannot carry is refused with one line', (t) => {
  t.throws(() => initCommandArgs('echo "hi"'), { instanceOf: LinuxGuestError, message: /cannot contain double quotes.*use single quotes$/ });
  t.throws(() => initCommandArgs('echo a\necho b'), { instanceOf: LinuxGuestError, message: /printable ASCII on one line/ });
  t.throws(() => initCommandArgs('  '), { instanceOf: LinuxGuestError, message: /is empty$/ });
});

test('only the lines between init\'s marker and the exit marker are shown; the status is kept', async (t) => {
  const r = feed(['[    0.0] Linux version 6.1\r\n[    1.0] Run /init\r\nHYVISOR-IN', 'IT-OK\r\n6.1.0-50-cloud', '-amd64\r\nsecond line\r\nHYVISOR-EXIT=3\r\n[    2.0] reboot: Power down\r\n']);
  await new Promise<void>((resolve) => r.console.end(resolve));
  t.is(r.shown(), '6.1.0-50-cloud-amd64\nsecond line\n');
  t.is(r.console.status, 3);
  t.true(r.console.started);
});

test('a boot that never reaches init shows nothing and keeps the last lines for the message', async (t) => {
  const r = feed(['x'.repeat(5000), '\nKernel panic - not syncing: VFS: Unable to mount root fs\n']);
  await new Promise<void>((resolve) => r.console.end(resolve));
  t.is(r.shown(), '');
  t.is(r.console.status, undefined);
  t.is(r.console.tail(), 'Kernel panic - not syncing: VFS: Unable to mount root fs\n');
});

test('a command printing the marker text itself mid-line is not mistaken for init', async (t) => {
  const r = feed(['HYVISOR-INIT-OK\n', 'echo HYVISOR-EXIT=7 inside\n', 'HYVISOR-EXIT=0\n']);
  await new Promise<void>((resolve) => r.console.end(resolve));
  t.is(r.shown(), 'echo HYVISOR-EXIT=7 inside\n');
  t.is(r.console.status, 0);
});
