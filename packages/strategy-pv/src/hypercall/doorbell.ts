/**
 * The hypercall transport of the PV ABI: a port-I/O doorbell. The guest kernel puts the number in
 * EAX, the arguments in RDI, RSI, R10, R8, R9 and executes `outl %eax, (%dx)` with DX =
 * `Ports.HYPERCALL`; the VMM reads the arguments from the vCPU's registers (synced with the exit,
 * no extra system call), routes the call through the machine's {@link HypercallTable} and writes
 * the result into RAX before the guest resumes. It works on every backend (`vmcall` hangs at
 * ring 0 on kvm_pvm). See docs/pv-abi.md, "Transport".
 * @module
 */
import {
  CoreCounter, Hypercall, HypercallError, Ports, WiringError,
  type Counters, type HypercallArgs, type HypercallTable, type MachineContext, type PioDevice, type TelemetryHub, type Vcpu,
} from '@hyvisor/core';

/** Telemetry counter name of hypercall `name` (lower case, e.g. `pv.hypercall.mmu_update`). */
export function hypercallCounterName(name: string): string {
  return `pv.hypercall.${name.toLowerCase()}`;
}

/** The doorbell device on `Ports.HYPERCALL`. One per machine; see {@link ensureDoorbell}. */
export class HypercallDoorbell implements PioDevice {
  /** Reused for every call: the table's handlers must not keep it. */
  private readonly args: HypercallArgs = { vcpu: 0, a0: 0, a1: 0, a2: 0, a3: 0, a4: 0, a5: 0 };
  /** Hypercall number → counter slot. */
  private readonly slots = new Int32Array(256);
  private readonly badAccessSlot: number;
  private readonly userSlot: number;
  private readonly handlerErrorSlot: number;
  private readonly onHandlerError: (nr: number, err: unknown) => void;

  constructor(
    private readonly vcpu: Vcpu,
    private readonly table: HypercallTable,
    private readonly counters: Counters,
    telemetry?: TelemetryHub,
  ) {
    const unknown = counters.define(hypercallCounterName('unknown'), 'hypercalls with a number the PV ABI does not define');
    this.slots.fill(unknown);
    for (const [name, nr] of Object.entries(Hypercall)) {
      if (name === 'MMU_UPDATE_MAX') continue;
      this.slots[nr] = counters.define(hypercallCounterName(name), `${name} hypercalls`);
    }
    this.badAccessSlot = counters.define('pv.doorbell.bad_access', 'doorbell accesses that are not a 32-bit write (ignored)');
    this.userSlot = counters.define('pv.hypercall.from_user', 'hypercalls made from user mode (CPL 3), refused with -EPERM');
    this.handlerErrorSlot = counters.define('pv.hypercall.handler_errors', 'hypercall handlers that threw (a VMM bug; the guest got -EINVAL)');
    this.onHandlerError = (nr, err) => {
      this.counters.values[this.handlerErrorSlot]!++;
      telemetry?.emit({ type: 'error', time: Date.now(), message: `hypercall ${nr} handler failed: ${String(err)}` });
    };
  }

  /** True if the vCPU runs at CPL 3 (its CS selector's RPL). */
  private fromUser(): boolean {
    try {
      return (this.vcpu.getSpecialRegisters().cs.selector & 3) === 3;
    } catch {
      return false;
    }
  }

  /** Nothing to read: all ones, like an unowned port. */
  read(_offset: number, _size: number): number {
    this.counters.values[this.badAccessSlot]!++;
    return 0xffffffff;
  }

  /** Hot path: one hypercall. No allocation. */
  write(offset: number, size: number, value: number): void {
    const v = this.counters.values;
    if (size !== 4 || offset !== 0) {
      v[this.badAccessSlot]!++;
      return;
    }
    const nr = value >>> 0;
    const vcpu = this.vcpu;
    const a = this.args;
    // Hypercalls are for the guest kernel: from user mode they get -EPERM, as on Xen. User code
    // reaches the port only with IOPL 3 (or a TSS I/O bitmap its kernel granted: that path is the
    // kernel's to keep closed, see docs/pv-abi.md), so the costly CPL read (an ioctl on KVM) runs
    // only then.
    if ((vcpu.readRegister('rflags') & 0x3000) === 0x3000 && this.fromUser()) {
      vcpu.writeRegister('rax', HypercallError.EPERM);
      v[this.userSlot]!++;
      v[CoreCounter.Hypercalls]!++;
      v[CoreCounter.HypercallErrors]!++;
      return;
    }
    a.a0 = vcpu.readRegister('rdi');
    a.a1 = vcpu.readRegister('rsi');
    a.a2 = vcpu.readRegister('r10');
    a.a3 = vcpu.readRegister('r8');
    a.a4 = vcpu.readRegister('r9');
    const result = this.table.call(nr, a, this.onHandlerError);
    vcpu.writeRegister('rax', result);
    // The handler may have defined counters (the array may have grown): read it again.
    const w = this.counters.values;
    w[CoreCounter.Hypercalls]!++;
    w[nr < 256 ? this.slots[nr]! : this.slots[0]!]!++;
    if (result < 0) w[CoreCounter.HypercallErrors]!++;
  }
}

/**
 * The machine's doorbell, installed on `Ports.HYPERCALL` by the first PV facet that attaches.
 * Throws {@link WiringError} if another device already owns the port.
 */
export function ensureDoorbell(ctx: MachineContext): HypercallDoorbell {
  const range = ctx.pio.find(Ports.HYPERCALL);
  if (range !== undefined) {
    if (range.device instanceof HypercallDoorbell) return range.device;
    throw new WiringError(`hypercall doorbell: port 0x${Ports.HYPERCALL.toString(16)} is already taken by ${range.name}`);
  }
  const vcpu = ctx.vcpus[0];
  if (vcpu === undefined) throw new WiringError('hypercall doorbell: the machine has no vCPU yet; attach facets after creating vCPUs');
  const doorbell = new HypercallDoorbell(vcpu, ctx.hypercalls, ctx.telemetry.counters, ctx.telemetry);
  ctx.pio.register('hypercall-doorbell', Ports.HYPERCALL, 1, doorbell);
  return doorbell;
}
