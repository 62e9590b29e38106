/**
 * `HYVISOR_REPORT_FIRST_INSTRUCTION=1`: print, on stderr, the moment the VMM hands the vCPU to the
 * guest for the first time (right before the first KVM_RUN or emulator step), in ms since
 * `performance.timeOrigin` (the process's start), and the CPU time the process has used by then
 * (user + system, which host load does not inflate the way it does wall time). `hyvisor bench
 * startup` reads it.
 * @module
 */
import type { Vcpu } from '@hyvisor/core';

/** The environment variable that turns the report on. */
export const FIRST_INSTRUCTION_ENV = 'HYVISOR_REPORT_FIRST_INSTRUCTION';

/** The line's prefix; the number follows. */
export const FIRST_INSTRUCTION_PREFIX = 'hyvisor: first instruction at ms ';

/**
 * Wraps the first `vcpu.run()` to take the timestamp, then puts the original back, so the exit
 * path is exactly what it would be without the report.
 */
export function reportFirstInstruction(vcpu: Vcpu, out: NodeJS.WritableStream = process.stderr): void {
  const target = vcpu as { run: Vcpu['run'] };
  const own = Object.prototype.hasOwnProperty.call(target, 'run');
  const original = target.run;
  target.run = function firstRun(this: Vcpu) {
    const ms = performance.now();
    const cpu = process.cpuUsage();
    if (own) target.run = original;
    else delete (target as { run?: unknown }).run;
    out.write(`${FIRST_INSTRUCTION_PREFIX}${ms.toFixed(3)} (cpu ms ${((cpu.user + cpu.system) / 1000).toFixed(3)})\n`);
    return original.call(vcpu);
  };
}
