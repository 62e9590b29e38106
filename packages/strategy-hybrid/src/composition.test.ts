/**
 * The composition rules (docs/strategies.md, "Composition rules"), each through the path a config
 * takes: `strategy: { base, <facet>: name }` → planStrategy (registries filled by the three
 * strategy packages) → assertComposable on a backend.
 */
import test from 'ava';
import {
  CompositionError, EVENT_CHANNELS, FACETS, FACET_NAMES, IN_KERNEL_PIT, STRATEGIES, assertComposable, createHyvisorContainer, planStrategy, validateConfig,
  type BackendInfo, type Capability, type CompositionMissing, type FacetName, type Strategy,
} from '@hyvisor/core';
import { registerHvmStrategies } from '@hyvisor/strategy-hvm';
import { registerPvStrategy } from '@hyvisor/strategy-pv';
import { registerHybridStrategy } from './strategies.js';

const KVM: Capability[] = ['guest-memory', 'readonly-memory', 'run-deadline', 'interrupt-injection', 'cpuid', 'msr', 'ioeventfd', 'in-kernel-irqchip', 'sync-regs'];

function backend(caps: Capability[] = KVM, name = 'kvm'): BackendInfo {
  return { name, flavour: name === 'kvm' ? 'kvm_pvm' : name, description: 'test', capabilities: new Set(caps), tscKhz: 2_000_000, details: {} };
}

const container = createHyvisorContainer();
registerHybridStrategy(container); // first, so provide() must tolerate the HVM and PV packages registering the same facets
registerHvmStrategies(container);
registerPvStrategy(container);

/** Compares `CompositionError.missing` with `expect` (service tokens by id, providers as `kind:name`); throws if they differ. */
function t2(missing: readonly CompositionMissing[], expect: readonly Record<string, unknown>[]): void {
  const plain = missing.map((m) => m.kind === 'service'
    ? { ...m, service: m.service.id, providers: m.providers.map((p) => `${p.facet}:${p.implementation}`) }
    : { ...m });
  if (JSON.stringify(plain) !== JSON.stringify(expect)) throw new Error(`missing: ${JSON.stringify(plain)}, expected ${JSON.stringify(expect)}`);
}

/** The strategy a config's `strategy:` mapping composes, on `b`. */
function compose(strategy: Record<string, unknown>, b: BackendInfo = backend()): Strategy {
  const config = validateConfig({ strategy, guest: { kernel: '/k.elf' } });
  return planStrategy(config.strategy, container.resolve(STRATEGIES), container.resolve(FACETS)).create(b);
}

function accepted(title: string, strategy: Record<string, unknown>, expect: Partial<Record<FacetName, string>>, b?: BackendInfo): void {
  test(`accepted: ${title}`, (t) => {
    const s = compose(strategy, b);
    t.notThrows(() => assertComposable(s, b ?? backend(), { facets: container.resolve(FACETS) }));
    for (const k of FACET_NAMES) if (expect[k] !== undefined) t.is(s[k].name, expect[k], k);
  });
}

function refused(title: string, strategy: Record<string, unknown>, message: RegExp, b?: BackendInfo, check?: (err: CompositionError) => void): void {
  test(`refused: ${title}`, (t) => {
    const err = t.throws(() => assertComposable(compose(strategy, b), b ?? backend(), { facets: container.resolve(FACETS) }), { instanceOf: CompositionError });
    t.regex(err!.message, message);
    check?.(err!);
  });
}

test('the three packages register the twelve facets, each under its kind', (t) => {
  const facets = container.resolve(FACETS);
  t.deepEqual(Object.fromEntries(FACET_NAMES.map((k) => [k, facets.names(k)])), {
    cpu: ['native', 'pv-syscall'],
    memory: ['direct-paging', 'hardware-paging'],
    interrupt: ['emulated-pic-apic', 'event-channel', 'kvm-irqchip'],
    timer: ['emulated-pit', 'kvm-pit', 'pvclock'],
    io: ['emulated-ata', 'pv-blk'],
  });
});

// Rule 1: pvclock delivers its ticks as event-channel events (it needs EVENT_CHANNELS).
refused('{ base: hvm, timer: pvclock } (rule 1: pvclock needs event-channel delivery)', { base: 'hvm', timer: 'pvclock' },
  /timer facet 'pvclock' needs service 'event-channel delivery', which no facet of this strategy provides; it is provided by interrupt facet 'event-channel'/,
  undefined, (err) => t2(err.missing, [{ kind: 'service', facet: 'timer', implementation: 'pvclock', service: EVENT_CHANNELS.id, providers: ['interrupt:event-channel'] }]));
accepted('{ base: hvm-userspace, interrupt: event-channel, timer: pvclock }', { base: 'hvm-userspace', interrupt: 'event-channel', timer: 'pvclock' }, { timer: 'pvclock', io: 'emulated-ata' });

// Rule 2: the PV block ring signals completions as event-channel events (it needs EVENT_CHANNELS).
refused('{ base: hybrid, interrupt: emulated-pic-apic } (rules 1 and 2: pvclock and pv-blk need event-channel delivery)', { base: 'hybrid', interrupt: 'emulated-pic-apic' },
  /timer facet 'pvclock' needs service 'event-channel delivery'.*; io facet 'pv-blk' needs service 'event-channel delivery'/);
refused('{ base: hvm-userspace, io: pv-blk } (rule 2)', { base: 'hvm-userspace', io: 'pv-blk' }, /io facet 'pv-blk' needs service 'event-channel delivery', which no facet of this strategy provides; it is provided by interrupt facet 'event-channel'/);
accepted('{ base: hvm-userspace, interrupt: event-channel, io: pv-blk }', { base: 'hvm-userspace', interrupt: 'event-channel', io: 'pv-blk' }, { io: 'pv-blk', timer: 'emulated-pit' });

// Rule 3: no userspace PIT next to the in-kernel one (emulated-pit excludes IN_KERNEL_PIT).
refused('{ base: hvm, timer: emulated-pit } (rule 3: not with the in-kernel PIT)', { base: 'hvm', timer: 'emulated-pit' },
  /timer facet 'emulated-pit' cannot share a machine with the in-kernel PIT .*, which interrupt facet 'kvm-irqchip' provides/,
  undefined, (err) => {
    if (err.conflicts.length !== 1 || err.conflicts[0]!.kind !== 'excludes' || err.conflicts[0]!.service !== IN_KERNEL_PIT) throw new Error(`conflicts: ${JSON.stringify(err.conflicts)}`);
  });
accepted('{ base: hybrid, timer: emulated-pit } (IRQ 0 arrives as an event)', { base: 'hybrid', timer: 'emulated-pit' }, { interrupt: 'event-channel', timer: 'emulated-pit' });
accepted('{ base: pv, timer: emulated-pit }', { base: 'pv', timer: 'emulated-pit' }, { timer: 'emulated-pit' });

// Rule 4: the in-kernel PIT comes with the in-kernel irqchip (kvm-pit needs IN_KERNEL_PIT).
refused('{ base: hvm-userspace, timer: kvm-pit } (rule 4: kvm-pit needs the in-kernel PIT)', { base: 'hvm-userspace', timer: 'kvm-pit' },
  /timer facet 'kvm-pit' needs service 'in-kernel PIT .*', which no facet of this strategy provides; it is provided by interrupt facet 'kvm-irqchip'/);
refused('{ base: hybrid, timer: kvm-pit } (rule 4)', { base: 'hybrid', timer: 'kvm-pit' }, /timer facet 'kvm-pit' needs service 'in-kernel PIT/);
accepted('{ base: hvm-userspace, interrupt: kvm-irqchip, timer: kvm-pit }', { base: 'hvm-userspace', interrupt: 'kvm-irqchip', timer: 'kvm-pit' }, { interrupt: 'kvm-irqchip' });

// Rule 5: capabilities.
refused('{ base: hvm-userspace, interrupt: kvm-irqchip, timer: kvm-pit } on a backend without an in-kernel irqchip (rule 5)',
  { base: 'hvm-userspace', interrupt: 'kvm-irqchip', timer: 'kvm-pit' },
  /cannot run on backend emu .*interrupt facet 'kvm-irqchip' needs capability 'in-kernel-irqchip'; timer facet 'kvm-pit' needs capability 'in-kernel-irqchip'/,
  backend(KVM.filter((c) => c !== 'in-kernel-irqchip' && c !== 'ioeventfd'), 'emu'),
  (err) => t2(err.missing, [
    { kind: 'capability', facet: 'interrupt', implementation: 'kvm-irqchip', capability: 'in-kernel-irqchip' },
    { kind: 'capability', facet: 'timer', implementation: 'kvm-pit', capability: 'in-kernel-irqchip' },
  ]));
refused('{ base: hybrid, memory: direct-paging } without read-only memory (rule 5)', { base: 'hybrid', memory: 'direct-paging' },
  /memory facet 'direct-paging' needs capability 'readonly-memory'/, backend(KVM.filter((c) => c !== 'readonly-memory')));
refused('{ base: hvm-userspace, interrupt: event-channel } without interrupt injection (rule 5)', { base: 'hvm-userspace', interrupt: 'event-channel' },
  /interrupt facet 'event-channel' needs capability 'interrupt-injection'/, backend(KVM.filter((c) => c !== 'interrupt-injection')));
refused('{ base: hvm-userspace, interrupt: event-channel, timer: pvclock } without MSRs (rule 5)', { base: 'hvm-userspace', interrupt: 'event-channel', timer: 'pvclock' },
  /timer facet 'pvclock' needs capability 'msr'/, backend(KVM.filter((c) => c !== 'msr')));

// Free combinations: the guest picks each facet's PV or native path from its own feature bit.
accepted('{ base: pv, memory: hardware-paging }', { base: 'pv', memory: 'hardware-paging' }, { cpu: 'pv-syscall', memory: 'hardware-paging' });
accepted('{ base: pv, cpu: native }', { base: 'pv', cpu: 'native' }, { cpu: 'native', memory: 'direct-paging' });
accepted('{ base: hybrid, cpu: pv-syscall, memory: direct-paging } (= pv)', { base: 'hybrid', cpu: 'pv-syscall', memory: 'direct-paging' }, { cpu: 'pv-syscall', memory: 'direct-paging' });
accepted('{ base: pv, io: emulated-ata } (IRQ 14 arrives as an event)', { base: 'pv', io: 'emulated-ata' }, { io: 'emulated-ata' });
accepted('{ base: hvm, cpu: pv-syscall }', { base: 'hvm', cpu: 'pv-syscall' }, { interrupt: 'kvm-irqchip', cpu: 'pv-syscall' });

test('a replaced facet advertises its feature bit and the others keep theirs', (t) => {
  const s = compose({ base: 'pv', memory: 'hardware-paging' });
  t.is(s.name, 'pv+memory=hardware-paging');
  t.is(s.memory.featureBits, 0);
  t.not(s.cpu.featureBits, 0);
});
