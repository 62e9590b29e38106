/**
 * How a run ends, on the emulator with hand-assembled guests: HLT with interrupts off is a power
 * off (exit code 0), the i8042's reset command is a reset (exit code 0, through the devices'
 * reset trigger), a triple fault is an error that names what the emulator could not run.
 */
import test from 'ava';
import { Machine, attachBoard, minimalStrategy, tinyElf, type RunResult } from '@hyvisor/vmm';
import { EmuBackend } from './index.js';

async function run(code: readonly number[], board = 'minimal'): Promise<RunResult> {
  using backend = new EmuBackend();
  using machine = new Machine({ backend, strategy: minimalStrategy(), memory: 4 * 1024 * 1024, timeLimitMs: 30_000 });
  attachBoard(machine, board, { output: 'none', input: 'none' });
  machine.loadKernel(tinyElf(code));
  return await machine.run(); // awaited here: `using` disposes the machine when the function returns
}

test('cli; hlt: nothing can wake the CPU, so the guest powered off (exit code 0)', async (t) => {
  const r = await run([0xfa, 0xf4]); // cli; hlt
  t.is(r.reason, 'poweroff');
  t.is(r.exitCode, 0);
  t.is(r.exits.hlt, 1);
});

test('the i8042 reset command (0xfe to port 0x64) on the pc board ends the run as a reset, exit code 0', async (t) => {
  const r = await run([0xb0, 0xfe, 0xe6, 0x64, 0xeb, 0xfe], 'pc'); // mov al,0xfe; out 0x64,al; jmp $
  t.is(r.reason, 'reset');
  t.is(r.exitCode, 0);
});

test('without the i8042 (minimal board) the same write goes nowhere and the guest goes on to its HLT', async (t) => {
  using backend = new EmuBackend();
  using machine = new Machine({ backend, strategy: minimalStrategy(), memory: 4 * 1024 * 1024 });
  attachBoard(machine, 'minimal', { output: 'none', input: 'none' });
  machine.loadKernel(tinyElf([0xb0, 0xfe, 0xe6, 0x64, 0xfa, 0xf4])); // mov al,0xfe; out 0x64,al; cli; hlt
  const r = await machine.run();
  t.is(r.reason, 'poweroff', 'the write was ignored and the guest reached its HLT');
});

test('ud2 with no IDT triple-faults: an error (exit code 1), not a reset', async (t) => {
  const r = await run([0x0f, 0x0b]); // ud2: #UD, then #DF, then shutdown (the boot IDT is empty)
  t.is(r.reason, 'shutdown');
  t.is(r.exitCode, 1);
  t.regex(r.message, /^guest triple-faulted \(the CPU shut down\) at RIP 0x[0-9a-f]+$/, 'ud2 is implemented: no instruction to blame');
});

test('a triple fault after an instruction the emulator lacks names its address and bytes', async (t) => {
  const r = await run([0x90, 0x0f, 0x37]); // nop; getsec (SMX: never emulated)
  t.is(r.reason, 'shutdown');
  t.regex(r.message, /: #UD at RIP 0x100001 for an instruction the emulator does not implement yet \(bytes 0f 37( [0-9a-f]{2})*\)$/);
});
