/**
 * Test helper (not part of the package's API): restores the testbed snapshot in `argv[2]`
 * (optionally on backend `argv[3]`) in this new process, runs it to the end and prints one JSON
 * line: exit code, reason, console output after the restore, instructions retired after it.
 * @module
 */
import 'reflect-metadata';
import type { BufferSerialOutput } from '@hyvisor/devices';
import { restoreMachineFromSnapshot } from '@hyvisor/vmm';
import { testbedContainer } from './harness.js';

const [dir, backend] = process.argv.slice(2);
const composed = restoreMachineFromSnapshot(testbedContainer(), dir!, backend !== undefined ? { backend } : {});
try {
  const r = await composed.machine.run();
  const stats = composed.machine.vcpu.stats?.() ?? {};
  process.stdout.write(JSON.stringify({
    exitCode: r.exitCode, reason: r.reason, message: r.message, instructions: stats['instructions'] ?? null,
    takenAt: composed.snapshot.stats['instructions'] ?? null, console: (composed.devices.serialOutput as BufferSerialOutput).text(),
  }) + '\n');
} finally {
  composed.dispose();
}
